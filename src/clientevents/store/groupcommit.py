"""Group commit, the part the state stores share: callers queue write functions, one writer
thread takes every function waiting (at most :data:`MAX_GROUP`) and commits them together, and
each caller learns its function's result once the commit holding it ended.

:class:`GroupCommit` queues the jobs, gathers the groups and resolves the callers; a store
(:class:`~clientevents.store.sqlite.Database`, :class:`~clientevents.store.postgres.
PostgresDatabase`) gives the transaction of a group (:meth:`GroupCommit._commit_group`), which
resolves every job of it, after its commit or with its error.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from clientevents.errors import StoreError

T = TypeVar("T")

logger = logging.getLogger(__name__)

WriteFn = Callable[[Any], Any]

DoneFn = Callable[[Any, BaseException | None], None]

#: Most write functions one commit takes. Bounds the latency a commit adds to its first caller.
MAX_GROUP = 512


class _Job:
    """One write function waiting for the next group commit, and how its caller learns the end.

    Exactly one of: ``lock`` (a blocking caller waits on a bare lock the writer releases, far
    cheaper than a ``concurrent.futures.Future``), ``future`` + ``loop`` (an asyncio caller), or
    ``callback`` (called on the writer thread, see :meth:`GroupCommit.submit`).
    """

    __slots__ = (
        "callback", "error", "fn", "future", "gathered", "lock", "loop", "not_before", "order",
        "result",
    )

    def __init__(
        self,
        fn: WriteFn,
        *,
        future: asyncio.Future[Any] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        callback: DoneFn | None = None,
        not_before: float = 0.0,
        gathered: threading.Event | None = None,
        order: tuple[str, ...] | None = None,
    ) -> None:
        self.fn = fn
        self.not_before = not_before
        self.gathered = gathered
        self.order = order
        self.future = future
        self.loop = loop
        self.callback = callback
        self.result: Any = None
        self.error: BaseException | None = None
        self.lock: threading.Lock | None = None
        if loop is None and callback is None:
            self.lock = threading.Lock()
            self.lock.acquire()

    def resolve(self, result: Any, error: BaseException | None) -> None:
        if self.lock is not None:
            self.result = result
            self.error = error
            self.lock.release()
        elif self.callback is not None:
            try:
                self.callback(result, error)
            except Exception:  # a callback's bug must not stop the writer thread
                logger.exception("A write completion callback failed.")
        else:
            assert self.future is not None and self.loop is not None
            try:
                self.loop.call_soon_threadsafe(_resolve_async, self.future, result, error)
            except RuntimeError:  # its event loop is closed: nobody is waiting any more
                pass


def _resolve_async(fut: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if fut.cancelled():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)


class GroupCommit:
    """The write side of a state store: the job queue, the writer thread's loop, the callers'
    waits. A store calls :meth:`_start_writer` once its writer connection is ready, gives the
    transaction of a group (:meth:`_commit_group`) and what ends the writer connection
    (:meth:`_writer_stopped`), and calls :meth:`_stop_writer` when it closes.

    A job the store puts back in ``_retry`` (the server rolled it back) runs first in the next
    group, before the writer waits for new ones; the writer stops only once none is left.
    """

    #: The job class of this store's writes.
    _job_type: type[_Job] = _Job

    def _start_writer(self, name: str) -> None:
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        #: Write functions to run first in the next group (rolled back by the server).
        self._retry: list[_Job] = []
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- writes ---------------------------------------------------------------------------

    def write(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn`` in the next group commit; return its result once it is committed (on disk
        for SQLite)."""
        job = self._job_type(fn)
        self._submit(job)
        assert job.lock is not None
        job.lock.acquire()
        if job.error is not None:
            raise job.error
        result: T = job.result
        return result

    async def awrite(self, fn: Callable[[Any], T]) -> T:
        """The asyncio twin of :meth:`write`: the event loop is never blocked."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._submit(self._job_type(fn, future=fut, loop=loop))
        return await fut

    def submit(
        self,
        fn: WriteFn,
        on_done: DoneFn,
        *,
        not_before: float = 0.0,
        gathered: threading.Event | None = None,
        order: tuple[str, ...] | None = None,
    ) -> None:
        """Queue ``fn`` for the next group commit and return at once.

        ``on_done(result, error)`` runs on the writer thread once the commit holding ``fn`` is
        done (``error`` is None) or failed. It must be quick and must not block or write:
        it is how a component wakes its own waiters (e.g. by releasing locks) without a
        thread of its own waiting on every write.

        ``not_before`` (a ``time.monotonic()`` value) lets the writer wait until then before it
        starts the commit that holds ``fn``, so that more writes join it: a caller that
        gathers writes (the event log's appender, under load) trades that much latency for
        fewer, larger commits. With ``gathered``, the wait ends as soon as that event is set
        (the caller sets it once it has gathered enough).

        ``order`` places ``fn`` in its group on a store whose processes write at once
        (PostgreSQL): ``fn`` runs after the group's functions without one, sorted by it
        (submission order among equals), before the deferred statements, so a row it locks is
        taken at one place of every process's groups and held only to the commit. SQLite's one
        writer needs no order and ignores it.
        """
        self._submit(self._job_type(fn, callback=on_done, not_before=not_before,
                                    gathered=gathered, order=order))

    def _submit(self, job: _Job) -> None:
        if self._closed:
            raise self._closed_error()
        self._queue.put(job)

    def _closed_error(self) -> StoreError:
        """The error of a write submitted after :meth:`_stop_writer`."""
        raise NotImplementedError

    # -- the writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        stop = False
        while not stop or self._retry:
            jobs = self._retry
            self._retry = []
            if not jobs:
                first = self._queue.get()
                if first is None:
                    break
                if first.not_before:
                    delay = first.not_before - time.monotonic()
                    if delay > 0:
                        if first.gathered is not None:
                            first.gathered.wait(delay)
                        else:
                            time.sleep(delay)
                jobs.append(first)
            while not stop and len(jobs) < MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                jobs.append(nxt)
            self._commit_group(jobs)
        self._writer_stopped()

    def _commit_group(self, jobs: list[_Job]) -> None:
        """Run ``jobs`` in one transaction and resolve each (or put it back in ``_retry``)."""
        raise NotImplementedError

    def _writer_stopped(self) -> None:
        """The writer thread ends: close its connection."""
        raise NotImplementedError

    def _stop_writer(self) -> bool:
        """Finish the pending writes and end the writer thread; ``False`` if it was already."""
        if self._closed:
            return False
        self._closed = True
        self._queue.put(None)
        self._thread.join()
        return True
