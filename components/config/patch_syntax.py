"""What a kustomize patch and its target must look like, before anything is patched. Pure.

The config layer checks each `flux.patches` entry with these rules, so a patch that kustomize
(and so Flux, building `clusters/<c>/flux-system`) would refuse is refused at config time with
its key named, before it is committed; `components.flux_release.kustomize_patches` applies what passes.
The rules are kustomize v5's (kubernetes-sigs/kustomize `api/internal/builtins/PatchTransformer`,
`api/types/selector.go`), as `kubectl kustomize` answers them:

- the text is YAML: one list of JSON 6902 operations (which needs a `target`), or one or more
  strategic merge patches, each a map with `kind` and `metadata.name` (without a `target`, also
  `apiVersion`, since the patch then selects the object by them);
- each JSON 6902 operation is a map with a known `op` and a JSON pointer `path`; add, replace and
  test need a `value`, move and copy a `from` pointer;
- a target's group, version, kind, name and namespace are regular expressions; its label and
  annotation selectors are Kubernetes selectors over qualified-name keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from components.common import yamlio
from components.common.errors import quote
from components.common.k8s_names import is_qualified_name

JSON6902_OPS = frozenset({"add", "remove", "replace", "move", "copy", "test"})


@dataclass(frozen=True)
class ParsedPatch:
    """A patch's documents, and which kind of patch they make."""

    kind: Literal["json6902", "strategic"]
    # json6902: one list of operations; strategic: the patch maps
    documents: list[Any]


def parse_patch(text: str, has_target: bool) -> ParsedPatch:
    """The patch in `text`; raises ValueError saying what is wrong with it."""
    try:
        docs = yamlio.load_all(text)
    except yaml.YAMLError as err:
        raise ValueError(f"is not YAML: {yamlio.one_line(err)}") from None
    if not docs:
        raise ValueError("is empty")
    if any(isinstance(d, list) for d in docs):
        if len(docs) != 1:
            raise ValueError("a JSON 6902 patch is one list of operations, in one document")
        ops = docs[0]
        if not ops:
            raise ValueError("is an empty list: neither a strategic merge nor a JSON 6902 patch")
        if not has_target:
            raise ValueError("a JSON 6902 patch needs a target")
        for n, op in enumerate(ops):
            problem = json6902_problem(op)
            if problem:
                raise ValueError(f"operation {n}: {problem}")
        return ParsedPatch("json6902", [ops])
    for n, doc in enumerate(docs):
        where = f"document {n}: " if len(docs) > 1 else ""
        if not isinstance(doc, dict):
            raise ValueError(
                f"{where}is neither a strategic merge patch (a map) nor a JSON 6902 list"
            )
        meta = doc.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(doc.get("kind"), str) or not isinstance(name, str) or not name:
            raise ValueError(
                f"{where}a strategic merge patch needs kind and metadata.name "
                "(with a target, any name: kustomize matches by the target)"
            )
        if not has_target and not isinstance(doc.get("apiVersion"), str):
            raise ValueError(
                f"{where}without a target, the patch needs apiVersion (it selects the object "
                "by apiVersion, kind, name and namespace)"
            )
    return ParsedPatch("strategic", docs)


def _is_pointer(value: Any) -> bool:
    return isinstance(value, str) and (value == "" or value.startswith("/"))


def json6902_problem(op: Any) -> str | None:
    """What is wrong with one JSON 6902 operation (RFC 6902), or None."""
    if not isinstance(op, dict):
        return "is not a map with op and path"
    kind = op.get("op")
    if kind not in JSON6902_OPS:
        return f"op must be one of {', '.join(sorted(JSON6902_OPS))}"
    if not _is_pointer(op.get("path")):
        return "path must be a JSON pointer (RFC 6901), like /spec/replicas"
    if kind in ("add", "replace", "test") and "value" not in op:
        return f"{kind} needs a value"
    if kind in ("move", "copy") and not _is_pointer(op.get("from")):
        return f"{kind} needs from, a JSON pointer"
    return None


# ------------------------------------------------------------------------------------ targets


@dataclass(frozen=True)
class Requirement:
    """One requirement of a Kubernetes label selector."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        return not present or value not in self.values  # "!=", "notin"


_SET_REQ = re.compile(r"\s*([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)\s*")
_EQ_REQ = re.compile(r"\s*([^\s!=(),]+)\s*(==|!=|=)\s*([^\s,]*)\s*")
_EXISTS_REQ = re.compile(r"\s*(!?)\s*([^\s!=(),]+)\s*")


def parse_selector(text: str) -> list[Requirement]:
    """A Kubernetes label selector (`a=b,c!=d,e in (f,g),h,!i`) as requirements.

    Raises ValueError for text that is no selector, or a key that is no qualified name.
    """
    reqs: list[Requirement] = []
    rest = text.strip()
    while rest:
        if m := _SET_REQ.match(rest):
            values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            reqs.append(Requirement(m.group(1), m.group(2), values))
        elif m := _EQ_REQ.match(rest):
            reqs.append(Requirement(m.group(1), "!=" if m.group(2) == "!=" else "=", (m.group(3),)))
        elif m := _EXISTS_REQ.match(rest):
            reqs.append(Requirement(m.group(2), "!" if m.group(1) else "exists"))
        else:
            raise ValueError(f"cannot parse selector {quote(text)} at {quote(rest)}")
        rest = rest[m.end() :]
        if rest.startswith(","):
            rest = rest[1:]
        elif rest:
            raise ValueError(f"cannot parse selector {quote(text)} at {quote(rest)}")
    for req in reqs:
        if not is_qualified_name(req.key):
            raise ValueError(f"selector key {quote(req.key)} is not a qualified name")
    return reqs


def regex_problem(pattern: str) -> str | None:
    """Why a target's regular expression does not compile, or None."""
    try:
        re.compile(pattern)
    except re.error as err:
        return f"is not a regular expression: {err}"
    return None
