"""The event envelope: EventBridge's JSON shape of an event, built fast.

An envelope has these keys, in this order (the order ``examples/event.json`` shows)::

    {"version": "0", "id", "detail-type", "source", "account", "time", "region",
     "resources", "detail"}

plus ``"replay-name"`` last for an event a replay put back on a bus. ``time`` is RFC 3339 in
UTC with whole seconds and a ``Z`` suffix (``2026-11-27T05:00:00Z``).

:class:`EnvelopeShape` is the only code that writes envelope text: it renders what the events
of a batch share once and splices each event's id and already-serialised detail into it, so a
detail is encoded exactly once per event. A batch of events stored together (one gateway
request) has one base id; :func:`derive_event_id` gives each of its events its own id.
"""

from __future__ import annotations

import os
import threading
import time as _time
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = [
    "ENVELOPE_KEYS",
    "EnvelopeShape",
    "derive_event_id",
    "derived_event_ids",
    "encode_envelope",
    "format_time",
    "new_event_id",
    "new_event_ids",
    "parse_time",
]

ENVELOPE_KEYS: tuple[str, ...] = (
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
)
"""The envelope's keys in wire order (``replay-name`` follows ``detail`` when present)."""

_last: tuple[int, str] = (-1, "")  # (second, its text): one reference, swapped atomically


def format_time(epoch: float) -> str:
    """Format epoch seconds as RFC 3339 UTC with whole seconds: ``2026-11-27T05:00:00Z``.

    The text of the last second formatted is cached: under load most events share it.
    """
    global _last
    second = int(epoch // 1)
    cached = _last
    if cached[0] == second:
        return cached[1]
    text = _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime(second))
    _last = (second, text)
    return text


def parse_time(value: Any) -> float:
    """Read a PutEvents ``Time`` as epoch seconds.

    Accepts a :class:`datetime` (naive means UTC), epoch seconds (int or float, what the AWS
    JSON protocol sends), or RFC 3339 / ISO 8601 text (``2026-11-27T05:00:00Z``).

    Raises:
        ValueError: the value is none of these; the message names the value.
    """
    if isinstance(value, bool):
        raise ValueError(f"Time must be a timestamp, not the boolean {value!r}.")
    if isinstance(value, int | float):
        epoch = float(value)
    elif isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        epoch = moment.timestamp()
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"Time {value!r} is not an RFC 3339 timestamp such as 2026-11-27T05:00:00Z."
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        epoch = moment.timestamp()
    else:
        raise ValueError(
            f"Time must be a timestamp (epoch seconds, datetime or RFC 3339 text), "
            f"not {type(value).__name__}."
        )
    if not 0.0 <= epoch < 253402300800.0:  # 0001..9999 as RFC 3339 can write; no negatives
        raise ValueError(f"Time {value!r} is outside 1970-01-01T00:00:00Z..9999-12-31T23:59:59Z.")
    return epoch


def new_event_id() -> str:
    """A random (version 4) UUID as text, the form EventBridge event ids take."""
    return new_event_ids(1)[0]


# Event ids are formatted in batches from one read of the system's randomness and handed out
# from a pool: formatting 256 ids column by column (one slice assignment per character
# position) costs a fraction of formatting them one by one.
_POOL_BATCH = 256
_pool: list[str] = []
_pool_lock = threading.Lock()
_HEX = b"0123456789abcdef"
_VARIANT = bytes.maketrans(_HEX, b"89ab89ab89ab89ab")  # RFC 4122 variant: top bits are 10
# For each of the 36 characters of an id: the hex digit it copies (0..31), or its fixed text.
_LAYOUT: list[int | bytes] = []
for _digit in range(32):
    if _digit in (8, 12, 16, 20):
        _LAYOUT.append(b"-")
    _LAYOUT.append(b"4" if _digit == 12 else _digit)  # the version nibble of a v4 UUID


def _format_ids(count: int) -> list[str]:
    """``count`` random (version 4) UUIDs as text, from one ``os.urandom`` call."""
    digits = os.urandom(16 * count).hex().encode("ascii")
    out = bytearray(36 * count)
    for position, source in enumerate(_LAYOUT):
        if isinstance(source, bytes):
            out[position::36] = source * count
        elif source == 16:
            out[position::36] = digits[source::32].translate(_VARIANT)
        else:
            out[position::36] = digits[source::32]
    text = out.decode("ascii")
    return [text[i : i + 36] for i in range(0, 36 * count, 36)]


def _forget_pool() -> None:
    # A forked child must not hand out the ids its parent has in its pool.
    global _pool_lock
    _pool.clear()
    _pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


def new_event_ids(count: int) -> list[str]:
    """``count`` random (version 4) UUIDs as text, each handed out once (thread-safe)."""
    with _pool_lock:
        pool = _pool
        if len(pool) < count:
            pool.extend(_format_ids(max(count, _POOL_BATCH)))
        ids = pool[-count:]
        del pool[-count:]
    return ids


def derive_event_id(base_id: str, index: int) -> str:
    """The id of event ``index`` of a batch whose base id is ``base_id``.

    The last 16 bits of the base (its last four hex digits, inside the UUID's node field) are
    XORed with ``index``: distinct indexes give distinct ids, the version and variant bits are
    untouched, so every derived id of a version 4 base is a version 4 UUID, and index 0 gives
    the base itself. The other 106 random bits keep the ids of different batches apart.

    Raises:
        ValueError: ``index`` is outside 0..65535.
    """
    if not 0 <= index <= 0xFFFF:
        raise ValueError(f"A batch holds at most 65,536 events; index {index} is out of range.")
    return f"{base_id[:32]}{int(base_id[32:36], 16) ^ index:04x}"


def derived_event_ids(base_id: str, count: int) -> list[str]:
    """The ids of events ``0 .. count - 1`` of a batch (see :func:`derive_event_id`)."""
    if not 0 <= count <= 0x10000:
        raise ValueError(f"A batch holds at most 65,536 events, not {count}.")
    if count <= 16:  # indexes below 16 only flip bits of the last hex digit
        prefix = base_id[:35]
        last = int(base_id[35], 16)
        return [prefix + _HEX_DIGITS[last ^ index] for index in range(count)]
    prefix = base_id[:32]
    low = int(base_id[32:36], 16)
    return [f"{prefix}{low ^ index:04x}" for index in range(count)]


_HEX_DIGITS = "0123456789abcdef"


class EnvelopeShape:
    """What the envelopes of events that differ only in id and detail share, rendered once.

    This is the one place envelope text is made: a single event (the publisher) and each event
    of a stored batch (the event log, when it expands a batch on reading) both go through
    :meth:`render`, so both give the same bytes for the same fields.

    Example::

        shape = EnvelopeShape(detail_type="prod", source="clientevents", account="0",
                              time_text="2026-11-27T05:00:00Z", region="local",
                              resources=["c1"])
        text = shape.render("6a7e8feb-...", '{"eventType":"search"}')

    Raises:
        orjson.JSONEncodeError: a field is not valid Unicode (a lone surrogate).
    """

    __slots__ = ("_middle",)

    def __init__(
        self,
        *,
        detail_type: str,
        source: str,
        account: str,
        time_text: str,
        region: str,
        resources: list[str],
    ) -> None:
        # One encoding of the shared keys, in wire order, without its braces.
        shared = orjson.dumps(
            {
                "detail-type": detail_type,
                "source": source,
                "account": account,
                "time": time_text,
                "region": region,
                "resources": resources,
            }
        )
        self._middle = "," + shared[1:-1].decode() + ',"detail":'


    def render(self, event_id: str, detail_json: str, replay_name: str | None = None) -> str:
        """The envelope of one event; ``detail_json`` is the JSON text of its detail object,
        spliced in unchanged."""
        head = '{"version":"0","id":' + orjson.dumps(event_id).decode() + self._middle
        if replay_name is None:
            return head + detail_json + "}"
        return (
            head + detail_json + ',"replay-name":' + orjson.dumps(replay_name).decode() + "}"
        )


def encode_envelope(
    *,
    event_id: str,
    detail_type: str,
    source: str,
    account: str,
    time_text: str,
    region: str,
    resources: list[str],
    detail_json: bytes | str,
    replay_name: str | None = None,
) -> str:
    """The envelope's JSON text, with ``detail_json`` (already-encoded JSON) as ``detail``.

    ``detail_json`` must be the JSON encoding of an object; it is spliced in unchanged.
    """
    shape = EnvelopeShape(
        detail_type=detail_type, source=source, account=account, time_text=time_text,
        region=region, resources=resources,
    )
    if isinstance(detail_json, bytes):
        detail_json = detail_json.decode()
    return shape.render(event_id, detail_json, replay_name)
