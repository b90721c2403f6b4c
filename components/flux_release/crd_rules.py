"""CEL validation rules of CRD schemas (`x-kubernetes-validations`), evaluated offline.

A CRD schema node may carry rules such as HelmRelease's
`(has(self.chart) && !has(self.chartRef)) || (!has(self.chart) && has(self.chartRef))`; the API
server evaluates them on every write and refuses the object with the rule's message when one is
false (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation-rules).
This module evaluates them the same way before anything reaches a cluster, with Google's CEL
runtime (`cel-expr-python`, the Python binding of cel-cpp: the same language definition and
conformance suite as the cel-go the API server uses, and a type checker that finds a call to a
function this environment lacks when the rule is compiled, not halfway through an evaluation).

What Kubernetes adds to CEL, and what of it is here:
- `self` is the value at the rule's node, at any depth: rules under `items` run once per list
  item, under `additionalProperties` once per map value, and rules of `allOf` branches at their
  node, as the API server runs them. A null value is not validated (its parent's rules can
  check it).
- `self` is built as the API server builds it: after defaulting (a missing property with a
  `default` is there, so `self.provider` of a Bucket without one reads 'generic'); only the
  properties the schema declares are visible (names that are not CEL identifiers escaped as
  `__dash__`, `__dot__`, `__slash__`, `__underscores__`, reserved words as `__word__`; other
  names are not accessible); `type: number` values are doubles; `format: date-time` strings are
  timestamps; at the root and in embedded resources `metadata` shows only `name` and
  `generateName`; a map or object whose keys the schema does not declare shows none of them.
- Standard CEL: `has()`, `size()`, `all`/`exists`/`exists_one`/`map`/`filter`, `contains`,
  `startsWith`, `endsWith`, `matches` (RE2), conversions, timestamps and durations, with
  cross-type numeric comparisons; optional values (`?.`, `orValue`, `optional.of`); the strings
  extension (`charAt`, `indexOf`, `lastIndexOf`, `lowerAscii`, `upperAscii`, `replace`, `split`,
  `substring`, `trim`, `join`, `format`, `strings.quote`); and Kubernetes' list library
  (`isSorted`, `sum`, `min`, `max`, `indexOf`, `lastIndexOf` on lists), written here.
- A rule's `message`, else `failed rule: <rule>`, is reported at the node's field path, or at
  its `fieldPath` when the rule names one; a `messageExpression` that evaluates to a non-empty
  one-line string replaces it, as on the API server (when it does not, or when it does not
  compile here, the message is used). A rule whose evaluation fails (a missing key, a wrong
  type) refuses the object, as on the API server.

What is not evaluated offline, and says so (one note per rule, never a silent pass):
- A rule that calls a Kubernetes function this environment lacks (URLs, regex `find`/`findAll`,
  quantities, sets, IPs and CIDRs, `format`, semver, authorizer, two-variable comprehensions,
  the `ext.Lists` additions of Kubernetes 1.34): the type checker names the function when the
  rule is compiled, and the rule is reported as not checked offline.
- A rule whose `self` holds a string of `format: duration`, `date` or `byte`: Kubernetes hands
  those to CEL as durations, timestamps and bytes, which this module does not model.
- Transition rules (they read `oldSelf`): the API server evaluates them only when an existing
  object is updated, comparing it with the stored one; offline there is no stored object, so
  they do not apply to what is checked here (`fluxboot validate --server` dry-runs against a
  cluster, where they do). Rules with `optionalOldSelf` run on create too: not checked offline.
- Rules under `status` when the CRD has the status subresource: the API server drops `status`
  on create and on updates of the main resource, so they never judge a manifest.

Every rule is compiled once, when its CRD is compiled (`crds.for_manifest` keeps that per
manifest per process); evaluating an object walks only the schema nodes that lead to a rule.
"""

from __future__ import annotations

import calendar
import datetime
import functools
import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_optional, ext_strings
from google.protobuf import timestamp_pb2

from components.common.errors import ManifestError
from components.common.field_paths import child, item

# Converts a (schema-valid) value to what CEL sees as `self`.
View = Callable[[Any], Any]

# Property names that are CEL keywords: Kubernetes exposes them as `__name__`.
_RESERVED = frozenset(
    {
        *("true", "false", "null", "in", "as", "break", "const", "continue", "else", "for"),
        *("function", "if", "import", "let", "loop", "package", "namespace", "return", "var"),
        *("void", "while"),
    }
)
_NAME_CHARS = re.compile(r"[A-Za-z0-9_./-]*\Z")
_TO_ESCAPE = re.compile(r"__|[./-]")
_ESCAPES = {"__": "__underscores__", ".": "__dot__", "-": "__dash__", "/": "__slash__"}
_UNDECLARED = re.compile(r"undeclared reference to '([^']+)'")
_STATUS_CODE = re.compile(r"^[A-Z_]+: ")
_NO_SUCH_KEY = re.compile(r'Key not found in map : "(.*)"\Z')
_FIELD_PATH_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[\s*'((?:[^'\\]|\\.)*)'\s*\]")
# String formats Kubernetes converts to CEL types that are not modelled here.
_UNMODELLED_FORMATS = frozenset({"duration", "date", "byte"})
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.([0-9]+))?)?(?:[Zz]|([+-])([0-9]{2}):?([0-9]{2}))?\Z"
)
# The API server's limit on an evaluated messageExpression (celconfig).
_MAX_MESSAGE_BYTES = 5 * 1024
_MISSING = object()


def cel_field_name(name: str) -> str | None:
    """How CEL reaches property `name` (`foo-bar` -> `foo__dash__bar`); None: it cannot."""
    if not name or name[0].isdigit():
        return None
    if name in _RESERVED:
        return f"__{name}__"
    if not _NAME_CHARS.match(name):
        return None
    return _TO_ESCAPE.sub(lambda m: _ESCAPES[m.group(0)], name)


# ------------------------------------------------------------------ Kubernetes' list library


def _order_class(value: Any) -> str:
    """The class within which CEL orders values (ints and doubles compare across types)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    for kind, cls in (
        ("string", str),
        ("bytes", bytes),
        ("timestamp", datetime.datetime),
        ("duration", datetime.timedelta),
    ):
        if isinstance(value, cls):
            return kind
    raise ValueError(f"no such overload: {type(value).__name__} values are not comparable")


def _comparable(values: list[Any]) -> list[Any]:
    classes = {_order_class(v) for v in values}
    if len(classes) > 1:
        raise ValueError(f"no such overload: cannot compare {' and '.join(sorted(classes))}")
    return values


def _is_sorted(values: list[Any]) -> bool:
    _comparable(values)
    return all(a <= b for a, b in itertools.pairwise(values))


def _sum(values: list[Any]) -> Any:
    if not values:
        return 0
    kinds = {
        "bool" if isinstance(v, bool) else type(v).__name__ if isinstance(v, int | float) else ""
        for v in values
    }
    if kinds == {"int"}:
        total = sum(values)
        if not -(2**63) <= total < 2**63:
            raise ValueError("integer overflow")
        return total
    if kinds == {"float"}:
        return float(sum(values))
    raise ValueError("no such overload: sum() needs a list of ints or of doubles")


def _min(values: list[Any]) -> Any:
    if not values:
        raise ValueError("min called on empty list")
    return min(_comparable(values))


def _max(values: list[Any]) -> Any:
    if not values:
        raise ValueError("max called on empty list")
    return max(_comparable(values))


def _cel_equal(a: Any, b: Any) -> bool:
    """CEL equality: numbers across int and double, never a bool with a number, deep lists/maps."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_cel_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_cel_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


def _index_of(values: list[Any], wanted: Any) -> int:
    return next((i for i, v in enumerate(values) if _cel_equal(v, wanted)), -1)


def _last_index_of(values: list[Any], wanted: Any) -> int:
    found = [i for i, v in enumerate(values) if _cel_equal(v, wanted)]
    return found[-1] if found else -1


def _kubernetes_lists() -> Any:
    """Kubernetes' list functions (k8s.io/apiserver/pkg/cel/library, `Lists`) as a CEL extension."""
    t = cel.Type
    any_list = t.List(t.DYN)

    def member(name: str, result: Any, impl: Callable[..., Any], *args: Any) -> Any:
        overload = cel.Overload(
            f"kubernetes_list_{name}", result, [any_list, *args], is_member=True, impl=impl
        )
        return cel.FunctionDecl(name, [overload])

    return cel.CelExtension(
        "kubernetes.lists",
        [
            member("isSorted", t.BOOL, _is_sorted),
            member("sum", t.DYN, _sum),
            member("min", t.DYN, _min),
            member("max", t.DYN, _max),
            member("indexOf", t.INT, _index_of, t.DYN),
            member("lastIndexOf", t.INT, _last_index_of, t.DYN),
        ],
    )


@functools.cache
def _environment(with_old_self: bool = False) -> Any:
    """The CEL environment of CRD rules: `self` (and `oldSelf`), built once per process.

    `self` is declared dyn: the API server types it from the schema, which only decides at CRD
    creation whether a rule compiles; a CRD that reached a manifest has passed that.
    """
    variables = {"self": cel.Type.DYN}
    if with_old_self:
        variables["oldSelf"] = cel.Type.DYN
    return cel.NewEnv(
        variables=variables,
        extensions=[ext_strings.ExtStrings(), ext_optional.ExtOptional(), _kubernetes_lists()],
    )


# ------------------------------------------------------------------------------------ values


def _timestamp(text: str) -> Any:
    """A `date-time` string as the protobuf Timestamp CEL takes for a timestamp (the text when it
    does not parse; the schema check has refused such a value before rules run)."""
    m = _DATE_TIME.match(text)
    if not m:
        return text
    year, month, day, hour, minute, second = (int(g or 0) for g in m.groups()[:6])
    fraction, sign, off_h, off_m = m.group(7), m.group(8), m.group(9), m.group(10)
    try:
        moment = datetime.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return text
    seconds = calendar.timegm(moment.timetuple())
    if sign:
        offset = int(off_h) * 3600 + int(off_m) * 60
        seconds -= offset if sign == "+" else -offset
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=int((fraction or "0")[:9].ljust(9, "0")))


def _same(value: Any) -> Any:
    return value


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _date_time(value: Any) -> Any:
    return _timestamp(value) if isinstance(value, str) else value


def _object_meta(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value
    return {k: value[k] for k in ("name", "generateName") if k in value}


@dataclass
class _ViewBuilder:
    """Compiles schema nodes into `View`s, each node once per CRD version."""

    memo: dict[tuple[int, bool], tuple[View, tuple[str, ...]]]

    def view(
        self, schema: Mapping[str, Any], where: str, *, resource: bool
    ) -> tuple[View, tuple[str, ...]]:
        """The view of `schema`, and the fields below it of a format not modelled here."""
        key = (id(schema), resource)
        found = self.memo.get(key)
        if found is None:
            found = self._build(schema, where, resource)
            self.memo[key] = found
        return found

    def _build(
        self, schema: Mapping[str, Any], where: str, resource: bool
    ) -> tuple[View, tuple[str, ...]]:
        resource = resource or schema.get("x-kubernetes-embedded-resource") is True
        kind = schema.get("type")
        if schema.get("x-kubernetes-int-or-string") is True:
            return _same, ()
        if kind == "number":
            return _number, ()
        if kind == "string":
            fmt = schema.get("format")
            if fmt == "date-time":
                return _date_time, ()
            if fmt in _UNMODELLED_FORMATS:
                return _same, (f"{where} (format {fmt})",)
            return _same, ()
        if kind == "array":
            items = schema.get("items")
            if not isinstance(items, Mapping):
                return _same, ()
            item_view, odd = self.view(items, item(where, "*"), resource=False)
            return (lambda v: [item_view(x) for x in v] if isinstance(v, list) else v), odd
        if kind == "object" or resource:
            return self._object(schema, where, resource)
        return _same, ()  # integer, boolean, or untyped x-kubernetes-preserve-unknown-fields

    def _object(
        self, schema: Mapping[str, Any], where: str, resource: bool
    ) -> tuple[View, tuple[str, ...]]:
        props = schema.get("properties")
        additional = schema.get("additionalProperties")
        odd: list[str] = []
        if not isinstance(props, Mapping) and not resource:
            if isinstance(additional, Mapping):
                value_view, below = self.view(additional, f"{where}[*]", resource=False)
                odd.extend(below)
                return (
                    lambda v: (
                        {k: value_view(x) for k, x in v.items()} if isinstance(v, Mapping) else v
                    )
                ), tuple(odd)
            # no declared keys: the API server shows none of them to CEL
            return (lambda v: {} if isinstance(v, Mapping) else v), ()
        fields: list[tuple[str, str, View, bool, Any]] = []
        for name, sub in (props or {}).items():
            escaped = cel_field_name(str(name))
            if escaped is None or not isinstance(sub, Mapping):
                continue
            if resource and name in ("apiVersion", "kind", "metadata"):
                continue
            sub_view, below = self.view(sub, child(where, name), resource=False)
            odd.extend(below)
            fields.append((str(name), escaped, sub_view, "default" in sub, sub.get("default")))
        if resource:
            # Kubernetes' WithTypeAndObjectMeta: apiVersion, kind, metadata.name/generateName
            fields += [
                ("apiVersion", "apiVersion", _same, False, None),
                ("kind", "kind", _same, False, None),
                ("metadata", "metadata", _object_meta, False, None),
            ]
        frozen = tuple(fields)

        def view(value: Any) -> Any:
            if not isinstance(value, Mapping):
                return value
            out: dict[str, Any] = {}
            for name, escaped, sub_view, has_default, default in frozen:
                found = value.get(name, _MISSING)
                if found is _MISSING or (found is None and has_default):
                    if not has_default:
                        continue
                    found = default
                out[escaped] = sub_view(found)
            return out

        return view, tuple(odd)


# ------------------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    """One `x-kubernetes-validations` entry of a schema node, compiled.

    `note` is set when the rule is not evaluated offline (a transition rule, a function this
    environment lacks): why, in one line, to report once.
    """

    owner: str  # `Kind group/version`
    where: str  # the schema node, as a field path (`[*]` for every item or map value)
    rule: str
    message: str  # what a failure says: the message, or `failed rule: <rule>`
    error_text: str  # what an evaluation error names: the message, or the rule
    field_path: tuple[str, ...]
    program: Any
    message_program: Any
    transition: bool
    note: str | None

    @property
    def checked(self) -> bool:
        """True when this rule is evaluated offline."""
        return self.note is None

    def evaluate(self, cel_self: Any, path: str, errors: list[str], notes: list[str]) -> None:
        """Evaluate against `cel_self` (found at `path`), appending a failure to `errors`."""
        if self.note is not None:
            notes.append(self.note)
            return
        try:
            result = self.program.eval(data={"self": cel_self})
            kind, value = result.type(), result.value()
        except Exception as err:  # a custom function's Python error, or the binding's
            kind, value = cel.Type.ERROR, str(err)
        at = path
        if kind == cel.Type.ERROR:
            # in the API server's words where they differ only in wording
            problem = _NO_SUCH_KEY.sub(r"no such key: \1", _STATUS_CODE.sub("", str(value)))
            errors.append(_at(at, f"{problem} evaluating rule: {self.error_text}"))
            return
        if kind == cel.Type.BOOL and value is True:
            return
        for step in self.field_path:
            at = child(at, step)
        errors.append(_at(at, self._message(cel_self)))

    def _message(self, cel_self: Any) -> str:
        if self.message_program is None:
            return self.message
        try:
            result = self.message_program.eval(data={"self": cel_self})
            text = result.value() if result.type() == cel.Type.STRING else None
        except Exception:
            text = None
        if (
            not isinstance(text, str)
            or not text.strip()
            or "\n" in text
            or "\r" in text
            or len(text.encode()) > _MAX_MESSAGE_BYTES
        ):
            return self.message  # the API server falls back to the message too
        return text


def _at(path: str, message: str) -> str:
    return f"{path}: {message}" if path else message


def _field_path(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None or raw == "":
        return ()
    if not isinstance(raw, str):
        raise ManifestError(f"{where}: fieldPath must be a string")
    steps: list[str] = []
    pos = 0
    while pos < len(raw):
        m = _FIELD_PATH_STEP.match(raw, pos)
        if m is None:
            raise ManifestError(
                f"{where}: fieldPath {raw!r} is not a path of .field and ['key'] steps"
            )
        steps.append(m.group(1) if m.group(1) is not None else re.sub(r"\\(.)", r"\1", m.group(2)))
        pos = m.end()
    return tuple(steps)


def _compile(source: str, *, with_old_self: bool = False) -> tuple[Any, str | None]:
    """(program, None), or (None, the compiler's complaint)."""
    try:
        return _environment(with_old_self).compile(source), None
    except RuntimeError as err:
        return None, str(err)


def compile_rule(raw: Any, where: str, owner: str, unmodelled: tuple[str, ...] = ()) -> Rule:
    """Compile one `x-kubernetes-validations` entry found at `where` of `owner`'s schema."""
    at = f"{owner}: {where or '(root)'}"
    if not isinstance(raw, Mapping) or not isinstance(raw.get("rule"), str):
        raise ManifestError(f"{at}: x-kubernetes-validations entries need a rule string")
    text: str = raw["rule"]
    message = raw.get("message")
    if message is not None and not isinstance(message, str):
        raise ManifestError(f"{at}: the message of rule {text!r} must be a string")
    error_text = message.strip() if message else text.strip()
    failure = message.strip() if message else f"failed rule: {text.strip()}"
    field_path = _field_path(raw.get("fieldPath"), at)
    program, complaint = _compile(text)
    names = sorted(set(_UNDECLARED.findall(complaint or "")))
    transition, reason = False, None
    if "oldSelf" in names:
        program = None
        if raw.get("optionalOldSelf") is True:
            reason = "it reads oldSelf with optionalOldSelf, which is not modelled here"
        else:
            transition = True
    elif complaint is not None:
        if names:
            reason = f"it calls {', '.join(names)}, which this check does not implement"
        else:
            first = _STATUS_CODE.sub("", complaint.splitlines()[0])
            reason = f"it does not compile here ({first})"
    elif unmodelled:
        reason = (
            f"self holds {', '.join(unmodelled)}, which Kubernetes gives CEL as a typed value "
            "this check does not model"
        )
    if transition:
        note: str | None = (
            f"{at}: rule {text!r} is a transition rule (it reads oldSelf): the API server "
            "evaluates it only when an existing object is updated, so it is not checked offline"
        )
    elif reason is not None:
        note = f"{at}: rule {text!r} is not checked offline: {reason}; the API server checks it"
    else:
        note = None
    message_program = None
    expression = raw.get("messageExpression")
    if isinstance(expression, str) and expression.strip():
        message_program, _ = _compile(expression)
    return Rule(
        owner=owner,
        where=where,
        rule=text,
        message=failure,
        error_text=error_text,
        field_path=field_path,
        program=program,
        message_program=message_program,
        transition=transition,
        note=note,
    )


# ----------------------------------------------------------------------------------- the tree


@dataclass(frozen=True)
class RuleTree:
    """The rules of one schema node and the subtrees below it that hold rules."""

    rules: tuple[Rule, ...]
    view: View
    properties: Mapping[str, tuple[RuleTree, bool, Any]]  # name -> (subtree, has default, default)
    items: RuleTree | None
    additional: RuleTree | None
    declared: frozenset[str]  # every property of the node (additionalProperties are the rest)

    def check(self, value: Any, path: str, errors: list[str], notes: list[str]) -> None:
        """Evaluate every rule reached from `value` (found at `path`), defaults applied."""
        if value is None:
            return  # null values are not validated; their parent's rules can check them
        if self.rules:
            cel_self = self.view(value)
            for rule in self.rules:
                rule.evaluate(cel_self, path, errors, notes)
        if isinstance(value, Mapping):
            for name, (sub, has_default, default) in self.properties.items():
                found = value.get(name, _MISSING)
                if found is _MISSING or (found is None and has_default):
                    if not has_default:
                        continue
                    found = default
                sub.check(found, child(path, name), errors, notes)
            if self.additional is not None:
                for key, found in value.items():
                    if key not in self.declared:
                        self.additional.check(found, child(path, key), errors, notes)
        elif isinstance(value, list) and self.items is not None:
            for i, found in enumerate(value):
                self.items.check(found, item(path, i), errors, notes)

    def all_rules(self) -> Iterator[Rule]:
        """Every rule of this tree, the node's own first, then its children in schema order."""
        yield from self.rules
        for sub, _, _ in self.properties.values():
            yield from sub.all_rules()
        for sub_tree in (self.items, self.additional):
            if sub_tree is not None:
                yield from sub_tree.all_rules()


def compile_rules(
    schema: Mapping[str, Any], owner: str, *, status_subresource: bool = False
) -> RuleTree | None:
    """The rules of a CRD version's `openAPIV3Schema`, compiled; None when it has none."""
    builder = _ViewBuilder(memo={})
    skip = frozenset({"status"}) if status_subresource else frozenset()
    return _tree(schema, "", owner, builder, root=True, skip=skip)


def _tree(
    schema: Any,
    where: str,
    owner: str,
    builder: _ViewBuilder,
    *,
    root: bool = False,
    skip: frozenset[str] = frozenset(),
) -> RuleTree | None:
    if not isinstance(schema, Mapping):
        return None
    raw_rules: list[Any] = []
    own = schema.get("x-kubernetes-validations")
    if own is not None and not isinstance(own, list):
        raise ManifestError(
            f"{owner}: {where or '(root)'}: x-kubernetes-validations must be a list"
        )
    raw_rules.extend(own or [])
    # the API server runs the rules of allOf branches at the node itself
    for branch in schema.get("allOf") or []:
        if isinstance(branch, Mapping):
            raw_rules.extend(branch.get("x-kubernetes-validations") or [])
    props = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
    assert isinstance(props, Mapping)
    children: dict[str, tuple[RuleTree, bool, Any]] = {}
    for name, sub in props.items():
        if name in skip:
            continue
        subtree = _tree(sub, child(where, name), owner, builder)
        if subtree is not None:
            children[str(name)] = (subtree, "default" in sub, sub.get("default"))
    items = _tree(schema.get("items"), item(where, "*"), owner, builder)
    additional = _tree(schema.get("additionalProperties"), f"{where}[*]", owner, builder)
    if not raw_rules and not children and items is None and additional is None:
        return None
    rules: tuple[Rule, ...] = ()
    view: View = _same
    if raw_rules:
        view, unmodelled = builder.view(schema, where, resource=root)
        rules = tuple(compile_rule(raw, where, owner, unmodelled) for raw in raw_rules)
    return RuleTree(
        rules=rules,
        view=view,
        properties=children,
        items=items,
        additional=additional,
        declared=frozenset(str(k) for k in props),
    )
