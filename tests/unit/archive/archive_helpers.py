"""Builders shared by the archive tests: a configuration, a fake clock, publishing, queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from clientevents.config import Settings, validate_settings
from clientevents.events.publisher import Publisher
from clientevents.store.engine import Database

BUS = "b1"
T0 = 1_800_000_000.0
"""A fixed event time base (2027-01-15T08:00:00Z)."""


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, secs: float) -> None:
        self.now += secs


def make_settings(
    archives: Sequence[dict[str, Any]] = ({"name": "a1", "bus": BUS},),
    *,
    rules: Sequence[str] = ("r1", "r2"),
    extra_buses: Sequence[str] = (),
) -> Settings:
    """Bus ``b1`` with rules (each matching ``source: x``, one log target) and ``archives``."""
    data: dict[str, Any] = {
        "buses": [{"name": BUS}, *({"name": b} for b in extra_buses)],
        "rules": [
            {
                "name": rule,
                "bus": BUS,
                "event_pattern": {"source": ["x"]},
                "targets": [{"id": "t", "type": "log", "path": f"{rule}.jsonl"}],
            }
            for rule in rules
        ],
        "archives": list(archives),
    }
    return validate_settings(data, environ={})


def entry(n: int, *, time: float | None = None, source: str = "x", **extra: Any) -> dict[str, Any]:
    """A PutEvents entry on ``b1`` with detail ``{"n": n}`` at ``T0 + n`` unless ``time``."""
    return {
        "Source": source,
        "DetailType": "test",
        "Detail": orjson.dumps({"n": n}).decode(),
        "EventBusName": BUS,
        "Time": T0 + n if time is None else time,
        **extra,
    }


def publish(publisher: Publisher, entries: Sequence[dict[str, Any]]) -> list[str]:
    """Publish ``entries`` (all must be accepted); return their event ids."""
    answer = publisher.put_events(list(entries))
    assert answer["FailedEntryCount"] == 0, answer
    return [e["EventId"] for e in answer["Entries"]]


def rows(db: Database, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of a query on this thread's read connection."""
    return db.read(lambda conn: conn.execute(sql, params).fetchall())


def archived_ns(db: Database, archive: str = "a1") -> list[int]:
    """``detail.n`` of every copy in ``archive``, in event-time order."""
    bodies = rows(db, "SELECT body FROM archive_events WHERE archive = ? ORDER BY time, seq",
                  (archive,))
    return [orjson.loads(body)["detail"]["n"] for (body,) in bodies]


def replayed(db: Database, replay: str) -> list[dict[str, Any]]:
    """The envelopes a replay put on the log, in log order."""
    bodies = rows(db, "SELECT body FROM events WHERE replay_name = ? ORDER BY seq", (replay,))
    return [orjson.loads(body) for (body,) in bodies]
