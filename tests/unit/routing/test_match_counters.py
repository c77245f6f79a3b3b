"""Matched events per rule and minute: counted by the router in the batch's own write."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from clientevents.config.model import Settings
from clientevents.events import Publisher
from clientevents.routing import Router
from clientevents.routing.counters import KEEP_MINUTES, matches_per_minute, record_matches
from clientevents.store.engine import Database

NOW = 1_800_000_000.0
MINUTE = int(NOW // 60)


def _settings() -> Settings:
    target = {"id": "t", "type": "log", "path": "t.jsonl"}
    return Settings.model_validate({
        "buses": [{"name": "shop"}],
        "rules": [
            {"name": "buys", "bus": "shop", "event_pattern": {"detail": {"k": ["buy"]}},
             "targets": [target, {**target, "id": "u"}]},
            {"name": "all", "bus": "shop", "event_pattern": {"source": ["web"]},
             "targets": [target]},
        ],
    })


@pytest.fixture
def db(state_store: Database) -> Iterator[Database]:
    """A fresh store, on SQLite and on PostgreSQL."""
    yield state_store


def _publish(db: Database, settings: Settings, kinds: list[str], **extra: Any) -> None:
    Publisher(db, settings).put_events([
        {"Source": "web", "DetailType": "t", "Detail": json.dumps({"k": k}),
         "EventBusName": "shop", **extra}
        for k in kinds
    ])


def test_each_rule_counts_the_events_it_matched_not_its_targets(db: Database) -> None:
    settings = _settings()
    _publish(db, settings, ["buy", "look", "buy"])
    asyncio.run(Router(db, settings, clock=lambda: NOW).route_once())
    counts = db.read(lambda c: matches_per_minute(c, "shop", since_minute=MINUTE - 5))
    assert counts == {"buys": {MINUTE: 2}, "all": {MINUTE: 3}}


def test_counts_add_up_across_batches_and_minutes(db: Database) -> None:
    settings = _settings()
    clock = [NOW]
    router = Router(db, settings, batch_size=2, clock=lambda: clock[0])
    _publish(db, settings, ["buy", "buy", "buy"])
    asyncio.run(router.route_once())
    asyncio.run(router.route_once())
    clock[0] += 60
    _publish(db, settings, ["buy"])
    asyncio.run(router.route_once())
    counts = db.read(lambda c: matches_per_minute(c, "shop", since_minute=0))
    assert counts["buys"] == {MINUTE: 3, MINUTE + 1: 1}


def test_replayed_events_count_only_for_their_replay_rules(db: Database) -> None:
    settings = _settings()
    _publish(db, settings, ["buy"], ReplayName="r1", ReplayRules=["all"])
    asyncio.run(Router(db, settings, clock=lambda: NOW).route_once())
    counts = db.read(lambda c: matches_per_minute(c, "shop", since_minute=0))
    assert counts == {"all": {MINUTE: 1}}


def test_old_minutes_are_trimmed(db: Database) -> None:
    db.write(lambda c: record_matches(c, "shop", {"a": 1}, minute=MINUTE - KEEP_MINUTES - 1))
    db.write(lambda c: record_matches(c, "shop", {"a": 2}, minute=MINUTE))
    counts = db.read(lambda c: matches_per_minute(c, "shop", since_minute=0))
    assert counts == {"a": {MINUTE: 2}}
