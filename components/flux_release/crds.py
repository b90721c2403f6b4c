"""Validate Kubernetes objects against the CRD schemas of a Flux release.

Every Flux object the program renders is checked against the `openAPIV3Schema` of its
CustomResourceDefinition, taken from the install manifest of the configured Flux version, the way
the API server checks a structural schema
(https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema),
with one deliberate difference: a field the schema does not know is an error here, where the API
server would silently prune it and Flux would never see the setting.

Each schema is compiled once into a tree of small closures (`Check`), and each CEL rule once into
a program, so validating an object walks the object, not the schema text. `for_manifest` keeps
the compiled schemas and rules of recent manifests, keyed by the manifest text, so a fleet of
stacks sharing a Flux version compiles them once per process.

What is checked, per schema node: `type` (object, array, string, integer, number, boolean; a bool
is not an integer, an int is a number), `nullable` (null is an error unless it is set),
`properties`, `required` (a missing field that has a `default` is fine: the API server fills it
in before it validates), `additionalProperties` (false, true or a schema: maps),
`x-kubernetes-preserve-unknown-fields` (unknown keys at that node are accepted; properties the
node does specify are still checked), `x-kubernetes-int-or-string`,
`x-kubernetes-embedded-resource` (apiVersion and kind required, metadata checked as object
metadata without a required name), `x-kubernetes-list-type` set/map (no duplicate entries or
keys), `items`, `enum`, `pattern`, `minLength`/`maxLength`, `minimum`/`maximum` with
`exclusiveMinimum`/`exclusiveMaximum`, `multipleOf`, `minItems`/`maxItems`,
`minProperties`/`maxProperties`, and `allOf`/`anyOf`/`oneOf`/`not` (their branches are value
validations only, as in a structural schema: they never make a field unknown or known).

`format` is checked for `date-time` (RFC 3339, loosely: the shapes Kubernetes' strfmt parses)
and for `int32`/`int64` (the value fits); every other format is accepted unchecked.

Patterns are Go RE2 expressions. The ones Flux uses mean the same in Python `re`, with one
exception that is translated: Go's `$` (and `\\z`) match only at the very end of the text, Python's
`$` also before a final newline, so an unescaped `$` becomes `\\Z`. Patterns that use RE2 syntax
Python lacks (POSIX classes such as `[[:alpha:]]`, `\\Q...\\E`, `\\p{...}`) are refused when the
schema is compiled, so they can never be silently mis-read.

`x-kubernetes-validations` (CEL rules, e.g. HelmRelease's "exactly one of chart and chartRef")
are compiled with the schema and evaluated by `crd_rules` once the object passes its schema (the
API server does not run the rules of an object its schema refuses either), on the object as the
API server sees it: defaults applied, `status` dropped where the CRD has the status subresource.
A failed rule is one message like any other; a rule that cannot be evaluated offline (a function
not implemented here, a transition rule) gives a note in `Verdict.unchecked` instead, never a
silent pass.

Not checked: admission webhooks and anything a controller checks at reconcile time.

`metadata` is only `type: object` in a CRD schema; the API server checks it with its own rules, so
this module does too: `name` is required and a DNS-1123 subdomain, `namespace` (optional) a
DNS-1123 label, `labels` and `annotations` maps of strings with valid keys (label values valid
too), and only the ObjectMeta keys a manifest may carry are accepted. `status` is optional; when
present it is checked like the rest. One rule is stricter than the API server: when the schema of
`spec` has required fields, `spec` itself is required (a Flux object without a spec only fails
later, in the controller).

Messages, one per problem: `<Kind> <namespace>/<name>: <field path>: <what is wrong>`; field
paths use dots for keys, `[i]` for list items and `[key]` for map keys that are not plain words.
"""

from __future__ import annotations

import functools
import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components.common.errors import ManifestError
from components.common.field_paths import child as _child
from components.common.k8s_names import is_dns1123_label, is_dns1123_subdomain
from components.flux_release.manifests import InstallManifest

if TYPE_CHECKING:
    # imported when a kind is first compiled (`_compile_versions`): the CEL runtime is ~10 ms
    # of every process, and one whose verdicts are all cached compiles nothing
    from components.flux_release.crd_rules import Rule, RuleTree

FLUX_GROUP_SUFFIX = ".toolkit.fluxcd.io"

# A compiled schema node: checks `value`, found at field path `path`, appending one message per
# problem (without the object prefix) to `errors`.
Check = Callable[[Any, str, list[str]], None]

# The name part of a qualified name (label and annotation keys), and a label value.
_QUALIFIED_NAME_PART = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")
# RFC 3339 and the ISO 8601 shapes that Kubernetes' strfmt.ParseDateTime also accepts.
_DATE_TIME = re.compile(
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]"
    r"(:([0-5][0-9]|60)(\.[0-9]+)?)?([Zz]|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])?\Z"
)
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_VERSION = re.compile(r"v([0-9]+)(?:(alpha|beta)([0-9]+))?\Z")
_ANNOTATIONS_MAX_BYTES = 256 * 1024

# ObjectMeta fields a manifest may carry (the rest of ObjectMeta is set by the server and these
# are the ones it accepts or ignores on create); anything else under metadata is an error.
_METADATA_KEYS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "labels",
        "annotations",
        "finalizers",
        "ownerReferences",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)


def is_flux_api(api_version: str) -> bool:
    """True when `api_version` (`group/version`) belongs to a Flux toolkit API group."""
    group, sep, _ = api_version.rpartition("/")
    return bool(sep) and group.endswith(FLUX_GROUP_SUFFIX)


# ------------------------------------------------------------------------------ value helpers


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _show(value: Any) -> str:
    """A value as a message quotes it: strings quoted and shortened, containers by type."""
    if isinstance(value, str):
        return repr(value if len(value) <= 80 else value[:77] + "...")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    kind = _json_type(value)
    return f"an {kind}" if kind in ("object", "array") else kind


def _got(value: Any) -> str:
    kind = _json_type(value)
    if kind in ("object", "array", "null"):
        return _show(value)
    return f"{kind} {_show(value)}"


def _is_object(v: Any) -> bool:
    return type(v) is dict or isinstance(v, Mapping)


def _is_array(v: Any) -> bool:
    return isinstance(v, list | tuple)


def _is_string(v: Any) -> bool:
    return isinstance(v, str)


def _is_integer(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_boolean(v: Any) -> bool:
    return isinstance(v, bool)


def _is_int_or_string(v: Any) -> bool:
    return isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))


_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "object": (_is_object, "object"),
    "array": (_is_array, "array"),
    "string": (_is_string, "string"),
    "integer": (_is_integer, "integer"),
    "number": (_is_number, "number"),
    "boolean": (_is_boolean, "boolean"),
}


def _go_regex(pattern: str, where: str) -> re.Pattern[str]:
    """Compile a Go RE2 pattern as Python `re`, translating the end-of-text anchors."""
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1 : i + 2]
            if nxt in ("Q", "p", "P", "C"):
                raise ManifestError(
                    f"{where}: pattern {pattern!r} uses RE2 syntax \\{nxt} that is not supported"
                )
            out.append(r"\Z" if nxt == "z" else pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "[" and pattern[i + 1 : i + 2] == ":":
                raise ManifestError(
                    f"{where}: pattern {pattern!r} uses a POSIX class, which is not supported"
                )
            if c == "]":
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            if pattern[i : i + 1] == "^":
                out.append("^")
                i += 1
            if pattern[i : i + 1] == "]":  # a leading ']' is a literal in both dialects
                out.append("]")
                i += 1
            continue
        out.append(r"\Z" if c == "$" else c)
        i += 1
    try:
        return re.compile("".join(out))
    except re.error as err:
        raise ManifestError(f"{where}: pattern {pattern!r} does not compile: {err}") from None


# ---------------------------------------------------------------------------------- compiling


def _compile(
    schema: Any,
    where: str,
    *,
    structural: bool = True,
    overrides: Mapping[str, Check] | None = None,
    also_required: Sequence[str] = (),
) -> Check:
    """Compile one schema node (and everything below it) into a `Check`.

    `structural=False` compiles the branch of an allOf/anyOf/oneOf/not: a value validation,
    which never reports unknown fields. `overrides` replaces (or adds) property checks; the root
    uses it for `metadata`, which CRD schemas leave open.
    """
    if not isinstance(schema, Mapping):
        raise ManifestError(f"{where}: schema must be a mapping, got {_json_type(schema)}")
    nullable = schema.get("nullable") is True
    type_name = schema.get("type")
    type_test: Callable[[Any], bool] | None
    if schema.get("x-kubernetes-int-or-string") is True:
        type_test, type_label = _is_int_or_string, "an integer or a string"
    elif type_name is None:
        type_test, type_label = None, ""
    elif isinstance(type_name, str) and type_name in _TYPES:
        type_test, type_label = _TYPES[type_name]
    else:
        raise ManifestError(f"{where}: unsupported schema type {type_name!r}")

    checks: list[Check] = []
    if "enum" in schema:
        checks.append(_enum_check(schema["enum"], where))
    checks.extend(_string_checks(schema, where))
    checks.extend(_number_checks(schema, where))
    if (
        overrides
        or type_name == "object"
        or any(k in schema for k in ("properties", "additionalProperties", "required"))
        or schema.get("x-kubernetes-embedded-resource") is True
        or any(k in schema for k in ("minProperties", "maxProperties"))
    ):
        checks.append(_object_check(schema, where, structural, overrides or {}, also_required))
    if type_name == "array" or any(k in schema for k in ("items", "minItems", "maxItems")):
        checks.append(_array_check(schema, where, structural))
    checks.extend(_junctor_checks(schema, where))

    def check(value: Any, path: str, errors: list[str]) -> None:
        if value is None:
            if not nullable:
                errors.append(f"{path}: must not be null")
            return
        if type_test is not None and not type_test(value):
            errors.append(f"{path}: must be {type_label}, got {_got(value)}")
            return
        for sub in checks:
            sub(value, path, errors)

    return check


def _enum_check(enum: Any, where: str) -> Check:
    if not isinstance(enum, list) or not enum:
        raise ManifestError(f"{where}: enum must be a non-empty list")
    # Compare with the JSON type too: in Python True == 1, in Kubernetes they differ.
    allowed = {(_json_type(e), json.dumps(e, sort_keys=True)) for e in enum}
    strings = frozenset(e for e in enum if isinstance(e, str))
    shown = "[" + ", ".join(_show(e) for e in enum) + "]"

    def check(value: Any, path: str, errors: list[str]) -> None:
        if isinstance(value, str) and value in strings:
            return
        try:
            key = (_json_type(value), json.dumps(value, sort_keys=True))
        except (TypeError, ValueError):
            key = ("", "")
        if key not in allowed:
            errors.append(f"{path}: must be one of {shown}, got {_show(value)}")

    return check


def _string_checks(schema: Mapping[str, Any], where: str) -> list[Check]:
    checks: list[Check] = []
    min_len, max_len = schema.get("minLength"), schema.get("maxLength")
    if min_len is not None or max_len is not None:
        lo = int(min_len) if min_len is not None else 0
        hi = int(max_len) if max_len is not None else None

        def length(value: Any, path: str, errors: list[str]) -> None:
            # len() counts code points, as Kubernetes counts runes.
            if isinstance(value, str):
                if len(value) < lo:
                    errors.append(f"{path}: {_show(value)} is shorter than {lo} characters")
                elif hi is not None and len(value) > hi:
                    errors.append(f"{path}: {_show(value)} is longer than {hi} characters")

        checks.append(length)
    if "pattern" in schema:
        source = schema["pattern"]
        if not isinstance(source, str):
            raise ManifestError(f"{where}: pattern must be a string")
        search = _go_regex(source, where).search

        def pattern(value: Any, path: str, errors: list[str]) -> None:
            if isinstance(value, str) and search(value) is None:
                errors.append(f"{path}: {_show(value)} does not match {source}")

        checks.append(pattern)
    fmt = schema.get("format")
    if fmt == "date-time":

        def date_time(value: Any, path: str, errors: list[str]) -> None:
            if isinstance(value, str) and not _DATE_TIME.match(value):
                errors.append(f"{path}: {_show(value)} is not an RFC 3339 date-time")

        checks.append(date_time)
    elif isinstance(fmt, str) and fmt in _INT_RANGES:
        low, high = _INT_RANGES[fmt]

        def int_range(value: Any, path: str, errors: list[str]) -> None:
            if _is_integer(value) and not low <= value <= high:
                errors.append(f"{path}: {value} does not fit in {fmt}")

        checks.append(int_range)
    return checks


def _number_checks(schema: Mapping[str, Any], where: str) -> list[Check]:
    checks: list[Check] = []
    for key, exclusive_key, is_min in (
        ("minimum", "exclusiveMinimum", True),
        ("maximum", "exclusiveMaximum", False),
    ):
        if key not in schema:
            continue
        bound = schema[key]
        if not _is_number(bound):
            raise ManifestError(f"{where}: {key} must be a number")
        exclusive = schema.get(exclusive_key) is True
        op = (">" if exclusive else ">=") if is_min else ("<" if exclusive else "<=")
        checks.append(_bound_check(bound, exclusive, is_min, op))
    if "multipleOf" in schema:
        step = schema["multipleOf"]
        if not _is_number(step) or step <= 0:
            raise ManifestError(f"{where}: multipleOf must be a positive number")

        def multiple(value: Any, path: str, errors: list[str]) -> None:
            if _is_number(value):
                quotient = value / step
                if not math.isclose(quotient, round(quotient), rel_tol=0, abs_tol=1e-9):
                    errors.append(f"{path}: must be a multiple of {step}, got {value}")

        checks.append(multiple)
    if schema.get("type") == "number":

        def finite(value: Any, path: str, errors: list[str]) -> None:
            if isinstance(value, float) and not math.isfinite(value):
                errors.append(f"{path}: must be a finite number, got {value}")

        checks.append(finite)
    return checks


def _bound_check(bound: float, exclusive: bool, is_min: bool, op: str) -> Check:
    def check(value: Any, path: str, errors: list[str]) -> None:
        if not _is_number(value):
            return
        if is_min:
            bad = value <= bound if exclusive else value < bound
        else:
            bad = value >= bound if exclusive else value > bound
        if bad:
            errors.append(f"{path}: must be {op} {bound}, got {value}")

    return check


def _object_check(
    schema: Mapping[str, Any],
    where: str,
    structural: bool,
    overrides: Mapping[str, Check],
    also_required: Sequence[str],
) -> Check:
    raw_props = schema.get("properties") or {}
    if not isinstance(raw_props, Mapping):
        raise ManifestError(f"{where}: properties must be a mapping")
    props: dict[str, Check] = {
        name: _compile(sub, f"{where}.{name}" if where else name, structural=structural)
        for name, sub in raw_props.items()
    }
    props.update(overrides)
    raw_required = schema.get("required") or []
    if not isinstance(raw_required, list):
        raise ManifestError(f"{where}: required must be a list")
    # A required field with a default is filled in by the API server before it validates.
    required = tuple(
        dict.fromkeys(
            name
            for name in [*raw_required, *also_required]
            if not (isinstance(raw_props.get(name), Mapping) and "default" in raw_props[name])
        )
    )
    additional = schema.get("additionalProperties")
    additional_check: Check | None = None
    if isinstance(additional, Mapping):
        additional_check = _compile(additional, f"{where}[*]", structural=structural)
    embedded = schema.get("x-kubernetes-embedded-resource") is True
    # An object node that specifies nothing about its keys, outside preserve-unknown-fields, has
    # no fields at all in a structural schema: every key is unknown (the API server prunes them).
    # Branches of allOf/anyOf/oneOf/not only validate values, so they never make a key unknown.
    open_keys = (
        not structural
        or additional is True
        or schema.get("x-kubernetes-preserve-unknown-fields") is True
    )
    embedded_meta = _metadata_check(require_name=False) if embedded else None
    min_props, max_props = schema.get("minProperties"), schema.get("maxProperties")

    def check(value: Any, path: str, errors: list[str]) -> None:
        if not _is_object(value):
            return
        prefix = f"{path}." if path else ""
        for key, item in value.items():
            sub = props.get(key) if isinstance(key, str) else None
            if sub is not None:
                sub(item, prefix + key, errors)
            elif not isinstance(key, str):
                errors.append(f"{path}[{key!r}]: keys must be strings")
            elif additional_check is not None:
                additional_check(item, _child(path, key), errors)
            elif embedded and key in ("apiVersion", "kind"):
                if not isinstance(item, str) or not item:
                    errors.append(f"{prefix}{key}: must be a non-empty string, got {_got(item)}")
            elif embedded_meta is not None and key == "metadata":
                embedded_meta(item, prefix + key, errors)
            elif not open_keys:
                errors.append(f"{_child(path, key)}: unknown field")
        for name in required:
            if name not in value:
                errors.append(f"{prefix}{name}: required field is missing")
        if embedded:
            for name in ("apiVersion", "kind"):
                if name not in value:
                    errors.append(f"{prefix}{name}: required field is missing")
        if min_props is not None and len(value) < min_props:
            errors.append(f"{path}: must have at least {min_props} fields, got {len(value)}")
        if max_props is not None and len(value) > max_props:
            errors.append(f"{path}: must have at most {max_props} fields, got {len(value)}")

    return check


def _array_check(schema: Mapping[str, Any], where: str, structural: bool) -> Check:
    items = schema.get("items")
    item_check = (
        _compile(items, f"{where}[*]", structural=structural) if items is not None else None
    )
    min_items, max_items = schema.get("minItems"), schema.get("maxItems")
    list_type = schema.get("x-kubernetes-list-type")
    map_keys = tuple(schema.get("x-kubernetes-list-map-keys") or ())
    if list_type == "map" and not map_keys:
        raise ManifestError(f"{where}: x-kubernetes-list-type map needs x-kubernetes-list-map-keys")

    def check(value: Any, path: str, errors: list[str]) -> None:
        if not _is_array(value):
            return
        count = len(value)
        if min_items is not None and count < min_items:
            errors.append(f"{path}: must have at least {min_items} items, got {count}")
        if max_items is not None and count > max_items:
            errors.append(f"{path}: must have at most {max_items} items, got {count}")
        if item_check is not None:
            for i, item in enumerate(value):
                item_check(item, f"{path}[{i}]", errors)
        if list_type == "set":
            _no_duplicates(value, path, errors, lambda item: item, "entry")
        elif list_type == "map":
            _no_duplicates(
                value,
                path,
                errors,
                lambda item: [item.get(k) for k in map_keys] if _is_object(item) else None,
                "entry with " + ", ".join(map_keys),
            )

    return check


def _no_duplicates(
    value: Sequence[Any], path: str, errors: list[str], key_of: Callable[[Any], Any], what: str
) -> None:
    seen: set[str] = set()
    for i, item in enumerate(value):
        key = key_of(item)
        if key is None:
            continue
        try:
            text = json.dumps(key, sort_keys=True)
        except (TypeError, ValueError):
            continue
        if text in seen:
            errors.append(f"{path}[{i}]: duplicate {what} {text}")
        seen.add(text)


def _junctor_checks(schema: Mapping[str, Any], where: str) -> list[Check]:
    checks: list[Check] = []
    for keyword in ("allOf", "anyOf", "oneOf"):
        if keyword not in schema:
            continue
        branches = schema[keyword]
        if not isinstance(branches, list) or not branches:
            raise ManifestError(f"{where}: {keyword} must be a non-empty list")
        compiled = [
            _compile(b, f"{where}.{keyword}[{i}]", structural=False) for i, b in enumerate(branches)
        ]
        checks.append(_junctor(keyword, compiled))
    if "not" in schema:
        negated = _compile(schema["not"], f"{where}.not", structural=False)

        def check_not(value: Any, path: str, errors: list[str]) -> None:
            found: list[str] = []
            negated(value, path, found)
            if not found:
                errors.append(f"{path}: must not match the schema under 'not'")

        checks.append(check_not)
    return checks


def _junctor(keyword: str, branches: list[Check]) -> Check:
    def check(value: Any, path: str, errors: list[str]) -> None:
        results: list[list[str]] = []
        for branch in branches:
            found: list[str] = []
            branch(value, path, found)
            results.append(found)
        passed = sum(1 for r in results if not r)
        if keyword == "allOf":
            for found in results:
                errors.extend(found)
        elif passed == 0:
            reasons = "; ".join(r[0] for r in results)
            errors.append(f"{path}: matches none of the {keyword} schemas ({reasons})")
        elif keyword == "oneOf" and passed > 1:
            errors.append(f"{path}: matches {passed} of the oneOf schemas, must match exactly one")

    return check


# ----------------------------------------------------------------------------------- metadata


def _string_map(
    value: Any, path: str, errors: list[str], key_check: Callable[[str, str, list[str]], None]
) -> None:
    if not _is_object(value):
        errors.append(f"{path}: must be object, got {_got(value)}")
        return
    for key, item in value.items():
        where = _child(path, key)
        if not isinstance(key, str):
            errors.append(f"{where}: keys must be strings")
            continue
        key_check(key, where, errors)
        if not isinstance(item, str):
            errors.append(f"{where}: must be string, got {_got(item)}")


def _qualified_name(key: str, where: str, errors: list[str]) -> None:
    prefix, sep, name = key.rpartition("/")
    ok = 0 < len(name) <= 63 and _QUALIFIED_NAME_PART.match(name) is not None
    if sep:
        ok = ok and is_dns1123_subdomain(prefix)
    if not ok:
        errors.append(
            f"{where}: {key!r} is not a valid key (an optional DNS subdomain prefix and '/', then "
            "at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric)"
        )


def _check_labels(value: Any, path: str, errors: list[str]) -> None:
    _string_map(value, path, errors, _qualified_name)
    if _is_object(value):
        for key, item in value.items():
            if isinstance(item, str) and (len(item) > 63 or not _LABEL_VALUE.match(item)):
                errors.append(
                    f"{_child(path, key)}: {_show(item)} is not a valid label value (at most 63 "
                    "alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric)"
                )


def _check_annotations(value: Any, path: str, errors: list[str]) -> None:
    _string_map(value, path, errors, _qualified_name)
    if _is_object(value):
        size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in value.items())
        if size > _ANNOTATIONS_MAX_BYTES:
            errors.append(f"{path}: {size} bytes in total, more than {_ANNOTATIONS_MAX_BYTES}")


def _typed(test: Callable[[Any], bool], label: str) -> Check:
    def check(value: Any, path: str, errors: list[str]) -> None:
        if not test(value):
            errors.append(f"{path}: must be {label}, got {_got(value)}")

    return check


def _list_of_strings(value: Any, path: str, errors: list[str]) -> None:
    if not _is_array(value):
        errors.append(f"{path}: must be array, got {_got(value)}")
        return
    for i, item in enumerate(value):
        if not isinstance(item, str):
            errors.append(f"{path}[{i}]: must be string, got {_got(item)}")


@functools.cache
def _metadata_check(*, require_name: bool) -> Check:
    """ObjectMeta as the API server validates it for a custom resource."""
    loose: dict[str, Check] = {
        "generateName": _typed(_is_string, "string"),
        "finalizers": _list_of_strings,
        "ownerReferences": _typed(_is_array, "array"),
        "managedFields": _typed(_is_array, "array"),
        "uid": _typed(_is_string, "string"),
        "resourceVersion": _typed(_is_string, "string"),
        "selfLink": _typed(_is_string, "string"),
        "creationTimestamp": _typed(lambda v: v is None or isinstance(v, str), "string"),
        "deletionTimestamp": _typed(_is_string, "string"),
        "generation": _typed(_is_integer, "integer"),
        "deletionGracePeriodSeconds": _typed(_is_integer, "integer"),
    }

    def check(value: Any, path: str, errors: list[str]) -> None:
        if not _is_object(value):
            errors.append(f"{path}: must be object, got {_got(value)}")
            return
        name = value.get("name")
        if name is None:
            if require_name:
                errors.append(f"{path}.name: required field is missing")
        elif not isinstance(name, str):
            errors.append(f"{path}.name: must be string, got {_got(name)}")
        elif not is_dns1123_subdomain(name):
            errors.append(
                f"{path}.name: {_show(name)} is not a DNS-1123 subdomain (lower-case "
                "alphanumerics, '-' and '.', starting and ending with an alphanumeric, "
                "at most 253 characters)"
            )
        namespace = value.get("namespace")
        if namespace is not None:
            if not isinstance(namespace, str):
                errors.append(f"{path}.namespace: must be string, got {_got(namespace)}")
            elif not is_dns1123_label(namespace):
                errors.append(
                    f"{path}.namespace: {_show(namespace)} is not a DNS-1123 label (lower-case "
                    "alphanumerics and '-', starting and ending with an alphanumeric, at most 63 "
                    "characters)"
                )
        for key, item in value.items():
            if key in ("name", "namespace"):
                continue
            where = _child(path, key)
            if key == "labels":
                _check_labels(item, where, errors)
            elif key == "annotations":
                _check_annotations(item, where, errors)
            elif key in loose:
                loose[key](item, where, errors)
            else:
                errors.append(f"{where}: unknown field")

    return check


# ------------------------------------------------------------------------------------ schemas

# apiVersion, kind and metadata are allowed at the root of every custom resource, whether or not
# its schema lists them; apiVersion and kind have been matched to the CRD by then.
_ROOT_OVERRIDES: Mapping[str, Check] = {
    "apiVersion": _typed(_is_string, "string"),
    "kind": _typed(_is_string, "string"),
    "metadata": _metadata_check(require_name=True),
}


def _version_key(name: str) -> tuple[int, int, int, str]:
    """Kubernetes version priority: GA before beta before alpha, higher numbers first."""
    m = _VERSION.match(name)
    if not m:
        return (3, 0, 0, name)
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    return (stage, -int(m.group(1)), -int(m.group(3) or 0), name)


@dataclass(frozen=True)
class _Version:
    name: str
    served: bool
    deprecated: bool
    deprecation_warning: str | None
    check: Check
    rules: RuleTree | None
    status_subresource: bool


class _Crd:
    """One CustomResourceDefinition: its group and kind, checked when it is read, and its
    versions, compiled the first time they are asked for. A stack's files use five of a
    release's eleven kinds, and a fresh process (each CI `pulumi preview`) compiles just those."""

    def __init__(self, doc: Mapping[str, Any], name: str, group: str, kind: str) -> None:
        self.group, self.kind = group, kind
        self._doc, self._name = doc, name
        self._versions: dict[str, _Version] | None = None
        self._lock = threading.Lock()

    @property
    def versions(self) -> dict[str, _Version]:
        with self._lock:
            if self._versions is None:
                self._versions = _compile_versions(self._doc, self._name, self.group, self.kind)
            return self._versions


def _compile_crd(doc: Mapping[str, Any]) -> _Crd:
    """The CRD of `doc`, its header checked now (see `_Crd` for the versions)."""
    crd_name = str((doc.get("metadata") or {}).get("name", "<unnamed>"))
    if doc.get("apiVersion") != "apiextensions.k8s.io/v1":
        raise ManifestError(f"CRD {crd_name}: only apiextensions.k8s.io/v1 CRDs are supported")
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        raise ManifestError(f"CRD {crd_name}: has no spec")
    group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
    if not isinstance(group, str) or not isinstance(kind, str):
        raise ManifestError(f"CRD {crd_name}: spec.group and spec.names.kind must be strings")
    return _Crd(doc, crd_name, group, kind)


def _compile_versions(
    doc: Mapping[str, Any], crd_name: str, group: str, kind: str
) -> dict[str, _Version]:
    from components.flux_release import crd_rules

    versions: dict[str, _Version] = {}
    for entry in doc["spec"].get("versions") or []:
        name = entry.get("name")
        where = f"CRD {crd_name} {name}"
        schema = (entry.get("schema") or {}).get("openAPIV3Schema")
        if schema is None:  # no schema: the API server accepts any fields
            schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        spec_schema = (schema.get("properties") or {}).get("spec")
        spec_required = isinstance(spec_schema, Mapping) and bool(spec_schema.get("required"))
        try:
            check = _compile(
                schema,
                "",
                overrides=_ROOT_OVERRIDES,
                also_required=("metadata", "spec") if spec_required else ("metadata",),
            )
        except ManifestError as err:
            raise ManifestError(f"{where}: schema {err}") from None
        status_subresource = isinstance((entry.get("subresources") or {}).get("status"), Mapping)
        rules = crd_rules.compile_rules(
            schema, f"{kind} {group}/{name}", status_subresource=status_subresource
        )
        warning = entry.get("deprecationWarning")
        versions[str(name)] = _Version(
            name=str(name),
            served=entry.get("served") is True,
            deprecated=entry.get("deprecated") is True,
            deprecation_warning=warning if isinstance(warning, str) else None,
            check=check,
            rules=rules,
            status_subresource=status_subresource,
        )
    return versions


def _label(obj: Mapping[str, Any]) -> str:
    kind = obj.get("kind") if isinstance(obj.get("kind"), str) and obj.get("kind") else "object"
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    name = meta.get("name") or "<unnamed>"
    namespace = meta.get("namespace")
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


@dataclass(frozen=True)
class Verdict:
    """What checking one object found: its problems (`Kind ns/name: path: what`), and one note
    per CEL rule it reached that is not checked offline (`crd_rules`)."""

    errors: tuple[str, ...]
    unchecked: tuple[str, ...] = ()


class CrdSchemas:
    """The compiled CRD schemas of one Flux release, and the validator built on them."""

    # The sha256 of the install manifest these were read from, when known (`for_manifest`):
    # what the verdict cache of `components.render.pipeline` names the release by.
    digest: str | None = None

    def __init__(self, crds: Iterable[_Crd]) -> None:
        self._crds: dict[tuple[str, str], _Crd] = {}
        for crd in crds:
            if (crd.group, crd.kind) in self._crds:
                raise ManifestError(f"two CustomResourceDefinitions for {crd.kind}.{crd.group}")
            self._crds[(crd.group, crd.kind)] = crd

    @classmethod
    def from_documents(cls, docs: Iterable[Mapping[str, Any]], *, lazy: bool = False) -> CrdSchemas:
        """Compile the CustomResourceDefinitions among `docs`; other documents are ignored.

        `lazy`: compile each kind's schemas when an object of that kind is first checked, so a
        schema this module cannot compile is reported then, by the kind that needs it, rather
        than here.
        """
        schemas = cls(
            _compile_crd(doc)
            for doc in docs
            if isinstance(doc, Mapping) and doc.get("kind") == "CustomResourceDefinition"
        )
        if not lazy:
            for crd in schemas._crds.values():
                crd.versions  # noqa: B018
        return schemas

    def kinds(self) -> list[tuple[str, str]]:
        """Every (group, kind) that has a CRD here, sorted."""
        return sorted(self._crds)

    def knows(self, api_version: str, kind: str) -> bool:
        """True when a CRD here serves `kind` at exactly `api_version` (`group/version`)."""
        group, _, version = api_version.rpartition("/")
        crd = self._crds.get((group, kind))
        entry = crd.versions.get(version) if crd else None
        return entry is not None and entry.served

    def served_versions(self, group: str, kind: str) -> list[str]:
        """Versions served for `group`/`kind`, preferred first (Kubernetes version priority)."""
        crd = self._crds.get((group, kind))
        if crd is None:
            return []
        return sorted((v.name for v in crd.versions.values() if v.served), key=_version_key)

    def deprecation(self, api_version: str, kind: str) -> str | None:
        """The deprecation warning the API server would give for `api_version` `kind`, if any."""
        group, _, version = api_version.rpartition("/")
        crd = self._crds.get((group, kind))
        entry = crd.versions.get(version) if crd else None
        if entry is None or not entry.deprecated:
            return None
        # The API server's default text, when the CRD gives none.
        return entry.deprecation_warning or f"{api_version} {kind} is deprecated"

    def check(self, obj: Mapping[str, Any]) -> Verdict:
        """Problems of `obj` against its CRD (schema, then CEL rules), and the notes of the
        rules it reached that are not checked offline."""
        if not _is_object(obj):
            return Verdict((f"object: must be object, got {_got(obj)}",))
        label = _label(obj)
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        head: list[str] = []
        for field, value in (("apiVersion", api_version), ("kind", kind)):
            if value is None:
                head.append(f"{label}: {field}: required field is missing")
            elif not isinstance(value, str) or not value:
                head.append(f"{label}: {field}: must be a non-empty string, got {_got(value)}")
        if head:
            return Verdict(tuple(head))
        assert isinstance(api_version, str) and isinstance(kind, str)
        group, _, version = api_version.rpartition("/")
        crd = self._crds.get((group, kind))
        if crd is None:
            return Verdict((f"{label}: no CRD for {api_version} {kind} in this Flux version",))
        entry = crd.versions.get(version)
        if entry is None or not entry.served:
            served = ", ".join(self.served_versions(group, kind)) or "none"
            return Verdict(
                (
                    f"{label}: apiVersion {api_version} is not served by this Flux version "
                    f"(served: {served})",
                )
            )
        errors: list[str] = []
        entry.check(obj, "", errors)
        notes: list[str] = []
        # The API server skips the rules of an object that fails its schema (they would read
        # fields of the wrong type or missing ones); so does this check.
        if not errors and entry.rules is not None:
            # status is dropped on create and on updates of the main resource
            subject = (
                {k: v for k, v in obj.items() if k != "status"}
                if entry.status_subresource and "status" in obj
                else obj
            )
            entry.rules.check(subject, "", errors, notes)
        return Verdict(tuple(f"{label}: {e}" for e in errors), tuple(dict.fromkeys(notes)))

    def validate(self, obj: Mapping[str, Any]) -> list[str]:
        """Problems of `obj` against its CRD, one message each; [] when it is valid."""
        return list(self.check(obj).errors)

    def rules(self) -> list[Rule]:
        """Every CEL rule of every served version, by kind and version."""
        return [
            rule
            for key in sorted(self._crds)
            for name in sorted(self._crds[key].versions, key=_version_key)
            if self._crds[key].versions[name].served
            and (tree := self._crds[key].versions[name].rules) is not None
            for rule in tree.all_rules()
        ]

    def validate_all(self, objs: Iterable[Mapping[str, Any]]) -> list[str]:
        """The problems of every object, in order."""
        return [problem for obj in objs for problem in self.validate(obj)]


# ------------------------------------------------------------------------------------ caching

_CACHE_SIZE = 8
_cache: OrderedDict[str, CrdSchemas] = OrderedDict()
_cache_lock = threading.Lock()


def for_manifest(manifest: InstallManifest) -> CrdSchemas:
    """The compiled schemas of `manifest`, compiled once per process per manifest text.

    A small LRU keyed by the text (not by the InstallManifest, whose origin may differ for the
    same bytes), built from `manifest.documents`, so the YAML is not parsed a second time.
    """
    key = manifest.text
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
        found = CrdSchemas.from_documents(manifest.documents, lazy=True)
        found.digest = manifest.sha256
        _cache[key] = found
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
        return found
