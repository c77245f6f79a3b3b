"""One request's events as one log record: the gateway's way of publishing.

The events of one ingest request share everything but their detail: source, detail-type,
resources (the caller's clientId), bus and receive time. Instead of an envelope and a row per
event, :func:`prepare_batch` checks each detail as :meth:`EntryPreparer.prepare` would check
the entry ``{"Source", "DetailType", "Detail", "Resources", "EventBusName"}``, and stores the
accepted details as they arrived in one :data:`~clientevents.log.records.BATCH` record. The
event log builds each event's envelope when it is read, byte for byte what storing the entry
alone would have stored, with the id :func:`derive_event_id` gives it.

Checks per detail, with the answers ``prepare`` gives: an object (or JSON text of one), else
``MalformedDetail``; nested at most ``max_json_depth`` deep, else ``MalformedDetail``; the
entry's size (EventBridge's calculation, on the detail as the log stores it, re-encoded) at
most ``max_entry_bytes``, else ``InvalidArgument``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from clientevents.events.entries import EntryError, EntryPreparer
from clientevents.events.envelope import derived_event_ids, new_event_ids
from clientevents.events.limits import exceeds_depth, utf8_len
from clientevents.log.records import BATCH, LogRow, batch_body, batch_head

__all__ = ["GROWTH_BOUND", "MAX_SHARED", "prepare_batch"]

GROWTH_BOUND = 8
"""How many times longer than its JSON text a value can be once re-encoded by orjson: strings,
integers, literals and structure never grow, and a number written in 3 characters (``1e9``)
re-encodes in at most 24 (``-2.2250738585072014e-308``). A text this many times shorter than the
size limit cannot exceed it, so its re-encoded size need not be computed."""


def prepare_batch(
    preparer: EntryPreparer,
    details: Sequence[Any],
    *,
    texts: Sequence[str | None] | None,
    source: str,
    detail_type: str,
    resources: list[str],
    bus: str,
    now: float,
) -> tuple[list[LogRow], list[str | EntryError]]:
    """The rows to append for ``details`` and each detail's answer (an event id or an error).

    ``texts[i]``, when given, is the JSON text ``details[i]`` was parsed from: it is stored as
    it is. A detail may also be JSON text itself. The rows are one batch record, or, when a
    shared field is unusual (a bus ARN, a field that is not plain text), one single-event row
    per accepted entry from :meth:`EntryPreparer.prepare`, which then names the problem.
    """
    shared = _shared(preparer, source, detail_type, resources, bus)
    if shared is None:
        return _one_by_one(preparer, details, source, detail_type, resources, bus, now)
    base_size, head = shared
    max_bytes = preparer.max_entry_bytes
    max_depth = preparer.max_json_depth
    shallow = 2 * max_depth + 1  # a text this short cannot nest deeper than max_depth
    plain_room = (max_bytes - base_size) // GROWTH_BOUND  # ASCII text this short fits
    answers: list[str | EntryError | None] = []
    stored: list[str] = []
    if texts is None:
        texts = [None] * len(details)
    for detail, text in zip(details, texts, strict=True):
        # Hot path: a parsed object with its ASCII text, small and shallow (the usual entry).
        if (
            type(detail) is dict
            and type(text) is str
            and len(text) <= plain_room
            and text.isascii()
            and (len(text) <= shallow or text.count("{") + text.count("[") <= max_depth)
        ):
            answers.append(None)
            stored.append(text)
            continue
        if type(detail) is str:
            # JSON text as Detail: sized as given, as PutEvents sizes it.
            given: str = detail
            try:
                parsed = orjson.loads(given)
            except orjson.JSONDecodeError:
                parsed = None
            if type(parsed) is not dict:
                answers.append(_refusal(preparer, given, source, detail_type, resources, bus,
                                        now))
                continue
            detail, text = parsed, given
            size = base_size + utf8_len(given)
        elif type(detail) is not dict:
            answers.append(_refusal(preparer, detail, source, detail_type, resources, bus, now))
            continue
        elif text is None:
            try:
                encoded = orjson.dumps(detail)
            except (orjson.JSONEncodeError, TypeError):
                answers.append(_MALFORMED_TEXT)
                continue
            size = base_size + len(encoded)
            text = encoded.decode()
        else:
            # A parsed detail is sized re-encoded; its text bounds that size (GROWTH_BOUND).
            size = base_size + GROWTH_BOUND * utf8_len(text)
            if size > max_bytes:
                size = base_size + len(orjson.dumps(detail))
        if size > max_bytes:
            answers.append(preparer.too_large(size))
        elif exceeds_depth(detail, max_depth, text):
            answers.append(_MALFORMED_TEXT)
        else:
            answers.append(None)
            stored.append(text)
    if not stored:
        return [], [a for a in answers if a is not None]
    body = batch_body(
        source=source, detail_type=detail_type, account=preparer.account,
        region=preparer.region, resources=resources, details=stored, head=head,
    )
    base_id = new_event_ids(1)[0]
    ids = iter(derived_event_ids(base_id, len(stored)))
    results: list[str | EntryError] = [next(ids) if a is None else a for a in answers]
    return [LogRow(bus, base_id, now, now, body, None, None, len(stored), BATCH)], results


_MALFORMED_TEXT = EntryError("MalformedDetail", "Detail is malformed.")


#: Most (source, detail-type, resources, bus) combinations whose shared parts are kept.
MAX_SHARED = 10_000


def _shared(
    preparer: EntryPreparer, source: Any, detail_type: Any, resources: Any, bus: Any
) -> tuple[int, str] | None:
    """The entry size of the shared fields and the record's head text, or None when a shared
    field is unusual (see above). Kept per combination: a client sends many requests."""
    if not (
        type(source) is str
        and source
        and type(detail_type) is str
        and detail_type
        and type(resources) is list
        and all(type(r) is str for r in resources)
        and type(bus) is str
        and bus in preparer.buses
    ):
        return None
    key = (source, detail_type, bus, *resources)
    cache = preparer.batch_shared
    shared = cache.get(key)
    if shared is None:
        try:
            head = batch_head(source=source, detail_type=detail_type, account=preparer.account,
                              region=preparer.region, resources=resources)
        except orjson.JSONEncodeError:  # not valid Unicode (a lone surrogate)
            return None
        size = utf8_len(source) + utf8_len(detail_type) + sum(utf8_len(r) for r in resources)
        shared = (size, head)
        if len(cache) >= MAX_SHARED:
            del cache[next(iter(cache))]
        cache[key] = shared
    return shared


def _refusal(preparer: EntryPreparer, detail: Any, source: str, detail_type: str,
             resources: list[str], bus: str, now: float) -> EntryError:
    """What ``prepare`` answers for a detail that is not an object (or its JSON text)."""
    refused = preparer.prepare(_entry(detail, source, detail_type, resources, bus), now)
    return refused if isinstance(refused, EntryError) else _MALFORMED_TEXT


def _entry(detail: Any, source: str, detail_type: str, resources: list[str],
           bus: str) -> dict[str, Any]:
    return {"Source": source, "DetailType": detail_type, "Detail": detail,
            "Resources": resources, "EventBusName": bus}


def _one_by_one(
    preparer: EntryPreparer,
    details: Sequence[Any],
    source: Any,
    detail_type: Any,
    resources: Any,
    bus: Any,
    now: float,
) -> tuple[list[LogRow], list[str | EntryError]]:
    rows: list[LogRow] = []
    results: list[str | EntryError] = []
    for detail in details:
        slot = preparer.prepare(_entry(detail, source, detail_type, resources, bus), now)
        if isinstance(slot, EntryError):
            results.append(slot)
        else:
            rows.append(slot)
            results.append(slot.event_id)
    return rows, results
