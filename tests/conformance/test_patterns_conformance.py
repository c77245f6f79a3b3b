"""Conformance of the event-pattern language with Amazon EventBridge.

Every case in ``patterns/*.json`` (format in ``README.md``) is checked against three
independent paths: ``EventPattern.matches``, the slow ``reference_matches`` and one
``Matcher`` holding every valid pattern of the corpus at once. Invalid patterns must be
refused with ``InvalidEventPattern`` by both ``EventPattern`` and ``Matcher.add``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clientevents.patterns import EventPattern, InvalidEventPattern, Matcher
from clientevents.patterns.reference import reference_matches

CASES_DIR = Path(__file__).parent / "patterns"
MIN_CASES = 200

Case = dict[str, Any]

# Operator forms that must each appear in a matching case, a non-matching case and (for the
# keywords) an invalid case. See ``operator_forms`` for how a pattern is classified.
MATCH_FORMS = frozenset(
    {
        "exact/string",
        "exact/number",
        "exact/boolean",
        "exact/null",
        "prefix",
        "prefix/equals-ignore-case",
        "suffix",
        "suffix/equals-ignore-case",
        "equals-ignore-case",
        "wildcard",
        "anything-but/value",
        "anything-but/list",
        "anything-but/prefix",
        "anything-but/suffix",
        "anything-but/wildcard",
        "anything-but/equals-ignore-case",
        "numeric",
        "exists",
        "cidr",
        "$or",
    }
)
INVALID_FORMS = frozenset(
    {
        "prefix",
        "suffix",
        "equals-ignore-case",
        "wildcard",
        "anything-but",
        "numeric",
        "exists",
        "cidr",
        "$or",
    }
)
CASE_KEYS = frozenset(
    {
        "name",
        "pattern",
        "pattern_text",
        "event",
        "matches",
        "invalid",
        "error_contains",
        "source",
        "note",
    }
)


def load_cases() -> list[Case]:
    """Every case of every file in ``patterns/``, in file then file order."""
    cases: list[Case] = []
    for path in sorted(CASES_DIR.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for case in document["cases"]:
            cases.append({**case, "_file": path.name})
    return cases


CASES = load_cases()
MATCH_CASES = [case for case in CASES if not case.get("invalid")]
INVALID_CASES = [case for case in CASES if case.get("invalid")]


def pattern_of(case: Case) -> Any:
    """The pattern as the case gives it: ``pattern_text`` when present, else ``pattern``."""
    return case["pattern_text"] if "pattern_text" in case else case["pattern"]


def parsed_pattern_of(case: Case) -> Any:
    """The pattern as a parsed JSON value (``pattern_text`` decoded the way JSON decodes it)."""
    return json.loads(case["pattern_text"]) if "pattern_text" in case else case["pattern"]


def ids(cases: list[Case]) -> list[str]:
    return [case["name"] for case in cases]


class CorpusMatcher:
    """One Matcher holding every valid corpus pattern, each under its case name."""

    def __init__(self) -> None:
        self.matcher = Matcher()
        self.rejected: dict[str, str] = {}
        for case in MATCH_CASES:
            try:
                self.matcher.add(case["name"], pattern_of(case))
            except InvalidEventPattern as exc:
                self.rejected[case["name"]] = str(exc)


@pytest.fixture(scope="module")
def corpus_matcher() -> CorpusMatcher:
    return CorpusMatcher()


@pytest.mark.parametrize("case", MATCH_CASES, ids=ids(MATCH_CASES))
def test_matching_case(case: Case, corpus_matcher: CorpusMatcher) -> None:
    expected: bool = case["matches"]
    event: dict[str, Any] = case["event"]
    try:
        pattern = EventPattern(pattern_of(case))
    except InvalidEventPattern as exc:
        pytest.fail(f"valid pattern refused by EventPattern: {exc}")
    assert pattern.matches(event) is expected, "EventPattern.matches"
    explanation = pattern.explain(event)
    assert isinstance(explanation, list), "EventPattern.explain returns a list"
    assert (explanation == []) is expected, "EventPattern.explain is empty exactly when it matches"
    assert reference_matches(parsed_pattern_of(case), event) is expected, "reference_matches"
    name = case["name"]
    refused = corpus_matcher.rejected.get(name)
    assert refused is None, f"valid pattern refused by Matcher.add: {refused}"
    found = name in corpus_matcher.matcher.matches_for_event(event)
    assert found is expected, "Matcher.matches_for_event (all corpus patterns loaded)"


@pytest.mark.parametrize("case", INVALID_CASES, ids=ids(INVALID_CASES))
def test_invalid_case(case: Case) -> None:
    needle = case["error_contains"].lower()
    with pytest.raises(InvalidEventPattern) as by_pattern:
        EventPattern(pattern_of(case))
    assert needle in str(by_pattern.value).lower(), f"EventPattern error {str(by_pattern.value)!r}"

    matcher = Matcher()
    matcher.add("unrelated", {"source": ["conformance"]})
    with pytest.raises(InvalidEventPattern) as by_matcher:
        matcher.add(case["name"], pattern_of(case))
    assert needle in str(by_matcher.value).lower(), f"Matcher.add error {str(by_matcher.value)!r}"
    assert matcher.matches_for_event({"source": "conformance"}) == {"unrelated"}, (
        "a refused pattern leaves the Matcher unchanged"
    )


def test_invalid_event_pattern_is_a_value_error() -> None:
    assert issubclass(InvalidEventPattern, ValueError)


def test_removed_patterns_stop_matching() -> None:
    """Removing every other corpus pattern removes exactly those names from the results."""
    matcher = Matcher()
    for case in MATCH_CASES:
        matcher.add(case["name"], pattern_of(case))
    removed = {case["name"] for case in MATCH_CASES[::2]}
    for name in sorted(removed):
        matcher.remove(name)
    for case in MATCH_CASES:
        found = case["name"] in matcher.matches_for_event(case["event"])
        assert found is (case["matches"] and case["name"] not in removed), case["name"]


# ---------------------------------------------------------------------------- the corpus itself


def operator_forms(value: Any) -> Iterator[str]:
    """The operator forms used anywhere in a (possibly malformed) pattern value."""
    if isinstance(value, dict):
        for key, member in value.items():
            if key == "$or":
                yield "$or"
                if isinstance(member, list):
                    for branch in member:
                        yield from operator_forms(branch)
            elif isinstance(member, list):
                for item in member:
                    yield from leaf_forms(item)
            else:
                yield from operator_forms(member)


def leaf_forms(item: Any) -> Iterator[str]:
    if isinstance(item, bool):
        yield "exact/boolean"
    elif item is None:
        yield "exact/null"
    elif isinstance(item, int | float):
        yield "exact/number"
    elif isinstance(item, str):
        yield "exact/string"
    elif isinstance(item, dict):
        for op, operand in item.items():
            yield op
            if op == "anything-but":
                if isinstance(operand, dict):
                    yield from (f"anything-but/{sub}" for sub in operand)
                elif isinstance(operand, list):
                    yield "anything-but/list"
                else:
                    yield "anything-but/value"
            elif op in {"prefix", "suffix"} and isinstance(operand, dict):
                yield from (f"{op}/{sub}" for sub in operand)


def forms_of(cases: list[Case]) -> set[str]:
    found: set[str] = set()
    for case in cases:
        try:
            found.update(operator_forms(parsed_pattern_of(case)))
        except ValueError:
            continue  # malformed pattern text
    return found


def test_corpus_size() -> None:
    assert len(CASES) >= MIN_CASES, f"only {len(CASES)} cases"


def test_case_names_are_unique() -> None:
    names = [case["name"] for case in CASES]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, duplicates


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_case_shape(case: Case) -> None:
    unknown = set(case) - CASE_KEYS - {"_file"}
    assert not unknown, f"unknown keys {sorted(unknown)}"
    assert isinstance(case["name"], str) and case["name"].startswith(case["_file"][:-5] + "/")
    assert ("pattern" in case) != ("pattern_text" in case), "exactly one of pattern, pattern_text"
    if "pattern_text" in case:
        assert isinstance(case["pattern_text"], str)
    assert isinstance(case["source"], str) and case["source"].strip()
    if "note" in case:
        assert isinstance(case["note"], str) and case["note"].strip()
    if case.get("invalid"):
        assert case["invalid"] is True
        assert isinstance(case["error_contains"], str) and case["error_contains"].strip()
        assert "event" not in case and "matches" not in case
    else:
        assert isinstance(case["event"], dict)
        assert isinstance(case["matches"], bool)
        assert "error_contains" not in case


def test_every_operator_form_matches_and_fails() -> None:
    matching = forms_of([case for case in MATCH_CASES if case["matches"]])
    failing = forms_of([case for case in MATCH_CASES if not case["matches"]])
    assert not MATCH_FORMS - matching, f"never matching: {sorted(MATCH_FORMS - matching)}"
    assert not MATCH_FORMS - failing, f"never failing: {sorted(MATCH_FORMS - failing)}"


def test_every_operator_has_invalid_cases() -> None:
    invalid = forms_of(INVALID_CASES)
    assert not INVALID_FORMS - invalid, f"no invalid case: {sorted(INVALID_FORMS - invalid)}"
