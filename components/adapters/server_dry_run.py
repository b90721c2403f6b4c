"""`fluxboot validate --server`: what a cluster's API server says about each object, changing nothing.

Every object is sent as kustomize-controller sends it, a server-side apply
(https://kubernetes.io/docs/reference/using-api/server-side-apply/), with `dryRun=All` so nothing
is stored, `force=true` so fields other managers own do not count as conflicts, and
`fieldValidation=Strict` so an unknown or duplicate field is an error, as the offline check
reports it. The API server then runs everything it runs on a real apply: defaulting, the CRD's
schema and CEL rules (transition rules too, against the stored object, which the offline check
cannot), built-in validation and admission. An object the server cannot judge is a warning, not
an error: its namespace does not exist yet, or the cluster serves no such kind yet (a CRD the
same apply would create); the API server would decide only once those exist.

Uses the official client (`kubernetes`) with the kubeconfig and context `fluxboot status` takes.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from components.common.errors import FluxGitopsError

FIELD_MANAGER = "fluxboot"
_TIMEOUT = 30


class ServerError(FluxGitopsError):
    """The API server cannot be reached, or refuses this user (not: refuses an object)."""


@dataclass(frozen=True)
class Answer:
    """The API server's answer about one object: accepted, refused (why), or not judged (why)."""

    verdict: Literal["accepted", "refused", "not judged"]
    message: str = ""


def _status_message(status: Any, fallback: str) -> str:
    """One line from a metav1.Status: its causes (`field: message`), else its message."""
    if not isinstance(status, Mapping):
        return fallback
    causes = (status.get("details") or {}).get("causes") or []
    parts = []
    for cause in causes:
        if not isinstance(cause, Mapping):
            continue
        text = str(cause.get("message") or cause.get("reason") or "").strip()
        where = str(cause.get("field") or "").strip()
        if text:
            parts.append(f"{where}: {text}" if where and not text.startswith(where) else text)
    if parts:
        return "; ".join(parts)
    return " ".join(str(status.get("message") or fallback).split())


class ServerDryRun:
    """Dry-runs objects against one API server; learns each API group's resources once."""

    def __init__(self, api_client: Any) -> None:
        self._api = api_client
        # "group/version" -> {kind: (plural, namespaced)}, or None when the server has no such API
        self._resources: dict[str, dict[str, tuple[str, bool]] | None] = {}
        self._namespaces: dict[str, bool] = {}

    def _request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> tuple[int, Any]:
        from urllib3.exceptions import HTTPError, InsecureRequestWarning

        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        request = self._api.param_serialize(
            method,
            path,
            query_params=list(query or []),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            # insecure-skip-tls-verify is the kubeconfig's choice; kubectl does not warn about it
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InsecureRequestWarning)
                response = self._api.call_api(*request, _request_timeout=_TIMEOUT)
                response.read()
        except HTTPError as err:
            raise ServerError(f"cannot reach the API server: {err}") from None
        try:
            data = json.loads(response.data or b"null")
        except ValueError:
            data = None
        if response.status == 401:
            raise ServerError(
                f"the API server refused the credentials: {_status_message(data, 'Unauthorized')}"
            )
        return int(response.status), data

    def _kinds(self, api_version: str) -> dict[str, tuple[str, bool]] | None:
        if api_version not in self._resources:
            path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            status, data = self._request("GET", path)
            found: dict[str, tuple[str, bool]] | None = None
            if status == 200 and isinstance(data, Mapping):
                found = {}
                for r in data.get("resources") or []:
                    if isinstance(r, Mapping) and "/" not in str(r.get("name")):
                        found[str(r.get("kind"))] = (str(r["name"]), bool(r.get("namespaced")))
            elif status != 404:
                raise ServerError(
                    f"discovery of {api_version}: {status} {_status_message(data, '')}".rstrip()
                )
            self._resources[api_version] = found
        return self._resources[api_version]

    def _namespace_exists(self, name: str) -> bool:
        if name not in self._namespaces:
            status, data = self._request("GET", f"/api/v1/namespaces/{name}")
            if status not in (200, 404):
                raise ServerError(
                    f"reading namespace {name}: {status} {_status_message(data, '')}".rstrip()
                )
            self._namespaces[name] = status == 200
        return self._namespaces[name]

    def answer(self, obj: Mapping[str, Any], default_namespace: str = "default") -> Answer:
        """Server-side apply `obj` with dryRun=All and say what the API server answered."""
        api_version, kind = str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
        assert isinstance(meta, Mapping)
        name = str(meta.get("name") or "")
        if not api_version or not kind or not name:
            return Answer("refused", "apiVersion, kind and metadata.name are required")
        kinds = self._kinds(api_version)
        if kinds is None or kind not in kinds:
            return Answer("not judged", f"the cluster serves no {api_version} {kind} (yet)")
        plural, namespaced = kinds[kind]
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        if namespaced:
            namespace = str(meta.get("namespace") or default_namespace)
            if not self._namespace_exists(namespace):
                return Answer("not judged", f"namespace {namespace} does not exist on the cluster")
            path = f"{base}/namespaces/{namespace}/{plural}/{name}"
        else:
            path = f"{base}/{plural}/{name}"
        status, data = self._request(
            "PATCH",
            path,
            query=[
                ("dryRun", "All"),
                ("fieldManager", FIELD_MANAGER),
                ("force", "true"),
                ("fieldValidation", "Strict"),
            ],
            body=dict(obj),
            content_type="application/apply-patch+yaml",
        )
        if 200 <= status < 300:
            return Answer("accepted")
        return Answer("refused", _status_message(data, f"HTTP {status}"))
