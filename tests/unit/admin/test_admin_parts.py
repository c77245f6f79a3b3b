"""Console accounts, the audit log and the live tail's bookkeeping, on a real database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from clientevents.admin.accounts import ConsoleAccounts
from clientevents.admin.audit import Actor, AuditLog
from clientevents.admin.errors import BadRequest, NotSignedIn, TooManyAttempts
from clientevents.admin.tail import LogCursor, TailItem, TailOptions, Tails
from clientevents.config.model import Settings
from clientevents.events import Publisher
from clientevents.identity.passwords import PasswordHasher
from clientevents.patterns import EventPattern
from clientevents.store.engine import Database


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(state_store: Database) -> Iterator[Database]:
    """A fresh store, on SQLite and on PostgreSQL."""
    yield state_store


@pytest.fixture
def accounts(db: Database) -> ConsoleAccounts:
    cheap = PasswordHasher(time_cost=1, memory_kib=8, parallelism=1)
    return ConsoleAccounts(db, session_ttl_secs=60, hasher=cheap, clock=Clock())


def test_passwords_are_stored_as_argon2id_hashes(db: Database, accounts: ConsoleAccounts) -> None:
    accounts.add_user("ops", "a long passphrase", "admin")
    (stored,) = db.read(lambda c: c.execute("SELECT password_hash FROM console_users").fetchone())
    assert stored.startswith("$argon2id$") and "a long passphrase" not in stored


def test_accounts_refuse_bad_names_roles_and_passwords(accounts: ConsoleAccounts) -> None:
    with pytest.raises(BadRequest, match="not valid"):
        accounts.add_user("no spaces", "a long passphrase", "admin")
    with pytest.raises(BadRequest, match="not a console role"):
        accounts.add_user("ops", "a long passphrase", "root")
    with pytest.raises(BadRequest, match="10 to 256"):
        accounts.add_user("ops", "short", "admin")


def test_sessions_expire_and_follow_the_account_role(accounts: ConsoleAccounts) -> None:
    clock = accounts.clock
    assert isinstance(clock, Clock)
    accounts.add_user("ops", "a long passphrase", "viewer")
    started = accounts.sign_in("ops", "a long passphrase")
    assert accounts.session(started.token).role == "viewer"  # type: ignore[union-attr]
    accounts.add_user("ops", "another passphrase", "admin", replace=True)
    assert accounts.session(started.token) is None  # a new password ends the sessions
    again = accounts.sign_in("ops", "another passphrase")
    assert accounts.session(again.token).role == "admin"  # type: ignore[union-attr]
    clock.now += 61
    assert accounts.session(again.token) is None
    assert accounts.session("") is None and accounts.session("x" * 500) is None


def test_repeated_failures_lock_the_account(accounts: ConsoleAccounts) -> None:
    clock = accounts.clock
    assert isinstance(clock, Clock)
    accounts.add_user("ops", "a long passphrase", "admin")
    for _ in range(5):
        with pytest.raises(NotSignedIn):
            accounts.sign_in("ops", "wrong password!")
    with pytest.raises(TooManyAttempts) as locked:
        accounts.sign_in("ops", "a long passphrase")
    assert locked.value.retry_after_secs == pytest.approx(1.0)
    clock.now += 2
    assert accounts.sign_in("ops", "a long passphrase").session.username == "ops"


def test_links_work_once_and_expire(accounts: ConsoleAccounts) -> None:
    clock = accounts.clock
    assert isinstance(clock, Clock)
    link = accounts.create_link(30)
    assert accounts.sign_in_with_link(link).session.role == "admin"
    with pytest.raises(NotSignedIn, match="used already"):
        accounts.sign_in_with_link(link)
    late = accounts.create_link(30)
    clock.now += 31
    with pytest.raises(NotSignedIn):
        accounts.sign_in_with_link(late)


def test_audit_is_queried_newest_first_by_action_prefix(db: Database) -> None:
    audit = AuditLog(db)
    actor = Actor("ops", "password", "admin")
    audit.record(actor, "dlq.redrive", subject="1", details={"ids": [1]})
    audit.record(actor, "user.disable", subject="bob")
    audit.record(actor, "dlq.purge", subject="2", outcome="Forbidden")
    assert [e.action for e in audit.query()] == ["dlq.purge", "user.disable", "dlq.redrive"]
    assert [e.action for e in audit.query(action="dlq.")] == ["dlq.purge", "dlq.redrive"]
    newest = audit.query(limit=1)[0]
    assert [e.action for e in audit.query(before_id=newest.id)] == ["user.disable",
                                                                    "dlq.redrive"]
    big = audit.query(action="dlq.redrive")[0]
    assert big.details == {"ids": [1]} and big.outcome == "ok"


# -- the live tail ------------------------------------------------------------------------------


def _settings() -> Settings:
    target = {"id": "t", "type": "log", "path": "t.jsonl"}
    return Settings.model_validate({
        "buses": [{"name": "shop"}],
        "rules": [
            {"name": "buys", "bus": "shop", "event_pattern": {"detail": {"k": ["buy"]}},
             "targets": [target]},
            {"name": "off", "bus": "shop", "state": "disabled",
             "event_pattern": {"source": ["web"]}, "targets": [target]},
        ],
    })


def _publish(db: Database, settings: Settings, kinds: list[str], **extra: Any) -> None:
    Publisher(db, settings).put_events([
        {"Source": "web", "DetailType": "t", "Detail": json.dumps({"k": k}),
         "EventBusName": "shop", **extra} for k in kinds
    ])


async def _collect(subscriber: Any, count: int) -> list[Any]:
    found: list[Any] = []
    async for message in subscriber.messages(keepalive_secs=5):
        found.append(message)
        if len(found) == count:
            break
    return found


def test_tail_starts_at_the_newest_event_and_matches_enabled_rules(db: Database) -> None:
    settings = _settings()
    _publish(db, settings, ["old"])

    async def run() -> list[Any]:
        tails = Tails(db, settings, TailOptions(poll_interval_secs=0.01))
        subscriber = tails.subscribe("shop", EventPattern({"detail": {"k": ["buy", "look"]}}))
        assert await subscriber.wait_started()
        await asyncio.to_thread(_publish, db, settings, ["buy", "skip", "look"])
        found = await asyncio.wait_for(_collect(subscriber, 2), 10)
        await tails.close()
        return found

    buy, look = asyncio.run(run())
    assert isinstance(buy, TailItem) and isinstance(look, TailItem)
    assert buy.event["detail"] == {"k": "buy"}
    assert buy.rules == [{"rule": "buys", "targets": [
        {"id": "t", "type": "log", "key": "shop/buys/t"}]}]
    assert look.rules == []  # "off" is disabled: it matches nothing
    assert json.loads(buy.json)["event"] == buy.event


class _SlowCursor(LogCursor):
    """A log that takes its time to say where its newest event is (a busy JetStream)."""

    def newest(self) -> int:
        import time

        time.sleep(0.3)
        return super().newest()


def test_a_subscriber_started_sees_every_event_appended_after_even_on_a_slow_log(
    db: Database,
) -> None:
    settings = _settings()
    _publish(db, settings, ["old"])

    async def run() -> tuple[int, list[Any]]:
        tails = Tails(db, settings, TailOptions(poll_interval_secs=0.01))
        reader = tails.reader("shop")
        reader.cursor = _SlowCursor(reader.cursor.log, "shop")
        subscriber = tails.subscribe("shop")
        assert await subscriber.wait_started()
        position = subscriber.position
        await asyncio.to_thread(_publish, db, settings, ["buy"])  # at once after the start
        found = await asyncio.wait_for(_collect(subscriber, 1), 10)
        await tails.close()
        return position, found

    position, [item] = asyncio.run(run())
    assert position > 0  # it starts after the event published before it subscribed
    assert isinstance(item, TailItem) and item.event["detail"] == {"k": "buy"}


def test_a_closed_subscriber_stops_waiting_for_its_start(db: Database) -> None:
    settings = _settings()

    async def run() -> bool:
        tails = Tails(db, settings, TailOptions(poll_interval_secs=0.01))
        reader = tails.reader("shop")
        reader.cursor = _SlowCursor(reader.cursor.log, "shop")
        subscriber = tails.subscribe("shop")
        subscriber.close()  # the client went away
        started = await subscriber.wait_started()
        await tails.close()
        return started

    assert asyncio.run(run()) is False


def test_a_slow_reader_is_told_how_many_events_it_missed(db: Database) -> None:
    settings = _settings()

    async def run() -> list[Any]:
        tails = Tails(db, settings, TailOptions(poll_interval_secs=0.01, queue_size=3))
        subscriber = tails.subscribe("shop")
        assert await subscriber.wait_started()
        await asyncio.to_thread(_publish, db, settings, [f"e{i}" for i in range(10)])
        await asyncio.sleep(0.3)  # the reader does not read meanwhile
        found = await asyncio.wait_for(_collect(subscriber, 4), 10)
        await tails.close()
        return found

    skipped, *items = asyncio.run(run())
    assert skipped == 7
    assert [i.event["detail"]["k"] for i in items] == ["e7", "e8", "e9"]


def test_the_tail_examines_at_most_its_budget_and_counts_the_rest(db: Database) -> None:
    settings = _settings()

    async def run() -> list[Any]:
        options = TailOptions(poll_interval_secs=0.01, max_events_per_sec=4, queue_size=100)
        tails = Tails(db, settings, options)
        subscriber = tails.subscribe("shop")
        assert await subscriber.wait_started()
        await asyncio.to_thread(_publish, db, settings, [f"e{i}" for i in range(10)])
        found = await asyncio.wait_for(_collect(subscriber, 5), 10)
        await tails.close()
        return found

    skipped, *items = asyncio.run(run())
    assert skipped == 6  # the budget covers 4 events: the newest are shown
    assert [i.event["detail"]["k"] for i in items] == ["e6", "e7", "e8", "e9"]


def test_replayed_events_show_only_their_replay_rules(db: Database) -> None:
    settings = _settings()
    _publish(db, settings, ["buy"], ReplayName="r", ReplayRules=["off"])
    reader = Tails(db, settings).reader("shop")
    items, reached = reader.page(0, 10, None)
    assert items[0].rules == [] and reached > 0
