"""The offline CEL verdict equals kube-apiserver 1.34's, object by object (tests/cel_corpus.py).

For each supported Flux release the CRDs are installed on a real API server (a control plane per
release: their CRDs share names), and every
corpus object is checked offline (`crds.CrdSchemas.check`) and dry-run on the server
(`server_dry_run.ServerDryRun`, the code `fluxboot validate --server` uses). Any object on which
the two disagree fails the test, listed with both answers. The hand-written Widget CRD does the
same for the parts of Kubernetes' CEL the Flux rules do not use, and shows the two things the
offline check leaves to the server: transition rules on update, and functions it lacks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.adapters.server_dry_run import ServerDryRun
from components.flux_release.crds import CrdSchemas, for_manifest
from tests import cel_corpus
from tests.e2e.control_plane import LocalControlPlane
from tests.flux_testdata import install_objects, manifest

pytestmark = pytest.mark.integration
RELEASES = ("v2.7.5", "v2.8.8", "v2.9.4")


def _install(api: Any, crds: list[dict[str, Any]]) -> None:
    from kubernetes import client

    ext = client.ApiextensionsV1Api(api)
    for crd in crds:
        ext.create_custom_resource_definition(crd)
    deadline = time.monotonic() + 60
    for crd in crds:
        while True:
            got = ext.read_custom_resource_definition(crd["metadata"]["name"])
            if any(
                c.type == "Established" and c.status == "True"
                for c in (got.status.conditions or [])
            ):
                break
            assert time.monotonic() < deadline, f"{crd['metadata']['name']} not established"
            time.sleep(0.1)


def _namespace(api: Any) -> None:
    from kubernetes import client

    client.CoreV1Api(api).create_namespace({"metadata": {"name": cel_corpus.NS}})


@pytest.fixture(scope="module")
def api(apiserver: LocalControlPlane) -> Iterator[Any]:
    """The module's control plane, with the corpus namespace (for the Widget CRDs)."""
    api_client = apiserver.client()
    _namespace(api_client)
    yield api_client
    api_client.close()


@pytest.fixture(scope="module", params=RELEASES)
def release(
    request: pytest.FixtureRequest, toolchain_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Any]]:
    """A control plane of its own with the CRDs of one Flux release.

    Not the module's: the releases' CRDs share names, and deleting CRDs waits on the API server's
    watch cache for as long as it likes; a fresh control plane starts in seconds.
    """
    version: str = request.param
    crds = [d for d in install_objects(version) if d.get("kind") == "CustomResourceDefinition"]
    with LocalControlPlane(
        bin_dir=toolchain_bin, workdir=tmp_path_factory.mktemp(f"control-plane-{version}")
    ) as plane:
        api_client = plane.client()
        _namespace(api_client)
        _install(api_client, crds)
        yield version, api_client
        api_client.close()


def _offline(schemas: CrdSchemas, case: cel_corpus.Case) -> tuple[list[str], list[str]]:
    verdict = schemas.check(case.obj)
    meta = case.obj["metadata"]
    prefix = f"{case.obj['kind']} {meta['namespace']}/{meta['name']}: "
    return [e.removeprefix(prefix) for e in verdict.errors], list(verdict.unchecked)


def _compare(
    schemas: CrdSchemas, server: ServerDryRun, cases: list[cel_corpus.Case]
) -> tuple[int, list[str]]:
    """(objects compared, one line per disagreement or broken expectation)."""
    problems: list[str] = []
    for case in cases:
        errors, unchecked = _offline(schemas, case)
        answer = server.answer(case.obj)
        assert answer.verdict != "not judged", f"{case.name}: {answer.message}"
        server_valid = answer.verdict == "accepted"
        if (not errors) != server_valid:
            problems.append(
                f"{case.name}: offline {errors or 'accepts'}, "
                f"API server {'accepts' if server_valid else answer.message!r}"
            )
            continue
        if tuple(errors) != case.fails:
            problems.append(f"{case.name}: offline says {errors}, the corpus {list(case.fails)}")
        # a refused object is refused for the rule the case names, on the server too (an
        # offline message is `path: message`, or the message alone for a rule at the root)
        for expected in case.fails:
            rule_message = expected.split(": ", 1)[-1]
            if rule_message not in answer.message:
                problems.append(f"{case.name}: the API server says {answer.message!r}")
        if len(unchecked) != len(case.unchecked) or not all(
            any(rule in note for note in unchecked) for rule in case.unchecked
        ):
            problems.append(f"{case.name}: offline notes {unchecked}, expected {case.unchecked}")
    return len(cases), problems


def test_flux_rules_offline_verdict_equals_the_api_server(release: tuple[str, Any]) -> None:
    release, api = release
    cases = cel_corpus.flux_cases(release)
    schemas = for_manifest(manifest(release))
    # every rule of the release has a breaking and a satisfying object
    covered = {(c.rule, c.valid) for c in cases}
    for rule in cel_corpus.flux_rules(release):
        ident = (rule.kind, rule.version, rule.where, rule.rule)
        assert (ident, False) in covered and (ident, True) in covered, ident
    compared, problems = _compare(schemas, ServerDryRun(api), cases)
    assert not problems, f"{len(problems)} of {compared} objects:\n" + "\n".join(problems)


@pytest.fixture(scope="module")
def widgets(api: Any) -> CrdSchemas:
    crd = cel_corpus.widget_crd()
    _install(api, [crd])
    return CrdSchemas.from_documents([crd])


def test_kubernetes_cel_offline_verdict_equals_the_api_server(
    widgets: CrdSchemas, api: Any
) -> None:
    compared, problems = _compare(widgets, ServerDryRun(api), cel_corpus.widget_cases())
    assert not problems, f"{len(problems)} of {compared} objects:\n" + "\n".join(problems)


def test_a_transition_rule_is_judged_by_the_server_on_update(widgets: CrdSchemas, api: Any) -> None:
    from kubernetes import client

    first = cel_corpus.widget("w-frozen", frozen="v1")
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        cel_corpus.WIDGET_GROUP, "v1", cel_corpus.NS, "widgets", first
    )
    changed = cel_corpus.widget("w-frozen", frozen="v2")
    errors, unchecked = _offline(widgets, cel_corpus.Case("frozen", changed))
    assert errors == []
    assert any("transition rule" in note and "self == oldSelf" in note for note in unchecked)
    answer = ServerDryRun(api).answer(changed)
    assert answer.verdict == "refused"
    assert "frozen is immutable" in answer.message
    assert ServerDryRun(api).answer(first).verdict == "accepted"


def test_a_rule_not_checked_offline_is_left_to_the_server(api: Any) -> None:
    crd = cel_corpus.widget_crd()
    crd["metadata"]["name"] = f"gadgets.{cel_corpus.WIDGET_GROUP}"
    names = crd["spec"]["names"]
    names.update(kind="Gadget", listKind="GadgetList", plural="gadgets")
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    del schema["x-kubernetes-validations"]  # the Widget's root rule wants kind Widget
    spec = schema["properties"]["spec"]
    spec["properties"]["url"] = {"type": "string"}
    spec["x-kubernetes-validations"].append(
        {"rule": "!has(self.url) || isURL(self.url)", "message": "url must be a URL"}
    )
    _install(api, [crd])
    schemas = CrdSchemas.from_documents([crd])
    server = ServerDryRun(api)
    for url, accepted in (("https://example.com/x", True), ("not a url", False)):
        obj = {**cel_corpus.widget(url=url), "kind": "Gadget"}
        errors, unchecked = _offline(schemas, cel_corpus.Case("gadget", obj))
        assert errors == []
        assert len(unchecked) == 1 and "isURL" in unchecked[0], unchecked
        assert "not checked offline" in unchecked[0]
        assert (server.answer(obj).verdict == "accepted") is accepted
