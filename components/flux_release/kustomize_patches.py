"""The `patches:` of a kustomization.yaml, applied in Python as `kustomize build` applies them.

Pure functions, no I/O. What Pulumi applies must be what `kubectl kustomize
clusters/<c>/flux-system` (and so Flux itself) builds, so the behaviour follows kustomize v5
(kubernetes-sigs/kustomize `api/filters/patchstrategicmerge`, `patchjson6902`, `types/selector.go`)
as checked against `kubectl kustomize` in tests/flux_release/test_bootstrap.py:

- A patch is a JSON 6902 patch when its YAML is a list of operations, else a strategic merge
  patch (one or more documents). A JSON 6902 patch needs a `target`.
- Targets: `group`, `version`, `kind`, `name`, `namespace` are anchored regular expressions;
  `labelSelector` / `annotationSelector` are Kubernetes selectors. A strategic merge patch
  without a target patches the object with its apiVersion, kind, name and namespace (an empty
  namespace means `default`), and it is an error when there is none.
- Strategic merge: maps merge key by key, `null` deletes a key, `$patch: replace` replaces a map,
  `$patch: delete` deletes a map, a list element or (at the top) the whole object. Lists with a
  Kubernetes `patchMergeKey` (containers, env, volumes, ports, volumeMounts, imagePullSecrets, ...
  of the built-in workload kinds) merge by that key: the patch's elements first, in its order,
  then the original elements it does not name. Ports are keyed by number and protocol; a port
  patched without its protocol is left as it was, the patch element ignored (as kustomize v5).
  Every other list is replaced, as kustomize does for lists without a merge key (tolerations,
  args) and for custom resources.
- JSON 6902: add, remove, replace, move, copy, test, with RFC 6901 pointers; as in kustomize,
  `replace` of a missing map key adds it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from components.common.errors import FluxGitopsError, quote
from components.common.plain import copy_tree
from components.config.model import Patch, PatchTarget
from components.config.patch_syntax import parse_patch, parse_selector

__all__ = ["PatchError", "apply_patches", "json6902", "parse_selector", "strategic_merge"]

Obj = dict[str, Any]


class PatchError(FluxGitopsError):
    """A patch of `flux.patches` that cannot be parsed or applied.

    `index` is the patch's position in `flux.patches` and `detail` what is wrong, without the
    key, so a caller can name the file and key the patch came from.
    """

    index: int | None = None
    detail: str = ""


# --------------------------------------------------------------------- strategic merge schema
# Field -> ("list", merge key, element schema) | ("set",) | ("map", schema). Only the fields with
# a Kubernetes patch strategy are listed; everything else merges as a map or replaces as a list.
_Schema = dict[str, tuple[Any, ...]]
_META: _Schema = {"finalizers": ("set",), "ownerReferences": ("list", "uid", {})}
_CONTAINER: _Schema = {
    "env": ("list", "name", {}),
    "ports": ("list", "containerPort", {}),
    "volumeMounts": ("list", "mountPath", {}),
    "volumeDevices": ("list", "devicePath", {}),
}
_POD_SPEC: _Schema = {
    "containers": ("list", "name", _CONTAINER),
    "initContainers": ("list", "name", _CONTAINER),
    "ephemeralContainers": ("list", "name", _CONTAINER),
    "volumes": ("list", "name", {}),
    "imagePullSecrets": ("list", "name", {}),
    "hostAliases": ("list", "ip", {}),
    "topologySpreadConstraints": ("list", "topologyKey", {}),
    "schedulingGates": ("list", "name", {}),
    "resourceClaims": ("list", "name", {}),
}
_POD_TEMPLATE: _Schema = {"metadata": ("map", _META), "spec": ("map", _POD_SPEC)}
_WORKLOAD: _Schema = {
    "metadata": ("map", _META),
    "spec": ("map", {"template": ("map", _POD_TEMPLATE)}),
}
_SCHEMAS: dict[tuple[str, str], _Schema] = {
    **{("apps", k): _WORKLOAD for k in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")},
    ("batch", "Job"): _WORKLOAD,
    ("batch", "CronJob"): {
        "metadata": ("map", _META),
        "spec": (
            "map",
            {"jobTemplate": ("map", {"spec": ("map", {"template": ("map", _POD_TEMPLATE)})})},
        ),
    },
    ("", "Pod"): {"metadata": ("map", _META), "spec": ("map", _POD_SPEC)},
    ("", "Service"): {"metadata": ("map", _META), "spec": ("map", {"ports": ("list", "port", {})})},
    ("", "ServiceAccount"): {
        "metadata": ("map", _META),
        "secrets": ("list", "name", {}),
        "imagePullSecrets": ("list", "name", {}),
    },
}
_DEFAULT_SCHEMA: _Schema = {"metadata": ("map", _META)}


def _group_version(obj: Obj) -> tuple[str, str]:
    api = str(obj.get("apiVersion", ""))
    group, _, version = api.rpartition("/")
    return group, version


# -------------------------------------------------------------------------------- target match


def _regex_match(pattern: str | None, value: str) -> bool:
    if not pattern:
        return True
    return re.fullmatch(pattern, value) is not None


def target_matches(target: PatchTarget, obj: Obj) -> bool:
    """Whether an object is selected by a patch target, as kustomize's selector does."""
    group, version = _group_version(obj)
    meta = obj.get("metadata") or {}
    if not (
        _regex_match(target.group, group)
        and _regex_match(target.version, version)
        and _regex_match(target.kind, str(obj.get("kind", "")))
        and _regex_match(target.name, str(meta.get("name", "")))
        and _regex_match(target.namespace, str(meta.get("namespace") or ""))
    ):
        return False
    for selector, field in (
        (target.label_selector, "labels"),
        (target.annotation_selector, "annotations"),
    ):
        if selector:
            values = {str(k): str(v) for k, v in (meta.get(field) or {}).items()}
            if not all(r.matches(values) for r in parse_selector(selector)):
                return False
    return True


def _same_id(patch: Obj, obj: Obj) -> bool:
    """An untargeted strategic merge patch selects by apiVersion, kind, name and namespace."""
    pmeta, ometa = patch.get("metadata") or {}, obj.get("metadata") or {}
    return (
        _group_version(patch) == _group_version(obj)
        and patch.get("kind") == obj.get("kind")
        and pmeta.get("name") == ometa.get("name")
        and (pmeta.get("namespace") or "default") == (ometa.get("namespace") or "default")
    )


# ------------------------------------------------------------------------------------ applying


def apply_patches(
    objects: Sequence[Obj], patches: Sequence[Patch], key: str = "flux-gitops:flux.patches"
) -> list[Obj]:
    """The objects with every patch applied in order; the inputs are not modified."""
    result = [copy_tree(o) for o in objects]
    for i, patch in enumerate(patches):
        where = f"{key}[{i}]"
        try:
            result = _apply_one(result, patch, where)
        except PatchError as err:
            err.index = i
            err.detail = str(err).removeprefix(where).lstrip(": ")
            raise
    return result


def _apply_one(result: list[Obj], patch: Patch, where: str) -> list[Obj]:
    try:
        parsed = parse_patch(patch.patch, patch.target is not None)
    except ValueError as err:  # refused by the config layer already; kept for direct callers
        raise PatchError(f"{where}: patch {err}") from None
    if parsed.kind == "json6902":
        assert patch.target is not None  # parse_patch requires it
        for n, obj in enumerate(result):
            if target_matches(patch.target, obj):
                result[n] = json6902(obj, parsed.documents[0], where)
        return result
    for doc in parsed.documents:
        result = _apply_strategic(result, doc, patch.target, where)
    return result


def _apply_strategic(
    objects: list[Obj], patch: Obj, target: PatchTarget | None, where: str
) -> list[Obj]:
    if target is None:
        selected = [_same_id(patch, o) for o in objects]
        if not any(selected):
            meta = patch.get("metadata") or {}
            raise PatchError(
                f"{where}: no object is {patch.get('kind')} {meta.get('namespace') or 'default'}/"
                f"{meta.get('name')} ({patch.get('apiVersion')}); "
                "give the patch a namespace or a target"
            )
    else:
        selected = [target_matches(target, o) for o in objects]
    out: list[Obj] = []
    for obj, chosen in zip(objects, selected, strict=True):
        if not chosen:
            out.append(obj)
        elif patch.get("$patch") == "delete":
            continue
        else:
            out.append(strategic_merge(obj, patch, where))
    return out


def strategic_merge(obj: Obj, patch: Obj, where: str = "patch") -> Obj:
    """One object with a strategic merge patch applied (identity fields of the patch ignored)."""
    body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")}
    meta = dict(body.get("metadata") or {})
    meta.pop("name", None)
    meta.pop("namespace", None)
    if "metadata" in body:
        body["metadata"] = meta
    schema = _SCHEMAS.get((_group_version(obj)[0], str(obj.get("kind", ""))), _DEFAULT_SCHEMA)
    merged = _merge_map(copy_tree(obj), body, schema, where)
    return merged if merged is not None else {}


def _merge_map(original: Obj, patch: Obj, schema: _Schema, where: str) -> Obj | None:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        replaced: Obj = _strip({k: v for k, v in patch.items() if k != "$patch"})
        return replaced
    result = dict(original)
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # $setElementOrder, $retainKeys: ordering hints for the API server
        if value is None:
            result.pop(key, None)
            continue
        field = schema.get(key, ())
        current = result.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            sub = field[1] if field and field[0] == "map" else {}
            merged = _merge_map(current, value, sub, where)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, dict):
            if value.get("$patch") == "delete":
                result.pop(key, None)
            else:
                result[key] = _strip(value)
        elif isinstance(value, list) and isinstance(current, list) and field and field[0] == "list":
            result[key] = _merge_list(current, value, field[1], field[2], f"{where}: {key}")
        elif isinstance(value, list) and isinstance(current, list) and field and field[0] == "set":
            result[key] = [*value, *(v for v in current if v not in value)]
        else:
            result[key] = _strip(value)
    return result


def _merge_list(
    original: list[Any], patch: list[Any], merge_key: str, schema: _Schema, where: str
) -> list[Any]:
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [
            _strip(p) for p in patch if not (isinstance(p, dict) and p.get("$patch") == "replace")
        ]
    # Ports are keyed by (port, protocol) in the API's list-map-keys. kustomize v5 keeps an
    # original port unchanged when the patch names its number but not its protocol.
    second = "protocol" if merge_key in ("port", "containerPort") else None
    consumed: set[int] = set()
    out: list[Any] = []
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            raise PatchError(f"{where}: every element needs the merge key {merge_key!r}")
        index, exact = _find(original, item, merge_key, second)
        if not exact:
            continue  # the original stays where it is, unchanged
        if index is not None:
            consumed.add(index)
        if item.get("$patch") == "delete":
            continue
        if index is None:
            out.append(_strip(item))
        else:
            merged = _merge_map(original[index], item, schema, where)
            if merged is not None:
                out.append(merged)
    out.extend(o for i, o in enumerate(original) if i not in consumed)
    return out


def _find(
    original: list[Any], item: Obj, merge_key: str, second: str | None
) -> tuple[int | None, bool]:
    """(index of the original element the patch element names, whether it names it fully)."""
    same = [
        i
        for i, o in enumerate(original)
        if isinstance(o, dict) and o.get(merge_key) == item[merge_key]
    ]
    if second is None:
        return (same[0], True) if same else (None, True)
    if second not in item:
        return (same[0], False) if same else (None, True)
    for i in same:
        if original[i].get(second) == item[second]:
            return i, True
    return None, True


def _strip(value: Any) -> Any:
    """A patch value without directives, as it lands where nothing was to merge with."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


# ---------------------------------------------------------------------------------- JSON 6902


def _pointer(path: str, where: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"{where}: {quote(path)} is not a JSON pointer (RFC 6901)")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, where: str, *, insert: bool = False) -> int:
    if insert and token == "-":
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise PatchError(f"{where}: {quote(token)} is not an array index")
    i = int(token)
    if i > len(container) or (i == len(container) and not insert):
        raise PatchError(f"{where}: index {i} is out of range")
    return i


def _parent(doc: Any, tokens: list[str], where: str, path: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, where)]
        else:
            raise PatchError(f"{where}: {path} does not exist")
    return node


def _get(doc: Any, path: str, where: str) -> Any:
    tokens = _pointer(path, where)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, where, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"{where}: {path} does not exist")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, where)]
    raise PatchError(f"{where}: {path} does not exist")


def _remove(doc: Any, path: str, where: str) -> Any:
    tokens = _pointer(path, where)
    if not tokens:
        raise PatchError(f"{where}: cannot remove the whole object")
    parent = _parent(doc, tokens, where, path)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, where))
    raise PatchError(f"{where}: {path} does not exist")


def _add(doc: Any, path: str, value: Any, where: str, *, replace: bool = False) -> Any:
    tokens = _pointer(path, where)
    if not tokens:
        return value
    parent = _parent(doc, tokens, where, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if replace:
            parent[_index(parent, last, where)] = value
        else:
            parent.insert(_index(parent, last, where, insert=True), value)
    else:
        raise PatchError(f"{where}: {path} does not exist")
    return doc


def json6902(obj: Obj, operations: list[Any], where: str = "patch") -> Obj:
    """One object with a JSON 6902 patch applied; the input is not modified."""
    doc: Any = copy_tree(obj)
    for n, op in enumerate(operations):
        at = f"{where} operation {n}"
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"{at}: needs `op` and `path`")
        kind, path = op["op"], str(op["path"])
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"{at}: {kind} needs a `value`")
        if kind == "add":
            doc = _add(doc, path, copy_tree(op["value"]), at)
        elif kind == "remove":
            _remove(doc, path, at)
        elif kind == "replace":
            doc = _add(doc, path, copy_tree(op["value"]), at, replace=True)
        elif kind == "test":
            if _get(doc, path, at) != op["value"]:
                raise PatchError(f"{at}: test of {path} failed")
        elif kind in ("move", "copy"):
            if "from" not in op:
                raise PatchError(f"{at}: {kind} needs `from`")
            value = _get(doc, str(op["from"]), at)
            if kind == "move":
                _remove(doc, str(op["from"]), at)
            doc = _add(doc, path, copy_tree(value), at)
        else:
            raise PatchError(f"{at}: unknown op {quote(kind)}")
    if not isinstance(doc, dict):
        raise PatchError(f"{where}: the result is not an object")
    return doc
