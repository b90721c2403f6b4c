"""Tests of components/crd_rules.py: CEL rules of CRDs, evaluated offline.

The corpus (tests/cel_corpus.py) gives each object the verdict kube-apiserver 1.34 gives it
(tests/integration/test_cel_rules.py checks that against a real one); here the offline check must
give the same, without a server. Smaller hand-written CRDs cover what is not checked offline and
how it is reported.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.common.errors import ManifestError
from components.flux_release import crd_rules, crds
from components.flux_release.crd_rules import cel_field_name
from components.flux_release.crds import CrdSchemas, for_manifest
from tests import cel_corpus
from tests.flux_testdata import manifest

RELEASES = ("v2.7.5", "v2.8.8", "v2.9.4")


def _offline(schemas: CrdSchemas, obj: dict[str, Any]) -> tuple[list[str], list[str]]:
    verdict = schemas.check(obj)
    meta = obj["metadata"]
    prefix = f"{obj['kind']} {meta['namespace']}/{meta['name']}: "
    return [e.removeprefix(prefix) for e in verdict.errors], list(verdict.unchecked)


def _crd(spec: dict[str, Any], **version: Any) -> dict[str, Any]:
    crd = cel_corpus.widget_crd()
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    del schema["x-kubernetes-validations"]
    schema["properties"]["spec"] = spec
    crd["spec"]["versions"][0].update(version)
    return crd


def _obj(spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**cel_corpus.widget(), "spec": spec, **extra}


# ------------------------------------------------------------------------------ Flux releases


@pytest.mark.parametrize("release", RELEASES)
def test_every_rule_of_the_release_is_compiled_and_evaluated_offline(release: str) -> None:
    schemas = for_manifest(manifest(release))
    found = [(r.owner.split()[0], r.where, r.rule) for r in schemas.rules()]
    expected = [(r.kind, r.where, r.rule) for r in cel_corpus.flux_rules(release)]
    assert sorted(found) == sorted(expected)
    assert {"v2.7.5": 26, "v2.8.8": 17, "v2.9.4": 21}[release] == len(found)
    assert [r.note for r in schemas.rules() if not r.checked] == []


@pytest.mark.parametrize("release", RELEASES)
def test_flux_corpus_offline(release: str) -> None:
    schemas = for_manifest(manifest(release))
    cases = cel_corpus.flux_cases(release)
    wrong = []
    for case in cases:
        errors, unchecked = _offline(schemas, case.obj)
        if tuple(errors) != case.fails or unchecked:
            wrong.append(f"{case.name}: {errors} {unchecked}, expected {list(case.fails)}")
    assert not wrong, "\n".join(wrong)
    # both verdicts for every rule
    assert {c.valid for c in cases} == {True, False}


def test_a_rule_without_corpus_entry_fails_the_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = dict(cel_corpus.FLUX_RULES)
    del rules[("HelmRelease", "!has(self.retryInterval) || self.name == 'RetryOnFailure'")]
    monkeypatch.setattr(cel_corpus, "FLUX_RULES", rules)
    with pytest.raises(cel_corpus.MissingCases, match="RetryOnFailure"):
        cel_corpus.flux_cases("v2.9.4")


def test_bucket_provider_default_applies_before_the_rules() -> None:
    schemas = for_manifest(manifest("v2.9.4"))
    obj = cel_corpus.flux_object(
        "Bucket",
        "source.toolkit.fluxcd.io",
        "v1",
        "b",
        {**cel_corpus.BASE_SPECS["Bucket"], "serviceAccountName": "reader"},
    )
    assert _offline(schemas, obj)[0] == [
        "spec: ServiceAccountName is not supported for the 'generic' Bucket provider"
    ]


def test_schema_errors_come_first_and_alone() -> None:
    """Like the API server: rules do not run on an object its schema refuses."""
    schemas = for_manifest(manifest("v2.9.4"))
    obj = cel_corpus.flux_object(
        "HelmRelease", "helm.toolkit.fluxcd.io", "v2", "x", {"interval": "5 minutes"}
    )
    errors, _ = _offline(schemas, obj)
    assert len(errors) == 1 and errors[0].startswith("spec.interval: '5 minutes' does not match")
    del obj["spec"]["interval"]
    obj["spec"]["interval"] = "5m"
    assert _offline(schemas, obj)[0] == ["spec: either chart or chartRef must be set"]


def test_rules_are_compiled_once_per_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = crd_rules.compile_rule

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0]["rule"])
        return original(*args, **kwargs)

    monkeypatch.setattr(crd_rules, "compile_rule", counting)
    monkeypatch.setattr(crds, "_cache", type(crds._cache)())
    m = manifest("v2.8.8")
    schemas = for_manifest(m)
    for case in cel_corpus.flux_cases("v2.8.8"):
        schemas.check(case.obj)
    assert for_manifest(m) is schemas
    assert len(calls) == 17


# ------------------------------------------------------------------- Kubernetes' CEL, offline


def test_widget_corpus_offline() -> None:
    schemas = CrdSchemas.from_documents([cel_corpus.widget_crd()])
    wrong = []
    for case in cel_corpus.widget_cases():
        errors, unchecked = _offline(schemas, case.obj)
        if tuple(errors) != case.fails or len(unchecked) != len(case.unchecked):
            wrong.append(f"{case.name}: {errors} {unchecked}, expected {list(case.fails)}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("plain", "plain"),
        ("dash-name", "dash__dash__name"),
        ("a.b/c", "a__dot__b__slash__c"),
        ("two__under", "two__underscores__under"),
        ("___", "__underscores___"),
        ("namespace", "__namespace__"),
        ("if", "__if__"),
        ("1st", None),
        ("with space", None),
        ("ünïcode", None),
        ("", None),
    ],
)
def test_property_names_are_escaped_as_kubernetes_does(name: str, escaped: str | None) -> None:
    assert cel_field_name(name) == escaped


INT = {"type": "integer"}
NUMBER = {"type": "number"}
STRING = {"type": "string"}
INT_OR_STRING = {"x-kubernetes-int-or-string": True}


@pytest.mark.parametrize(
    ("items", "rule", "values", "outcome"),
    [
        (NUMBER, "self.isSorted()", [1, 2.5, 3], True),
        (STRING, "self.isSorted()", ["a", "b", "b"], True),
        (STRING, "self.isSorted()", ["b", "a"], False),
        (INT_OR_STRING, "self.isSorted()", [1, "a"], "no such overload"),
        (INT, "self.sum() == 6", [1, 2, 3], True),
        (INT, "self.sum() == 0", [], True),
        (NUMBER, "self.sum() == 3.0", [1.5, 1.5], True),
        (NUMBER, "self.sum() == 3.0", [1, 2], True),  # JSON integers are doubles here
        (INT_OR_STRING, "self.sum() == 3", [1, "2"], "no such overload"),
        (INT, "self.min() == 1 && self.max() == 3", [3, 1, 2], True),
        (INT, "self.min() == 1", [], "min called on empty list"),
        (INT, "self.max() == 1", [], "max called on empty list"),
        (INT, "self.indexOf(2) == 1 && self.lastIndexOf(2) == 3", [1, 2, 3, 2], True),
        (INT, "self.indexOf(7) == -1 && self.lastIndexOf(7) == -1", [1], True),
        (INT_OR_STRING, "self.indexOf(1) == 1", ["1", 1], True),
        ({"type": "array", "items": INT}, "self.indexOf([1]) == 1", [[2], [1]], True),
    ],
)
def test_kubernetes_list_functions(
    items: dict[str, Any], rule: str, values: list[Any], outcome: bool | str
) -> None:
    spec = {
        "type": "object",
        "properties": {
            "list": {
                "type": "array",
                "items": items,
                "x-kubernetes-validations": [{"rule": rule, "message": "no"}],
            }
        },
    }
    schemas = CrdSchemas.from_documents([_crd(spec)])
    errors, _ = _offline(schemas, _obj({"list": values}))
    if outcome is True:
        assert errors == []
    elif outcome is False:
        assert errors == ["spec.list: no"]
    else:
        assert len(errors) == 1 and outcome in errors[0] and "evaluating rule: no" in errors[0]


def test_message_expression_falls_back_to_the_message() -> None:
    spec = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "x-kubernetes-validations": [
            {"rule": "self.n < 5", "messageExpression": "'n is ' + string(self.n)"},
            {"rule": "self.n < 4", "messageExpression": "' '", "message": "blank"},
            {"rule": "self.n < 3", "messageExpression": "'two\\nlines'"},
            {"rule": "self.n < 2", "messageExpression": "self.n", "message": "not a string"},
            {"rule": "self.n < 1", "messageExpression": "isURL('x') ? 'a' : 'b'", "message": "m"},
        ],
    }
    schemas = CrdSchemas.from_documents([_crd(spec)])
    errors, unchecked = _offline(schemas, _obj({"n": 7}))
    assert errors == [
        "spec: n is 7",
        "spec: blank",
        "spec: failed rule: self.n < 3",
        "spec: not a string",
        "spec: m",
    ]
    assert unchecked == []


def test_field_path_moves_the_message_and_must_be_a_path() -> None:
    spec = {
        "type": "object",
        "properties": {"a": {"type": "object", "properties": {"b.c": {"type": "string"}}}},
        "x-kubernetes-validations": [
            {"rule": "false", "message": "here", "fieldPath": ".a['b.c']"},
        ],
    }
    schemas = CrdSchemas.from_documents([_crd(spec)])
    assert _offline(schemas, _obj({"a": {}}))[0] == ["spec.a[b.c]: here"]
    spec["x-kubernetes-validations"][0]["fieldPath"] = "a[0]"
    with pytest.raises(ManifestError, match="fieldPath 'a\\[0\\]' is not a path"):
        CrdSchemas.from_documents([_crd(spec)])


def test_malformed_rules_are_refused_naming_the_crd() -> None:
    spec = {"type": "object", "x-kubernetes-validations": [{"message": "no rule"}]}
    with pytest.raises(ManifestError, match=r"Widget cel.fluxboot.test/v1: spec: .*rule string"):
        CrdSchemas.from_documents([_crd(spec)])


def test_rules_in_allof_branches_and_under_map_values_run() -> None:
    spec = {
        "type": "object",
        "properties": {
            "m": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"n": {"type": "integer", "default": 9}},
                    "allOf": [{"x-kubernetes-validations": [{"rule": "self.n < 5"}]}],
                },
            }
        },
    }
    schemas = CrdSchemas.from_documents([_crd(spec)])
    errors, _ = _offline(schemas, _obj({"m": {"ok": {"n": 1}, "odd key": {}}}))
    assert errors == ["spec.m[odd key]: failed rule: self.n < 5"]


def test_null_values_are_not_validated_but_nullable_nulls_are_seen() -> None:
    spec = {
        "type": "object",
        "properties": {
            "s": {
                "type": "string",
                "nullable": True,
                "x-kubernetes-validations": [{"rule": "self != 'x'"}],
            }
        },
        "x-kubernetes-validations": [{"rule": "self.s == null", "message": "s must be null"}],
    }
    schemas = CrdSchemas.from_documents([_crd(spec)])
    assert _offline(schemas, _obj({"s": None}))[0] == []
    assert _offline(schemas, _obj({"s": "x"}))[0] == [
        "spec: s must be null",
        "spec.s: failed rule: self != 'x'",
    ]


def test_metadata_shows_only_name_and_generate_name() -> None:
    crd = _crd({"type": "object"})
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["x-kubernetes-validations"] = [
        {"rule": "!has(self.metadata.labels)", "message": "labels are hidden from CEL"},
        {"rule": "self.metadata.name == 'w-one'", "message": "name is seen"},
    ]
    schemas = CrdSchemas.from_documents([crd])
    obj = _obj({})
    obj["metadata"]["labels"] = {"a": "b"}
    assert _offline(schemas, obj)[0] == []
    obj["metadata"]["name"] = "w-two"
    assert _offline(schemas, obj)[0] == ["name is seen"]


def test_rules_under_status_do_not_judge_a_manifest_with_the_status_subresource() -> None:
    crd = _crd({"type": "object"}, subresources={"status": {}})
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["status"] = {
        "type": "object",
        "properties": {"phase": {"type": "string"}},
        "x-kubernetes-validations": [{"rule": "self.phase == 'Ready'"}],
    }
    schema["x-kubernetes-validations"] = [{"rule": "!has(self.status)", "message": "dropped"}]
    obj = _obj({}, status={"phase": "Failed"})
    assert _offline(CrdSchemas.from_documents([crd]), obj)[0] == []
    del crd["spec"]["versions"][0]["subresources"]
    assert _offline(CrdSchemas.from_documents([crd]), obj)[0] == [
        "dropped",
        "status: failed rule: self.phase == 'Ready'",
    ]


# --------------------------------------------------------------- what is not checked offline


def _unchecked_crd() -> dict[str, Any]:
    return _crd(
        {
            "type": "object",
            "properties": {
                "link": {
                    "type": "object",
                    "properties": {"url": {"type": "string"}},
                    "x-kubernetes-validations": [
                        {"rule": "!has(self.url) || isURL(self.url)", "message": "url is a URL"}
                    ],
                },
                "window": {
                    "type": "object",
                    "properties": {"timeout": {"type": "string", "format": "duration"}},
                    # every rule whose self holds the duration: this one reads it, a rule that
                    # does not is not told apart (the binding takes no lazy values)
                    "x-kubernetes-validations": [
                        {"rule": "!has(self.timeout) || self.timeout > duration('1s')"}
                    ],
                },
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"q": {"type": "string"}},
                        "x-kubernetes-validations": [
                            {"rule": "!has(self.q) || quantity(self.q).isInteger()"}
                        ],
                    },
                },
                "immutable": {
                    "type": "string",
                    "x-kubernetes-validations": [{"rule": "self == oldSelf"}],
                },
                "ratchet": {
                    "type": "string",
                    "x-kubernetes-validations": [
                        {"rule": "!oldSelf.hasValue() || self == 'x'", "optionalOldSelf": True}
                    ],
                },
                "count": {
                    "type": "integer",
                    "x-kubernetes-validations": [
                        {"rule": "self >= 0", "message": "a rule that is checked"}
                    ],
                },
            },
        }
    )


def test_rules_not_checked_offline_are_reported_once_each_never_passed_silently() -> None:
    schemas = CrdSchemas.from_documents([_unchecked_crd()])
    spec = {
        "link": {"url": "not a url"},
        "window": {"timeout": "1s"},
        "items": [{"q": "1.5"}, {"q": "2"}, {"q": "x"}],
        "immutable": "a",
        "ratchet": "y",
        "count": 1,
    }
    errors, notes = _offline(schemas, _obj(spec))
    assert errors == []
    owner = "Widget cel.fluxboot.test/v1"
    assert notes == [
        f"{owner}: spec.link: rule '!has(self.url) || isURL(self.url)' is not checked offline: "
        "it calls isURL, which this check does not implement; the API server checks it",
        f"{owner}: spec.window: rule \"!has(self.timeout) || self.timeout > duration('1s')\" is "
        "not checked offline: self holds spec.window.timeout (format duration), which Kubernetes "
        "gives CEL as a typed value this check does not model; the API server checks it",
        f"{owner}: spec.items[*]: rule '!has(self.q) || quantity(self.q).isInteger()' is not "
        "checked offline: it calls isInteger, quantity, which this check does not implement; the "
        "API server checks it",
        f"{owner}: spec.immutable: rule 'self == oldSelf' is a transition rule (it reads "
        "oldSelf): the API server evaluates it only when an existing object is updated, so it is "
        "not checked offline",
        f"{owner}: spec.ratchet: rule \"!oldSelf.hasValue() || self == 'x'\" is not checked "
        "offline: it reads oldSelf with optionalOldSelf, which is not modelled here; the API "
        "server checks it",
    ]
    assert [r.rule for r in schemas.rules() if r.checked] == ["self >= 0"]
    assert [r.rule for r in schemas.rules() if r.transition] == ["self == oldSelf"]


def test_a_note_only_for_rules_the_object_reaches() -> None:
    schemas = CrdSchemas.from_documents([_unchecked_crd()])
    errors, notes = _offline(schemas, _obj({"link": {}, "items": []}))
    assert errors == [] and len(notes) == 1 and "isURL" in notes[0]


def test_a_checked_rule_still_fails_beside_unchecked_ones() -> None:
    schemas = CrdSchemas.from_documents([_unchecked_crd()])
    errors, notes = _offline(schemas, _obj({"link": {"url": "x"}, "count": -1}))
    assert errors == ["spec.count: a rule that is checked"]
    assert len(notes) == 1


def test_rule_objects_are_not_shared_with_the_input() -> None:
    """Compiling keeps no reference into the caller's CRD that a later edit could change."""
    crd = _crd(
        {
            "type": "object",
            "properties": {"n": {"type": "integer", "default": 1}},
            "x-kubernetes-validations": [{"rule": "self.n == 1", "message": "one"}],
        }
    )
    original = copy.deepcopy(crd)
    schemas = CrdSchemas.from_documents([crd])
    assert _offline(schemas, _obj({}))[0] == []
    assert crd == original
