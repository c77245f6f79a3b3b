"""The generator's parts: entries, choices, schedule, counts and percentiles."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from clientevents.cli.generate import parse_duration
from clientevents.client import IngestAnswer
from clientevents.generator import (
    ENTRIES,
    EVENT_TYPES,
    MALFORMED_SHOPPING,
    EntryPicker,
    GeneratorOptions,
    LatencyHistogram,
    Stats,
    usernames,
)

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "ingest-request.json"


def test_the_five_entries_are_the_reference_requests_exactly() -> None:
    sample = [e["entry"] for e in json.loads(SAMPLE.read_text())["entries"]]
    assert list(ENTRIES.values()) == sample
    assert EVENT_TYPES == ("shopping", "searching", "paging", "purchase", "loyaltypurchase")
    for text in ENTRIES.values():
        json.loads(text)
    with pytest.raises(ValueError):
        json.loads(MALFORMED_SHOPPING)


def test_choices_follow_loyalty_and_errors() -> None:
    plain = Counter(kind for kind, _ in EntryPicker(loyalty=False, errors=False, seed=1)
                    .pick(2000))
    assert set(plain) == {"shopping", "searching", "paging", "purchase"}
    everything = Counter(kind for kind, _ in EntryPicker(loyalty=True, errors=True, seed=1)
                         .pick(3000))
    assert set(everything) == {*EVENT_TYPES, "shopping (malformed)"}
    assert min(everything.values()) > 300  # uniform, as the blueprint's random.choice
    picked = dict(EntryPicker(loyalty=False, errors=True, seed=2).pick(200))
    assert picked["shopping (malformed)"] == MALFORMED_SHOPPING
    # A seed makes a run repeatable.
    assert EntryPicker(loyalty=True, errors=False, seed=7).pick(20) == \
        EntryPicker(loyalty=True, errors=False, seed=7).pick(20)


def test_usernames() -> None:
    assert usernames("alice", 1) == ["alice"]
    assert usernames("gen", 3) == ["gen-1", "gen-2", "gen-3"]
    assert usernames("gen", 20)[:2] == ["gen-01", "gen-02"]


def test_request_rate_is_the_blueprints_cadence_or_the_rate_over_the_batch() -> None:
    common = {"url": "u", "endpoint_url": "e", "password": "p"}
    blueprint = GeneratorOptions(usernames=["a", "b"], batch=5, interval_secs=10, **common)
    assert blueprint.request_rate == pytest.approx(0.2)  # each client every 10 s
    rated = GeneratorOptions(usernames=["a"] * 20, batch=10, rate=500, **common)
    assert rated.request_rate == pytest.approx(50)
    with pytest.raises(ValueError, match="batch must be 1 to 10"):
        GeneratorOptions(usernames=["a"], batch=11, **common)
    with pytest.raises(ValueError, match="rate must be a positive"):
        GeneratorOptions(usernames=["a"], rate=0, **common)


def test_latency_percentiles_are_within_a_bucket() -> None:
    histogram = LatencyHistogram()
    assert histogram.percentile(0.5) is None
    for ms in range(1, 1001):
        histogram.add(ms / 1000)
    assert histogram.percentile(0.5) == pytest.approx(0.5, rel=0.011)
    assert histogram.percentile(0.99) == pytest.approx(0.99, rel=0.011)
    assert histogram.percentile(1.0) == pytest.approx(1.0)
    histogram.add(-1.0)  # a clock step never breaks the counts
    assert histogram.count == 1001


def test_counts_by_error_code() -> None:
    stats = Stats()
    ok = IngestAnswer(200, 3, ({"EventId": "a"}, {"ErrorCode": "MalformedDetail"},
                               {"EventId": "b"}))
    throttled = IngestAnswer(429, 10, message="slow down")
    lost = IngestAnswer(0, 2, transport_error="ConnectError")
    for answer in (ok, throttled, lost):
        stats.record(1.0, answer.sent, answer.accepted, answer.error_codes(), 0.01)
    summary = stats.summary(2.0)
    assert summary["sent"] == 15 and summary["accepted"] == 2
    assert summary["rejected"] == {"ConnectError": 2, "HTTP 429": 10, "MalformedDetail": 1}
    assert summary["rejected_total"] == 13
    assert summary["rate_per_sec"] == 7.5


@pytest.mark.parametrize(("text", "secs"), [("90", 90), ("90s", 90), ("5m", 300),
                                            ("1.5h", 5400), ("500ms", 0.5)])
def test_durations(text: str, secs: float) -> None:
    assert parse_duration(text) == pytest.approx(secs)


@pytest.mark.parametrize("text", ["", "fast", "0", "-3s", "5 days"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
