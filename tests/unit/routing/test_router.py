from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from clientevents.config.model import Settings
from clientevents.errors import Conflict
from clientevents.events import Publisher
from clientevents.log import EventLog
from clientevents.routing import ROUTER_GROUP, Router, rule_arn
from clientevents.store.engine import Database


def log_target(target_id: str, **shape: Any) -> dict[str, Any]:
    return {"id": target_id, "type": "log", "path": f"{target_id}.jsonl", **shape}


RULES: list[dict[str, Any]] = [
    {
        "name": "purchases",
        "bus": "shop",
        "event_pattern": {"detail": {"eventType": ["purchase"]}},
        "targets": [
            log_target("whole"),
            log_target("sku", input_path="$.detail.data.itemSku"),
            log_target("const", input='{"fixed": true}'),
            log_target(
                "tmpl",
                input_transformer={
                    "input_paths_map": {"sku": "$.detail.data.itemSku"},
                    "input_template": '{"sku": <sku>, "rule": <aws.events.rule-name>, '
                    '"arn": <aws.events.rule-arn>}',
                },
            ),
        ],
    },
    {
        "name": "everything",
        "bus": "shop",
        "event_pattern": {"source": ["web"]},
        "targets": [log_target("all")],
    },
    {
        "name": "paused",
        "bus": "shop",
        "state": "disabled",
        "event_pattern": {"source": ["web"]},
        "targets": [log_target("never")],
    },
    {
        "name": "other-bus",
        "bus": "audit",
        "event_pattern": {"source": ["web"]},
        "targets": [log_target("audit")],
    },
]


def make_settings(rules: list[dict[str, Any]] | None = None) -> Settings:
    return Settings.model_validate(
        {
            "buses": [{"name": "shop"}, {"name": "audit"}],
            "rules": RULES if rules is None else rules,
        }
    )


@pytest.fixture
def db(state_store: Database) -> Iterator[Database]:
    """A fresh store, on SQLite and on PostgreSQL."""
    yield state_store


def publish(publisher: Publisher, detail: dict[str, Any], bus: str = "shop",
            **extra: Any) -> str:
    answer = publisher.put_events(
        [{"Source": "web", "DetailType": "t", "Detail": json.dumps(detail),
          "EventBusName": bus, **extra}]
    )
    assert answer["FailedEntryCount"] == 0, answer
    event_id: str = answer["Entries"][0]["EventId"]
    return event_id


def deliveries(db: Database) -> list[tuple[str, str, str]]:
    rows = db.read(
        lambda c: c.execute(
            "SELECT target_key, event_id, payload FROM deliveries ORDER BY id"
        ).fetchall()
    )
    return [(r[0], r[1], r[2]) for r in rows]


def dead_letters(db: Database) -> list[tuple[str, str, str, str, int]]:
    rows = db.read(
        lambda c: c.execute(
            "SELECT target_key, event_id, exhausted, error_message, attempts FROM dead_letters"
        ).fetchall()
    )
    return [tuple(r) for r in rows]


def test_matching_events_are_enqueued_once_per_target_with_their_input(db: Database) -> None:
    settings = make_settings()
    publisher = Publisher(db, settings)
    router = Router(db, settings)
    buy = publish(publisher, {"eventType": "purchase", "data": {"itemSku": 123}})
    look = publish(publisher, {"eventType": "search"})

    assert asyncio.run(router.route_once()) == 2

    got = deliveries(db)
    by_key = {(k, e): p for k, e, p in got}
    assert len(got) == len(by_key) == 6
    (buy_body,) = [r.body for r in EventLog(db).read_after("shop", 0, 10) if r.event_id == buy]
    assert by_key[("shop/purchases/whole", buy)] == buy_body  # the stored JSON text itself
    assert by_key[("shop/purchases/sku", buy)] == "123"
    assert by_key[("shop/purchases/const", buy)] == '{"fixed": true}'
    assert json.loads(by_key[("shop/purchases/tmpl", buy)]) == {
        "sku": 123,
        "rule": "purchases",
        "arn": rule_arn("local", "000000000000", "shop", "purchases"),
    }
    assert by_key[("shop/everything/all", buy)] == buy_body
    assert ("shop/everything/all", look) in by_key
    assert not [k for k, _, _ in got if k.startswith("shop/paused/")]  # disabled rule
    assert EventLog(db).offset(ROUTER_GROUP, "shop") == EventLog(db).head("shop")


def test_each_bus_is_routed_by_its_own_rules(db: Database) -> None:
    settings = make_settings()
    publisher = Publisher(db, settings)
    router = Router(db, settings)
    audit = publish(publisher, {"eventType": "purchase", "data": {"itemSku": 1}}, bus="audit")
    asyncio.run(router.route_once())
    assert deliveries(db) == [
        ("audit/other-bus/audit", audit, EventLog(db).read_after("audit", 0, 1)[0].body)
    ]


def test_routed_events_are_not_routed_again(db: Database, tmp_path: Path) -> None:
    settings = make_settings()
    publisher = Publisher(db, settings)
    publish(publisher, {"eventType": "search"})
    asyncio.run(Router(db, settings).route_once())
    # A new router (a restarted worker) starts from the committed offset.
    assert asyncio.run(Router(db, settings).route_once()) == 0
    assert len(deliveries(db)) == 1


def test_batches_bound_what_one_transaction_routes(db: Database) -> None:
    settings = make_settings()
    publisher = Publisher(db, settings)
    for i in range(7):
        publish(publisher, {"eventType": "search", "i": i})
    router = Router(db, settings, batch_size=3)
    assert [router.route_pass() for _ in range(4)] == [3, 3, 1, 0]
    payloads = [json.loads(p)["detail"]["i"] for _, _, p in deliveries(db)]
    assert payloads == list(range(7))  # queue order is log order


def test_transform_error_dead_letters_that_delivery_only(db: Database) -> None:
    settings = make_settings()
    publisher = Publisher(db, settings)
    no_sku = publish(publisher, {"eventType": "purchase", "data": {}})
    asyncio.run(Router(db, settings).route_once())

    keys = sorted(k for k, _, _ in deliveries(db))
    assert keys == [
        "shop/everything/all",
        "shop/purchases/const",
        "shop/purchases/tmpl",
        "shop/purchases/whole",
    ]
    ((key, event_id, exhausted, message, attempts),) = dead_letters(db)
    assert (key, event_id, exhausted, attempts) == (
        "shop/purchases/sku", no_sku, "TransformError", 0
    )
    assert "InputPath '$.detail.data.itemSku' matches nothing" in message


def test_transform_error_is_dropped_when_the_target_keeps_no_dead_letters(
    db: Database,
) -> None:
    rules = [
        {
            "name": "sku",
            "bus": "shop",
            "event_pattern": {"source": ["web"]},
            "targets": [log_target("sku", input_path="$.detail.sku", dead_letter=False)],
        }
    ]
    settings = make_settings(rules)
    publisher = Publisher(db, settings)
    publish(publisher, {"eventType": "x"})
    assert asyncio.run(Router(db, settings).route_once()) == 1
    assert deliveries(db) == []
    assert dead_letters(db) == []


def test_replayed_events_only_reach_their_replay_rules(db: Database) -> None:
    settings = make_settings()
    publisher = Publisher(db, settings)
    detail = {"eventType": "purchase", "data": {"itemSku": 5}}
    limited = publish(publisher, detail, ReplayName="r1", ReplayRules=["everything"])
    unlimited = publish(publisher, detail, ReplayName="r2")
    asyncio.run(Router(db, settings).route_once())

    limited_keys = sorted(k for k, e, _ in deliveries(db) if e == limited)
    unlimited_keys = sorted(k for k, e, _ in deliveries(db) if e == unlimited)
    assert limited_keys == ["shop/everything/all"]
    assert len(unlimited_keys) == 5
    (payload,) = [p for k, e, p in deliveries(db) if e == limited]
    assert json.loads(payload)["replay-name"] == "r1"


def test_run_routes_new_events_until_stopped(db: Database) -> None:
    settings = make_settings()
    publisher = Publisher(db, settings)
    router = Router(db, settings, poll_interval_secs=0.001)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(router.run(stop))
        for i in range(5):
            await publisher.put_events_async(
                [{"Source": "web", "DetailType": "t", "Detail": json.dumps({"i": i}),
                  "EventBusName": "shop"}]
            )
        deadline = time.monotonic() + 60.0  # fail instead of hanging if routing stalls
        while len(deliveries(db)) < 5:
            assert time.monotonic() < deadline, (
                f"routed {len(deliveries(db))} of 5; offset "
                f"{EventLog(db).offset(ROUTER_GROUP, 'shop')} of {EventLog(db).head('shop')}"
            )
            await asyncio.sleep(0.005)
        stop.set()
        await asyncio.wait_for(task, timeout=10)

    asyncio.run(main())
    assert len(deliveries(db)) == 5


def test_router_refuses_a_bad_batch_size(db: Database) -> None:
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        Router(db, make_settings(), batch_size=0)


def test_a_second_router_of_the_same_group_never_doubles_a_batch(db: Database) -> None:
    settings = make_settings()
    publisher = Publisher(db, settings)
    publish(publisher, {"eventType": "search"})
    first, second = Router(db, settings), Router(db, settings)
    stale = EventLog(db).consumer("shop", ROUTER_GROUP)
    fetched = stale.fetch(10)  # fetched before the first router commits
    assert first.route_bus("shop") == 1
    with pytest.raises(Conflict):  # its commit conflicts and rolls back
        stale.commit(fetched, partial(Router._commit, batch=second.route_records(
            "shop", fetched.records)))
    assert len(deliveries(db)) == 1
    assert stale.fetch(10).records == []  # fetches afresh: caught up
    assert second.route_bus("shop") == 0


def test_drain_routes_everything_in_pipelined_batches(db: Database) -> None:
    settings = make_settings()
    publisher = Publisher(db, settings)
    for i in range(23):
        publish(publisher, {"eventType": "search", "i": i})
    router = Router(db, settings, batch_size=4)
    assert router.drain(max_batches=3) == 12  # three batches of each bus in turn
    assert router.drain() == 11
    assert router.drain() == 0
    payloads = [json.loads(p)["detail"]["i"] for _, _, p in deliveries(db)]
    assert payloads == list(range(23))
    assert EventLog(db).offset(ROUTER_GROUP, "shop") == EventLog(db).head("shop")


def test_drain_stops_when_another_router_moved_the_offset(db: Database) -> None:
    settings = make_settings()
    publisher = Publisher(db, settings)
    for i in range(5):
        publish(publisher, {"eventType": "search", "i": i})
    first, second = Router(db, settings, batch_size=2), Router(db, settings, batch_size=2)
    second._consumer("shop").fetch(2)  # fetched before the first router drains
    assert first.drain() == 5
    assert second.drain() == 0
    assert len(deliveries(db)) == 5


def test_a_busy_bus_does_not_hold_another_up(db: Database) -> None:
    settings = make_settings()
    publisher = Publisher(db, settings)
    for i in range(10):
        publish(publisher, {"eventType": "search", "i": i})
    audit = publish(publisher, {"eventType": "search"}, bus="audit")
    router = Router(db, settings, batch_size=2)
    assert router.drain(max_batches=1) == 3  # one batch of "shop", then "audit"
    assert audit in {e for _, e, _ in deliveries(db)}
