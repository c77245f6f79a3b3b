"""Matcher add/remove/replace semantics, explain output, and concurrent readers."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from clientevents.patterns import EventPattern, InvalidEventPattern, Matcher

SAMPLE: dict[str, Any] = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "prod",
    "source": "clientevents",
    "resources": ["0f6c3c0e-1b7a-4a8e-9d61-2f5c7a8b9e10"],
    "detail": {"eventType": "loyaltypurchase", "schemaVersion": 2, "data": {"itemSku": 123}},
}


def test_add_accepts_dict_text_and_event_pattern() -> None:
    m = Matcher()
    m.add("dict", {"source": ["clientevents"]})
    m.add("text", '{"detail": {"eventType": ["loyaltypurchase"]}}')
    m.add("compiled", EventPattern({"detail": {"data": {"itemSku": [123]}}}))
    m.add("miss", {"source": ["other"]})
    assert m.matches_for_event(SAMPLE) == {"dict", "text", "compiled"}
    assert len(m) == 4 and "miss" in m and m.names() == ["dict", "text", "compiled", "miss"]
    assert m.pattern("dict") == EventPattern({"source": ["clientevents"]})


def test_add_with_an_existing_name_replaces_the_rule() -> None:
    m = Matcher()
    m.add("r", {"source": ["clientevents"]})
    assert m.matches_for_event(SAMPLE) == {"r"}
    m.add("r", {"source": ["other"]})
    assert m.matches_for_event(SAMPLE) == set()
    assert len(m) == 1
    m.add("r", {"detail": {"eventType": ["loyaltypurchase"]}})
    assert m.matches_for_event(SAMPLE) == {"r"}


def test_remove() -> None:
    m = Matcher()
    m.add("a", {"source": ["clientevents"]})
    m.add("b", {"source": ["clientevents"]})
    assert m.remove("a") is True
    assert m.remove("a") is False
    assert m.matches_for_event(SAMPLE) == {"b"}
    assert m.remove("b") is True
    assert m.matches_for_event(SAMPLE) == set() and len(m) == 0
    m.add("a", {"source": ["clientevents"]})
    assert m.matches_for_event(SAMPLE) == {"a"}


def test_invalid_pattern_leaves_the_matcher_unchanged() -> None:
    m = Matcher()
    m.add("r", {"source": ["clientevents"]})
    with pytest.raises(InvalidEventPattern):
        m.add("r", {"source": "clientevents"})
    assert m.matches_for_event(SAMPLE) == {"r"}


def test_rules_sharing_states_are_independent() -> None:
    m = Matcher()
    m.add("two", {"source": ["clientevents", "other"], "detail": {"schemaVersion": [2]}})
    m.add("one", {"source": ["other"], "detail": {"schemaVersion": [2]}})
    m.add("absent", {"source": ["clientevents"], "detail": {"nope": [{"exists": False}]}})
    m.add("or", {"$or": [{"source": ["clientevents"]}, {"detail": {"schemaVersion": [2]}}]})
    assert m.matches_for_event(SAMPLE) == {"two", "absent", "or"}
    m.remove("two")
    assert m.matches_for_event(SAMPLE) == {"absent", "or"}
    m.remove("or")
    m.remove("absent")
    assert m.matches_for_event(SAMPLE) == set()
    assert m.matches_for_event({**SAMPLE, "source": "other"}) == {"one"}


def test_explain_names_each_failing_field() -> None:
    p = EventPattern(
        {
            "source": ["clientevents"],
            "detail": {
                "eventType": [{"prefix": "loyalty"}],
                "schemaVersion": [{"numeric": [">", 2]}],
                "data": {"itemSku": [1, 2]},
                "missing": [{"exists": True}],
            },
        }
    )
    assert p.explain(SAMPLE) == [
        {"path": "detail.data.itemSku", "wanted": [1, 2], "had": [123]},
        {"path": "detail.missing", "wanted": [{"exists": True}], "had": []},
        {"path": "detail.schemaVersion", "wanted": [{"numeric": [">", 2]}], "had": [2]},
    ]
    assert EventPattern({"source": ["clientevents"]}).explain(SAMPLE) == []


def test_explain_picks_the_closest_or_branch_and_reports_arrays() -> None:
    p = EventPattern({"$or": [{"a": ["x"], "b": ["y"]}, {"c": ["z"]}]})
    assert p.explain({"a": "x", "b": "n", "c": "n"}) == [
        {"path": "b", "wanted": ["y"], "had": ["n"]}
    ]
    p = EventPattern({"e": {"f": ["Anna"], "l": ["Jones"]}})
    failures = p.explain({"e": [{"f": "Anna", "l": "Smith"}, {"f": "Peter", "l": "Jones"}]})
    assert [f["path"] for f in failures] == ["e.f", "e.l"]
    assert all("different elements" in f["note"] for f in failures)


def test_explain_and_the_matcher_treat_dotted_names_as_nested_paths() -> None:
    # A dotted pattern key names the nested field, and a dotted event key is found by a
    # nested pattern: EventBridge joins nested names with dots.
    p = EventPattern({"detail": {"state.status": ["running"]}})
    assert p.explain({"detail": {"state": {"status": "stopped"}}}) == [
        {"path": "detail.state.status", "wanted": ["running"], "had": ["stopped"]}
    ]
    assert p.explain({"detail": {"state": {"status": "running"}}}) == []
    m = Matcher()
    m.add("dotted", {"detail": {"state.status": ["running"]}})
    m.add("nested", {"detail": {"state": {"status": ["running"]}}})
    m.add("deeper", {"detail.state": {"status.code": [16]}})
    for event in (
        {"detail": {"state": {"status": "running"}}},
        {"detail": {"state.status": "running"}},
        {"detail.state.status": "running"},
    ):
        assert m.matches_for_event(event) == {"dotted", "nested"}, event
    assert m.matches_for_event({"detail": {"state.status": {"code": 16}}}) == {"deeper"}
    m.remove("deeper")
    assert m.matches_for_event({"detail": {"state.status": {"code": 16}}}) == set()


def test_matching_while_rules_change_in_another_thread() -> None:
    # Given a stable rule and a writer that keeps adding, replacing and removing others
    m = Matcher()
    m.add("stable", {"source": ["clientevents"]})
    errors: list[BaseException] = []
    stop = threading.Event()
    seen: set[str] = set()

    def reader() -> None:
        try:
            while not stop.is_set():
                names = m.matches_for_event(SAMPLE)
                assert "stable" in names, names
                assert names <= {"stable"} | {f"r{i}" for i in range(200)}, names
                seen.update(names)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(4)]
    for t in readers:
        t.start()
    # When rules churn
    for round_ in range(3):
        for i in range(200):
            m.add(
                f"r{i}",
                {
                    "detail": {
                        "schemaVersion": [2],
                        "data": {"itemSku": [{"numeric": [">", i - round_]}]},
                    }
                },
            )
        for i in range(0, 200, 2):
            m.add(f"r{i}", {"source": [{"prefix": "client"}], "resources": [{"exists": True}]})
        for i in range(200):
            m.remove(f"r{i}")
    stop.set()
    for t in readers:
        t.join()
    # Then readers never failed, and the final state has only the stable rule
    assert not errors, errors[0]
    assert m.matches_for_event(SAMPLE) == {"stable"}
