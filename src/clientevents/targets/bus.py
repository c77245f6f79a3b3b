"""The ``bus`` target: put each matched event on another bus, keeping its id.

The delivery's payload is parsed as an event envelope and appended to the target bus through
the publisher (``Publisher.append_in``) inside the same write transaction that removes the
delivery from the queue: the event is on the other bus exactly once, with the same ``id``, and
that bus's rules see it like any other event. The publisher gives it this deployment's
``account`` and ``region``; ``source``, ``detail-type``, ``time``, ``resources`` and ``detail``
are kept. A ``replay-name`` is not carried over: on the other bus it is a new event.

Input shaping: EventBridge accepts no ``Input``, ``InputPath`` or ``InputTransformer`` on a
target that is an event bus; it forwards the event as it is. Here a bus target without input
shaping does exactly that. With shaping, the rendered payload must itself be an event envelope
(a JSON object with ``source``, ``detail-type`` and an object ``detail``), which lets an
``input_transformer`` rewrite events between buses; a payload that is not one is refused
permanently (``InvalidEvent``, dead-lettered). Events never loop: the configuration refuses a
bus target that names its rule's own bus.

Configuration::

    - id: audit
      type: bus
      bus: audit_bus
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import orjson

from clientevents.errors import ConfigError
from clientevents.store.port import SqlConnection
from clientevents.targets.base import (
    LocalTarget,
    Ok,
    Outcome,
    Permanent,
    PublisherLike,
    Retry,
    TargetContext,
)
from clientevents.targets.queue import ClaimedDelivery

__all__ = ["BusTarget", "entry_for"]

#: PutEvents error codes that are worth another attempt; every other code is permanent.
TRANSIENT_CODES = frozenset({"InternalFailure", "InternalException", "ThrottlingException"})


class InvalidEvent(ValueError):
    """A payload that is not an event envelope."""


def entry_for(payload: str, *, bus: str, event_id: str) -> dict[str, Any]:
    """The PutEvents entry that puts the event ``payload`` on ``bus`` with id ``event_id``.

    Raises:
        InvalidEvent: ``payload`` is not JSON of an envelope; the message says what is missing.
    """
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(
            f"The payload is not JSON ({exc}); a bus target needs an event."
        ) from None
    if not isinstance(event, dict):
        raise InvalidEvent(
            f"The payload is a JSON {type(event).__name__}, not an event object."
        )
    missing = [key for key in ("source", "detail-type", "detail") if key not in event]
    if missing:
        raise InvalidEvent(
            f"The payload lacks the event field(s) {', '.join(missing)}; a bus target forwards "
            "whole events (remove the target's input shaping, or make it produce an event)."
        )
    if not isinstance(event["detail"], dict):
        raise InvalidEvent("The payload's detail is not a JSON object.")
    entry: dict[str, Any] = {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": event["detail"],
        "Resources": event.get("resources", []),
        "EventBusName": bus,
        "Id": event_id,
    }
    if event.get("time") is not None:
        entry["Time"] = event["time"]
    return entry


class BusTarget(LocalTarget):
    """Puts events on another bus through the publisher, in the dispatcher's transaction."""

    kind: ClassVar[str] = "bus"

    def __init__(self, ctx: TargetContext, publisher: PublisherLike, bus: str) -> None:
        super().__init__(ctx.db)
        self.publisher = publisher
        self.bus = bus

    @classmethod
    def from_config(cls, cfg: Any, ctx: TargetContext) -> BusTarget:
        """Build from a ``BusTargetConfig``.

        Raises:
            ConfigError: the context has no publisher to put events with.
        """
        if ctx.publisher is None:
            raise ConfigError(
                f"the bus target {cfg.id!r} needs a publisher, and none was given to the "
                "dispatchers; build the TargetContext with publisher=Publisher(db, settings)."
            )
        return cls(ctx, ctx.publisher, str(cfg.bus))

    def write_in(
        self, conn: SqlConnection, deliveries: Sequence[ClaimedDelivery]
    ) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(deliveries)
        entries: list[dict[str, Any]] = []
        positions: list[int] = []
        for i, d in enumerate(deliveries):
            try:
                entries.append(entry_for(d.payload, bus=self.bus, event_id=d.event_id))
            except InvalidEvent as exc:
                outcomes[i] = Permanent("InvalidEvent", str(exc))
            else:
                positions.append(i)
        if entries:
            answer = self.publisher.append_in(conn, entries)
            for i, result in zip(positions, answer["Entries"], strict=True):
                outcomes[i] = _outcome(result)
        return [o if o is not None else Ok() for o in outcomes]


def _outcome(result: dict[str, Any]) -> Outcome:
    if "EventId" in result:
        return Ok()
    code = str(result.get("ErrorCode", "PutEventsFailed"))
    message = str(result.get("ErrorMessage", "The bus refused the event."))
    if code in TRANSIENT_CODES:
        return Retry(code, message)
    return Permanent(code, message)
