"""PutEvents: validate entries, build envelopes, append them durably, answer per entry.

Example::

    publisher = Publisher(db, settings)
    result = publisher.put_events([
        {"Source": "shop", "DetailType": "order", "Detail": '{"id": 1}',
         "EventBusName": "orders"},
    ])
    # {"FailedEntryCount": 0, "Entries": [{"EventId": "6a7e8feb-..."}]}

Every accepted entry of a call is in the log, on disk, when the call returns: all rows of a
call are built first, then handed to the event log (:mod:`clientevents.log.port`); the SQL log's
:class:`LogAppender` inserts the rows of every caller waiting at that moment with a few
statements in one shared commit (group commit), JetStream answers once the stream acknowledged.
:meth:`Publisher.put_events` stores one record per event; :meth:`Publisher.put_details_async`
(the gateway's path) stores a request's events as one record (:mod:`clientevents.events.batch`).
A refused entry gets its ``ErrorCode``/``ErrorMessage`` and never fails the others. If the
commit itself fails, each entry that would have been appended answers ``InternalFailure``
(EventBridge's retryable code), so callers retry exactly the entries that failed; the
gateway's :meth:`Publisher.put_details_async` raises :class:`StoreError` instead (its clients
get a 503).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from clientevents.config.model import Settings
from clientevents.errors import ClientEventsError, StoreError
from clientevents.events.batch import prepare_batch
from clientevents.events.entries import EntryError, EntryPreparer
from clientevents.events.envelope import new_event_ids
from clientevents.log.appender import LogAppender
from clientevents.log.eventlog import EventLog
from clientevents.log.port import EventLogPort
from clientevents.log.records import LogRow
from clientevents.logthrottle import LogThrottle
from clientevents.store import driver_errors
from clientevents.store.port import SqlConnection, StateStore

__all__ = ["INTERNAL_FAILURE", "Publisher", "PutEventsRequestError"]

logger = logging.getLogger(__name__)
_THROTTLE = LogThrottle(logger)

INTERNAL_FAILURE = "InternalFailure"

Answer = dict[str, Any]


class PutEventsRequestError(ClientEventsError, ValueError):
    """The request as a whole is invalid (not a list of entries, too many entries)."""


class Publisher:
    """Publishes PutEvents entries onto the configured buses.

    Args:
        db: the shared database (the log lives in it).
        settings: account, region, buses and limits come from here.
        clock: the ingestion time source (epoch seconds).
        log: the event log (default: the SQL log in ``db``).

    Thread-safe: any number of threads and event loops may publish at once.
    """

    def __init__(
        self,
        db: StateStore,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        log: EventLogPort | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.log: EventLogPort = EventLog(db) if log is None else log
        self.clock = clock
        self.max_entries = settings.limits.max_entries_per_request
        self.preparer = EntryPreparer(
            account=settings.account,
            region=settings.region,
            buses=settings.bus_names(),
            max_entry_bytes=settings.limits.max_entry_bytes,
            max_json_depth=settings.limits.max_json_depth,
        )

    # -- public API ----------------------------------------------------------------------

    def put_events(self, entries: Sequence[Any]) -> Answer:
        """Publish ``entries``; return PutEvents' answer once they are durable.

        Raises:
            PutEventsRequestError: ``entries`` is not a list of 1 to
                ``limits.max_entries_per_request`` entries.
        """
        self._check_request(entries)
        rows, results = self._prepare(entries)
        if rows:
            try:
                self.log.append_records(rows)
            except driver_errors(StoreError) as exc:
                return self._failed_commit(results, exc)
        return _answer(results)

    async def put_events_async(self, entries: Sequence[Any]) -> Answer:
        """The asyncio twin of :meth:`put_events`: the event loop never blocks on the commit."""
        self._check_request(entries)
        rows, results = self._prepare(entries)
        if rows:
            try:
                await self.log.append_future(rows)
            except driver_errors(StoreError) as exc:
                return self._failed_commit(results, exc)
        return _answer(results)

    async def put_details_async(
        self,
        details: Sequence[Any],
        *,
        source: str,
        detail_type: str,
        resources: list[str],
        bus: str,
        texts: Sequence[str | None] | None = None,
    ) -> Answer:
        """Publish events that share everything but ``Detail``; answer once they are durable.

        The same answer as :meth:`put_events_async` gives for the entries ``{"Source": source,
        "DetailType": detail_type, "Detail": detail, "Resources": resources, "EventBusName":
        bus}``, one per ``details`` item (parsed JSON objects, as the gateway holds them), for a
        fraction of the work: the accepted events are stored as one record, as they arrived
        (``texts[i]``, when given, is the JSON text ``details[i]`` was parsed from), and their
        envelopes are built when the log is read. Reading gives each event the envelope
        :meth:`put_events` would have stored, with the id the answer names.

        Raises:
            PutEventsRequestError: ``details`` is not a list of 1 to
                ``limits.max_entries_per_request`` items.
            StoreError: the commit failed (a full disk, an I/O error); nothing was stored.
        """
        return _answer(
            await self.append_details(
                details, source=source, detail_type=detail_type, resources=resources, bus=bus,
                texts=texts,
            )
        )

    async def append_details(
        self,
        details: Sequence[Any],
        *,
        source: str,
        detail_type: str,
        resources: list[str],
        bus: str,
        texts: Sequence[str | None] | None = None,
    ) -> list[str | EntryError]:
        """:meth:`put_details_async` answering each detail's event id or :class:`EntryError`.

        Raises:
            PutEventsRequestError: ``details`` is not a list of 1 to
                ``limits.max_entries_per_request`` items.
            StoreError: the commit failed (a full disk, an I/O error); nothing was stored.
                (:meth:`put_events_async` answers ``InternalFailure`` per entry instead.)
        """
        self._check_request(details)
        if texts is not None and len(texts) != len(details):
            raise PutEventsRequestError(
                f"texts holds {len(texts)} items for {len(details)} details; give one text "
                "(or None) per detail."
            )
        rows, results = prepare_batch(
            self.preparer, details, texts=texts, source=source, detail_type=detail_type,
            resources=resources, bus=bus, now=self.clock(),
        )
        if rows:
            # A failed commit raises StoreError: nothing was stored, so the caller (the
            # gateway) answers the whole request as unavailable rather than entry by entry.
            await self.log.append_future(rows)
        return results

    @property
    def appender(self) -> LogAppender:
        """The SQL log's group-commit appender (its counters are the benchmarks')."""
        if not isinstance(self.log, EventLog):
            raise TypeError(f"The event log {type(self.log).__name__} has no SQL appender.")
        return self.log.appender

    def append_in(self, conn: SqlConnection, entries: Sequence[Any]) -> Answer:
        """Append ``entries`` inside a write the caller already runs (``db.write(fn)``).

        For internal callers (the bus target, replays): no limit on the number of entries; the
        events are durable when the caller's write commits (the SQL log), or stored before
        this returns (a log outside the database; a repeat after a failed write keeps the
        event ids and is dropped by the log's de-duplication). Returns the same answer shape.
        """
        if not isinstance(entries, list | tuple):
            raise PutEventsRequestError(
                f"entries must be a list of PutEvents entries, not {type(entries).__name__}."
            )
        rows, results = self._prepare(entries)
        if rows:
            self.log.append_in(conn, rows)
        return _answer(results)

    # -- internals -----------------------------------------------------------------------

    def _check_request(self, entries: Sequence[Any]) -> None:
        if not isinstance(entries, list | tuple):
            raise PutEventsRequestError(
                f"Entries must be a list of PutEvents entries, not {type(entries).__name__}."
            )
        if not entries:
            raise PutEventsRequestError("Entries must hold at least one entry.")
        if len(entries) > self.max_entries:
            raise PutEventsRequestError(
                f"Entries holds {len(entries)} entries; at most {self.max_entries} are allowed "
                "per request (limits.max_entries_per_request). Split the request."
            )

    def _prepare(self, entries: Sequence[Any]) -> tuple[list[LogRow], list[str | EntryError]]:
        now = self.clock()
        prepare = self.preparer.prepare
        ids = new_event_ids(len(entries))
        rows: list[LogRow] = []
        results: list[str | EntryError] = []
        for entry, new_id in zip(entries, ids, strict=True):
            slot = prepare(entry, now, new_id)
            if isinstance(slot, EntryError):
                results.append(slot)
            else:
                rows.append(slot)
                results.append(slot.event_id)
        return rows, results

    def _failed_commit(self, results: list[str | EntryError], exc: BaseException) -> Answer:
        return _answer(self._failed_results(results, exc))

    @staticmethod
    def _failed_results(
        results: list[str | EntryError], exc: BaseException
    ) -> list[str | EntryError]:
        _THROTTLE.error("append", "Appending events failed. error=%s", exc)
        # The answer names no file or database path: those are for the operator's log.
        failure = EntryError(
            INTERNAL_FAILURE, "The event log could not store the entry right now; retry it."
        )
        return [failure if isinstance(r, str) else r for r in results]


def _answer(results: list[str | EntryError]) -> Answer:
    entries: list[dict[str, str]] = []
    failed = 0
    for result in results:
        if type(result) is str:
            entries.append({"EventId": result})
        else:
            assert isinstance(result, EntryError)
            failed += 1
            entries.append({"ErrorCode": result.code, "ErrorMessage": result.message})
    return {"FailedEntryCount": failed, "Entries": entries}
