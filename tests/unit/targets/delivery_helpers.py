"""Helpers for the delivery tests: a fake clock, a target that fails on command, builders.

``ControlledTarget`` is registered only here, through the ``registry`` argument of
``Dispatchers``: configurations name it as a ``log`` target, and the test registry builds a
``ControlledTarget`` for it instead of a file writer.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from clientevents.config import Settings, validate_settings
from clientevents.store.engine import Database
from clientevents.targets.base import Ok, Outcome, Target, TargetContext
from clientevents.targets.queue import ClaimedDelivery, Delivery, enqueue, target_key
from clientevents.targets.registry import TARGET_TYPES, TargetFactory

Script = Callable[[ClaimedDelivery], Outcome]


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, secs: float) -> None:
        self.now += secs


class MaxRandom(random.Random):
    """Makes full jitter deterministic: every delay is its ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


class ControlledTarget(Target):
    """A target whose answers a test sets: ``script`` maps each delivery to an outcome.

    ``raise_error`` makes ``send_batch`` raise instead; ``gate`` (an ``asyncio.Event``) makes it
    wait until the test opens it. Every call is recorded in ``calls``.
    """

    kind = "controlled"

    def __init__(self) -> None:
        self.script: Script = lambda d: Ok()
        self.raise_error: BaseException | None = None
        self.gate: asyncio.Event | None = None
        self.calls: list[list[ClaimedDelivery]] = []
        self.entered = 0
        self.closed = False
        self.answer_override: Any = None

    async def send_batch(self, deliveries: Sequence[ClaimedDelivery]) -> list[Outcome]:
        self.entered += 1
        if self.gate is not None:
            await self.gate.wait()
        self.calls.append(list(deliveries))
        if self.raise_error is not None:
            raise self.raise_error
        if self.answer_override is not None:
            answer: list[Outcome] = self.answer_override
            return answer
        return [self.script(d) for d in deliveries]

    @property
    def delivered(self) -> list[str]:
        """Payloads of every delivery sent, in order."""
        return [d.payload for call in self.calls for d in call]

    async def close(self) -> None:
        self.closed = True


class Controlled:
    """The test registry: builds one ControlledTarget per target id (for ``log`` configs)."""

    def __init__(self) -> None:
        self.targets: dict[str, ControlledTarget] = {}

    def factory(self, cfg: Any, ctx: TargetContext) -> Target:
        target = self.targets.setdefault(str(cfg.id), ControlledTarget())
        return target

    @property
    def registry(self) -> dict[str, TargetFactory]:
        return {**TARGET_TYPES, "log": self.factory}


def make_settings(
    targets: Sequence[dict[str, Any]],
    *,
    rule: str = "r1",
    bus: str = "b1",
    extra_buses: Sequence[str] = (),
    streams: Sequence[dict[str, Any]] = (),
    data_dir: Path | None = None,
) -> Settings:
    """A configuration with one rule on ``bus`` holding ``targets``."""
    data: dict[str, Any] = {
        "buses": [{"name": bus}, *({"name": b} for b in extra_buses)],
        "rules": [
            {"name": rule, "bus": bus, "event_pattern": {"source": ["x"]}, "targets": targets}
        ],
        "streams": list(streams),
    }
    if data_dir is not None:
        data["data_dir"] = str(data_dir)
    return validate_settings(data, environ={})


def log_target(target_id: str, **extra: Any) -> dict[str, Any]:
    """A ``log`` target configuration (a ControlledTarget under the test registry)."""
    return {"id": target_id, "type": "log", "path": f"{target_id}.jsonl", **extra}


def delivery(
    payload: str,
    *,
    target_id: str = "t1",
    rule: str = "r1",
    bus: str = "b1",
    enqueued_at: float = 1_000_000.0,
    event_id: str | None = None,
) -> Delivery:
    """A delivery for the target ``bus/rule/target_id``."""
    return Delivery(
        target_key=target_key(bus, rule, target_id),
        bus=bus,
        rule=rule,
        target_id=target_id,
        event_id=event_id or f"id-{payload}",
        payload=payload,
        event_time=enqueued_at,
        enqueued_at=enqueued_at,
    )


def put(db: Database, deliveries: Sequence[Delivery]) -> None:
    """Enqueue as the router does: inside a write."""
    db.write(lambda conn: enqueue(conn, deliveries))


def rows(db: Database, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    return db.read(lambda conn: conn.execute(sql, params).fetchall())


async def wait_until(condition: Callable[[], bool], *, limit_secs: float = 10.0) -> None:
    """Wait for ``condition`` (a safety limit, not a speed assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_secs
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not reached within {limit_secs} s")
        await asyncio.sleep(0.005)
