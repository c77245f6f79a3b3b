"""The pipeline's metrics, read from a real database as a scrape of ``/metrics`` reads them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from clientevents.config import Settings, validate_settings
from clientevents.events.publisher import Publisher
from clientevents.log.eventlog import EventLog
from clientevents.server.pipeline_metrics import render_pipeline_metrics
from clientevents.store.engine import Database
from clientevents.targets.counters import SettleCounts, record_settled
from clientevents.targets.queue import DeadLetter, Delivery, dead_letter, enqueue, target_key

NOW = 1_800_000_000.0
LAKE = target_key("b", "everything", "lake")
SPARE = target_key("b", "everything", "spare")


@pytest.fixture
def settings() -> Settings:
    return validate_settings({
        "buses": [{"name": "b"}],
        "rules": [{"name": "everything", "bus": "b", "event_pattern": {"source": ["x"]},
                   "targets": [{"id": "lake", "type": "log", "path": "lake.jsonl"},
                               {"id": "spare", "type": "log", "path": "spare.jsonl"}]}],
        "archives": [{"name": "a", "bus": "b"}],
    }, environ={})


@pytest.fixture
def db(state_store: Database) -> Iterator[Database]:
    """A fresh store, on SQLite and on PostgreSQL."""
    yield state_store


def _samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_lag_backlog_dead_letters_and_totals(db: Database, settings: Settings) -> None:
    # Given three events on the bus, the router past the first two and the archive at none,
    log = EventLog(db)
    entries = [{"Source": "x", "DetailType": "t", "Detail": "{}", "EventBusName": "b"}] * 3
    Publisher(db, settings).put_events(entries)
    seqs = [r.seq for r in log.read_after("b", 0, 10)]
    ingested = log.read_after("b", 0, 1)[0].ingested_at
    db.write(lambda conn: log.commit_offset(conn, "router", "b", seqs[1]))
    db.write(lambda conn: log.commit_offset(conn, "archive:a", "b", 0))
    # two deliveries waiting for the lake (one failed once), a dead letter, settled counts,
    db.write(lambda conn: enqueue(conn, [
        Delivery(LAKE, "b", "everything", "lake", "e1", "{}", NOW, ingested - 30),
        Delivery(LAKE, "b", "everything", "lake", "e2", "{}", NOW, ingested - 5),
    ]))
    db.write(lambda conn: conn.execute(
        "UPDATE deliveries SET last_error_code = 'HTTP500' WHERE event_id = 'e2'"))
    db.write(lambda conn: dead_letter(conn, [DeadLetter(
        LAKE, "b", "everything", "lake", "e0", "{}", "HTTP400", "no", 1, "Permanent", NOW, NOW)]))
    db.write(lambda conn: record_settled(conn, LAKE, SettleCounts(delivered=7, retried=2,
                                                                  dead_lettered=1), NOW))
    # when the metrics are read,
    got = _samples(render_pipeline_metrics(db, log, settings, now=ingested + 12))
    # then each consumer's lag is the age of its oldest uncommitted event,
    assert got[("clientevents_consumer_lag_seconds", (("bus", "b"), ("group", "router")))] == \
        pytest.approx(12, abs=1)
    assert got[("clientevents_consumer_lag_seconds",
                (("bus", "b"), ("group", "archive:a")))] == pytest.approx(12, abs=1)
    assert got[("clientevents_log_head_seq", (("bus", "b"),))] == seqs[-1]
    # and each configured target has its backlog, dead letters and totals (zeros included).
    lake, spare = (("target", LAKE),), (("target", SPARE),)
    assert got[("clientevents_delivery_pending", lake)] == 2
    assert got[("clientevents_delivery_retrying", lake)] == 1
    assert got[("clientevents_delivery_oldest_age_seconds", lake)] == pytest.approx(42)
    assert got[("clientevents_dead_letters", lake)] == 1
    assert got[("clientevents_deliveries_total", (("outcome", "delivered"), *lake))] == 7
    assert got[("clientevents_deliveries_total", (("outcome", "retried"), *lake))] == 2
    assert got[("clientevents_delivery_pending", spare)] == 0
    assert got[("clientevents_delivery_oldest_age_seconds", spare)] == 0


def test_a_consumer_that_caught_up_has_no_lag(db: Database, settings: Settings) -> None:
    log = EventLog(db)
    Publisher(db, settings).put_events(
        [{"Source": "x", "DetailType": "t", "Detail": "{}", "EventBusName": "b"}])
    head = log.head("b")
    db.write(lambda conn: log.commit_offset(conn, "router", "b", head))
    got = _samples(render_pipeline_metrics(db, log, settings, now=NOW + 3600))
    assert got[("clientevents_consumer_lag_seconds", (("bus", "b"), ("group", "router")))] == 0
