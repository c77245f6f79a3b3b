"""What the event log stores: records of one event, or of one request's events together.

A record is one row of ``events``. It holds ``count`` events and takes as many consecutive
*positions* on the log (the offsets consumers commit): its ``seq`` is the position of its last
event, so a record of ``n`` events covers ``seq - n + 1 .. seq``. Positions are global, grow
with every append and are never reused (see :func:`clientevents.log.appender.insert_rows`).

Two formats (column ``format``):

- :data:`EVENT` (``count`` 1): ``body`` is the event's envelope, ``event_id`` its id. The
  publisher's general path (PutEvents from Python, a bus target's re-publish keeping the id, a
  replay marking ``replay-name``) stores these.
- :data:`BATCH`: the events of one ingest request, stored as they arrived, the envelopes to be
  built by whoever reads them (the workers, where time is cheaper than on the request path).
  ``body`` is::

      {"source": ..., "detail-type": ..., "account": ..., "region": ..., "resources": [...],
       "details": [<detail object>, ...]}

  ``event_id`` is the batch's base id (event ``i`` has :func:`derive_event_id` ``(base, i)``),
  ``time`` and ``ingested_at`` are the receive time (every event's time), ``count`` the number
  of details. One record per request is also one message per request for a distributed log.

Reading expands a record into one :class:`LogRecord` per event. The envelope of an event read
from a batch is, byte for byte, what storing the event alone would have stored (both are
rendered by :class:`~clientevents.events.envelope.EnvelopeShape`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import orjson

from clientevents.events.envelope import EnvelopeShape, derived_event_ids, format_time

__all__ = [
    "BATCH",
    "EVENT",
    "LogRecord",
    "LogRow",
    "batch_body",
    "batch_head",
    "expand_row",
]

logger = logging.getLogger(__name__)

EVENT: Final = 0
"""``format`` of a record holding one event's envelope."""

BATCH: Final = 1
"""``format`` of a record holding one request's details, expanded on reading."""


class LogRow(NamedTuple):
    """A record ready to append: the columns of ``events`` after ``seq``."""

    bus: str
    event_id: str
    time: float
    ingested_at: float
    body: str
    replay_name: str | None
    replay_rules: str | None
    event_count: int = 1  # column ``count``
    format: int = EVENT


@dataclass(slots=True)
class LogRecord:
    """One event of a bus's log, as consumers read it; treat it as read-only.

    ``seq`` is the event's position (the offset a consumer commits); ``time`` and
    ``ingested_at`` are epoch seconds; ``body`` is the envelope's JSON text; ``replay_rules``
    is the JSON text of a list of rule names, or None. (Not a frozen dataclass: building a
    frozen one costs six times as much, and the router builds one per event.)
    """

    seq: int
    bus: str
    event_id: str
    time: float
    ingested_at: float
    body: str
    replay_name: str | None
    replay_rules: str | None
    parsed: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def event(self) -> dict[str, Any]:
        """The envelope as a dict (equal to ``orjson.loads(body)``; parsed once, on demand)."""
        parsed = self.parsed
        if parsed is None:
            parsed = self.parsed = orjson.loads(self.body)
        return parsed

    def replay_rule_names(self) -> list[str] | None:
        """The rules a replayed event may match, or None for every rule."""
        if self.replay_rules is None:
            return None
        names = orjson.loads(self.replay_rules)
        return [str(name) for name in names]


def batch_head(
    *, source: str, detail_type: str, account: str, region: str, resources: list[str]
) -> str:
    """The text of a :data:`BATCH` record's ``body`` before its details (see
    :func:`batch_body`); the same for every request of one client on one stage.

    Raises:
        orjson.JSONEncodeError: a field is not valid Unicode.
    """
    dumps = orjson.dumps
    return b"".join(
        (
            b'{"source":', dumps(source),
            b',"detail-type":', dumps(detail_type),
            b',"account":', dumps(account),
            b',"region":', dumps(region),
            b',"resources":', dumps(resources),
            b',"details":[',
        )
    ).decode()


def batch_body(
    *,
    source: str,
    detail_type: str,
    account: str,
    region: str,
    resources: list[str],
    details: Sequence[str],
    head: str | None = None,
) -> str:
    """The ``body`` of a :data:`BATCH` record; ``details`` are the JSON texts of the detail
    objects, stored as given (reading re-encodes each one as a single event's envelope would).
    ``head`` is :func:`batch_head` of the same fields, when the caller has it already.

    Raises:
        orjson.JSONEncodeError: a shared field is not valid Unicode.
    """
    if head is None:
        head = batch_head(source=source, detail_type=detail_type, account=account,
                          region=region, resources=resources)
    return head + ",".join(details) + "]}"


#: A row of ``events`` as selected for reading (see ``COLUMNS`` in :mod:`.eventlog`).
Row = tuple[int, str, str, float, float, str, str | None, str | None, int, int]


def expand_row(row: Row, after: int, room: int, out: list[LogRecord]) -> None:
    """Append to ``out`` the events of ``row`` at positions after ``after``, at most ``room``."""
    seq, bus, event_id, time, ingested_at, body, replay_name, replay_rules, count, fmt = row
    if fmt == EVENT:
        if seq > after and room > 0:
            out.append(LogRecord(seq, bus, event_id, time, ingested_at, body, replay_name,
                                 replay_rules))
        return
    if fmt != BATCH:
        raise ValueError(
            f"Log record {seq} of bus {bus!r} has format {fmt!r}, which this version does not "
            "know; upgrade clientevents to read it."
        )
    first = seq - count + 1
    start = max(0, after - first + 1)
    stop = min(count, start + room)
    if start >= stop:
        return
    try:
        doc = orjson.loads(body)
        details: list[dict[str, Any]] = doc["details"]
        source: str = doc["source"]
        detail_type: str = doc["detail-type"]
        account: str = doc["account"]
        region: str = doc["region"]
        resources: list[str] = doc["resources"]
        time_text = format_time(time)
        shape = EnvelopeShape(
            detail_type=detail_type, source=source, account=account, time_text=time_text,
            region=region, resources=resources,
        )
        if len(details) != count:
            raise ValueError(f"it holds {len(details)} details, not {count}")
    except (ValueError, KeyError, TypeError) as exc:  # orjson's errors are ValueErrors
        # A damaged record cannot be read as events; its readers go past it, as they go past
        # an event they cannot match, instead of stopping the bus.
        logger.error(
            "Log record skipped: it cannot be read as events. bus=%s seq=%d events=%d "
            "error=%s", bus, seq, count, exc,
        )
        return
    render = shape.render
    dumps = orjson.dumps
    ids = derived_event_ids(event_id, count)
    append = out.append
    for index in range(start, stop):
        detail = details[index]
        ident = ids[index]
        parsed = {
            "version": "0",
            "id": ident,
            "detail-type": detail_type,
            "source": source,
            "account": account,
            "time": time_text,
            "region": region,
            "resources": list(resources),
            "detail": detail,
        }
        append(
            LogRecord(first + index, bus, ident, time, ingested_at,
                      render(ident, dumps(detail).decode()), None, None, parsed)
        )
