"""The runtime: a configuration and a data directory become running components.

::

    runtime = Runtime(settings, data_dir)
    runtime.publisher.put_events([...])      # the gateway's side: publish
    await runtime.run_workers(stop)          # the worker's side: route, deliver, trim
    runtime.close()

Construction makes the data directory private
(:func:`~clientevents.store.datadir.secure_data_dir`: umask ``077``, the folder ``0700``),
opens ``<data_dir>/clientevents.db`` and builds the publisher and the streams; the worker
components (router, dispatchers, log retention) are built on first use, so a
gateway process that only publishes never builds targets. :meth:`Runtime.run_workers` runs
them all until ``stop`` is set, then waits for each to finish its batch in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from functools import cached_property
from pathlib import Path
from typing import Any

from clientevents.archive import Archiver, ReplayRunner
from clientevents.config.model import Settings
from clientevents.errors import StoreError
from clientevents.events.publisher import Publisher
from clientevents.log.factory import configured_log
from clientevents.log.port import EventLogPort
from clientevents.log.retention import DEFAULT_RETENTION_SECS, LogRetention
from clientevents.logthrottle import LogThrottle
from clientevents.routing.direct import StreamFeed, build_feeds, register_feeds
from clientevents.routing.router import Router
from clientevents.store import outage_errors
from clientevents.store.datadir import secure_data_dir
from clientevents.store.factory import open_store
from clientevents.store.port import StateStore
from clientevents.streams.store import StreamStore
from clientevents.targets.base import TargetContext
from clientevents.targets.dispatcher import Dispatchers, DispatchOptions
from clientevents.targets.leases import WorkerRegistry

__all__ = ["DB_FILE", "DISPATCH_BATCH_SIZE", "Runtime", "default_dispatch_options"]

logger = logging.getLogger(__name__)
_THROTTLE = LogThrottle(logger)

#: The first and the longest wait between two attempts to build the workers while the event
#: log or the store cannot be reached (:meth:`Runtime.run_workers`).
FIRST_START_BACKOFF_SECS = 0.5
MAX_START_BACKOFF_SECS = 10.0

DB_FILE = "clientevents.db"
"""The database's file name inside the data directory."""

Worker = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


DISPATCH_BATCH_SIZE = 500
"""Most deliveries a dispatcher claims at once: a busy target settles 500 per cycle (one
claim, one send, one settle), enough for one target to follow 10,000 events/s."""


def default_dispatch_options(targets: int) -> DispatchOptions:
    """Dispatch options whose idle polling stays near 500 queue checks a second in total.

    One target polls every 2 ms (a delivery waits little for its dispatcher), more targets
    poll less often (2 ms each: 10 targets every 20 ms, at most every 200 ms). Batches hold up
    to :data:`DISPATCH_BATCH_SIZE` deliveries.
    """
    poll = min(0.2, max(0.002, targets * 0.002))
    return DispatchOptions(batch_size=DISPATCH_BATCH_SIZE, poll_interval_secs=poll)


class Runtime:
    """Everything a configuration runs, over one database.

    Args:
        settings: the loaded configuration.
        data_dir: holds ``clientevents.db``; relative target paths resolve against it.
        log_retention_secs: how long routed events stay in the log
            (:data:`~clientevents.log.retention.DEFAULT_RETENTION_SECS`, 24 hours).
        dispatch_options: how dispatchers poll, batch and time out
            (:func:`default_dispatch_options` by default).
        router_batch_size: most events one routing transaction holds.
        log: makes the event log from the database (default: the one the configuration's
            ``storage`` section chooses, :func:`clientevents.log.factory.configured_log`;
            the SQL log in the database without one). The runtime closes it.
        direct_streams: feed every ``delivery_stream`` target from the log
            (:mod:`clientevents.routing.direct`: no queue row per event), as the commands
            (``serve``, ``worker``, the gateway's in-process workers) do; False (the
            constructor's default) queues its deliveries like every other target's.

    Attributes:
        db: the shared database.
        publisher: puts events on buses (PutEvents).
        streams: the named streams.
    """

    def __init__(
        self,
        settings: Settings,
        data_dir: str | Path,
        *,
        log_retention_secs: float = DEFAULT_RETENTION_SECS,
        dispatch_options: DispatchOptions | None = None,
        router_batch_size: int = 500,
        log: Callable[[StateStore], EventLogPort] | None = None,
        direct_streams: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir)
        if Path(settings.data_dir) != self.data_dir:
            settings = settings.with_data_dir(self.data_dir)
        self.settings = settings
        self.log_retention_secs = log_retention_secs
        self._dispatch_options = dispatch_options
        self._router_batch_size = router_batch_size
        self._direct_streams = direct_streams
        secure_data_dir(self.data_dir)
        self.db = open_store(settings, self.data_dir)
        try:
            self.log: EventLogPort = (
                configured_log(settings, self.db) if log is None else log(self.db)
            )
        except BaseException:
            self.db.close()
            raise
        try:
            self.publisher = Publisher(self.db, settings, log=self.log)
            self.streams = StreamStore(self.db, settings)
        except BaseException:
            self.log.close()
            self.db.close()
            raise
        self._closed = False

    # -- worker components (built on first use) --------------------------------------------

    @cached_property
    def router(self) -> Router:
        """The router of every bus (it skips the targets fed from the log, whose consumer
        groups building it registers)."""
        skip = register_feeds(self.log, self.settings) if self._direct_streams else frozenset()
        return Router(self.db, self.settings, batch_size=self._router_batch_size, log=self.log,
                      skip=skip)

    @cached_property
    def stream_feeds(self) -> list[StreamFeed]:
        """The delivery-stream targets fed from the log (none without ``direct_streams``)."""
        if not self._direct_streams:
            return []
        self.router  # noqa: B018 - registers the feeds' groups first
        return build_feeds(self.db, self.log, self.settings, self.target_context,
                           owner=self.leases.worker_id)

    async def _run_feeds(self, stop: asyncio.Event) -> None:
        if not self.stream_feeds:
            await stop.wait()
            return
        await asyncio.gather(*(feed.run(stop) for feed in self.stream_feeds))

    @cached_property
    def target_context(self) -> TargetContext:
        """What target factories get: the database, settings, data dir, publisher, streams."""
        return TargetContext(self.db, self.settings, self.data_dir, self.publisher, self.streams)

    @cached_property
    def dispatchers(self) -> Dispatchers:
        """One dispatcher per target of every rule."""
        options = self._dispatch_options
        if options is None:
            options = default_dispatch_options(sum(len(r.targets) for r in self.settings.rules))
        return Dispatchers(
            self.db, self.settings, self.target_context, options=options,
            owner=self.leases.worker_id,
        )

    @cached_property
    def leases(self) -> WorkerRegistry:
        """This worker in the worker registry: its heartbeat ends a dead worker's leases."""
        return WorkerRegistry(self.db)

    @cached_property
    def retention(self) -> LogRetention:
        """Trims routed events older than ``log_retention_secs``."""
        return LogRetention(
            self.log, self.settings.bus_names(), retention_secs=self.log_retention_secs
        )

    @cached_property
    def archiver(self) -> Archiver:
        """Fills and trims the archives; building it registers new archives' log offsets."""
        return Archiver(self.db, self.settings, log=self.log)

    @cached_property
    def replay_runner(self) -> ReplayRunner:
        """Runs the replays recorded in the ``replays`` table."""
        return ReplayRunner(self.db, self.settings, publisher=self.publisher)

    def workers(self) -> dict[str, Worker]:
        """The worker loops :meth:`run_workers` runs, by name."""
        return {
            "leases": self.leases.run,
            "router": self.router.run,
            "stream-feeds": self._run_feeds,
            "dispatchers": self.dispatchers.run,
            "log-retention": self.retention.run,
            "archiver": self.archiver.run,
            "replays": self.replay_runner.run,
        }

    # -- lifecycle -------------------------------------------------------------------------

    async def run_workers(self, stop: asyncio.Event) -> None:
        """Run the router, the dispatchers and log retention until ``stop`` is set.

        While the event log or the store cannot be reached at start (NATS or PostgreSQL is
        down), the workers wait for it; once running, each loop retries by itself. If one of
        them fails, ``stop`` is set so the others finish their batch, and the failure is
        raised once all have returned.
        """
        workers = await self._start_workers(stop)
        if workers is None:
            return
        tasks: dict[asyncio.Task[None], str] = {
            asyncio.create_task(worker(stop), name=f"clientevents-{name}"): name
            for name, worker in workers.items()
        }
        failure: BaseException | None = None
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.cancelled() or task.exception() is None:
                    continue
                exc = task.exception()
                logger.error("Worker %s failed; stopping the others.", tasks[task], exc_info=exc)
                failure = failure or exc
                stop.set()
            if not stop.is_set() and not pending:
                break
        if failure is not None:
            raise failure

    async def _start_workers(self, stop: asyncio.Event) -> dict[str, Worker] | None:
        """Build the worker components (some register consumer groups in the event log);
        while the log or the store cannot be reached, wait and try again with a back-off,
        logging once an interval. ``None`` when ``stop`` is set meanwhile."""
        backoff = FIRST_START_BACKOFF_SECS
        while True:
            try:
                return self.workers()
            except outage_errors(StoreError) as exc:
                _THROTTLE.error("start", "The workers cannot start: the event log or the "
                                "store cannot be reached; waiting for it. error=%s", exc)
            try:
                await asyncio.wait_for(stop.wait(), timeout=backoff)
                return None
            except TimeoutError:
                backoff = min(backoff * 2, MAX_START_BACKOFF_SECS)

    def close(self) -> None:
        """Close the database (pending writes finish first). Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.log.close()
        finally:
            self.db.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
