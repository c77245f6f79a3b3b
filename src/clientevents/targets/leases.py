"""Which workers are alive, so that the leases of a dead one end at once.

A dispatcher claims deliveries under a lease (2 minutes by default): if its worker dies, the
deliveries become due again only when the lease runs out. So that a restarted worker does not
wait out its predecessor's leases, every worker process registers in table ``workers`` (owned by
this module) with an id, its host, its pid and the start time of its process, and refreshes a
heartbeat. Each claim records the worker's id (``deliveries.claimed_by``).

A worker is **gone** when

- it is on this host and its process is not running (no such pid, a zombie, or a pid now used
  by a process that started at another time), or
- its heartbeat is older than ``stale_after_secs`` (a worker on another host, or one that hangs).

When a worker starts, and at every heartbeat, the registry releases the leases of gone workers
(:func:`~.queue.release_claims`: their deliveries are due at once) and removes their rows. A
worker that stops cleanly releases its own remaining leases and removes its row. A worker
wrongly taken for gone (a heartbeat delayed past ``stale_after_secs``) only causes deliveries to
be made twice, which at-least-once delivery allows; its late answers are ignored (claim numbers).

Example::

    registry = WorkerRegistry(db)
    registry.register()                 # releases what dead workers held
    Dispatchers(db, settings, ctx, owner=registry.worker_id)
    await registry.run(stop)            # heartbeats until stop, then deregisters
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Final

from clientevents.logthrottle import LogThrottle
from clientevents.store.engine import register_schema
from clientevents.store.port import SqlConnection, StateStore
from clientevents.targets.queue import SQL_DELIVERY_QUEUE

__all__ = ["SCHEMA", "WorkerRegistry", "process_start"]

logger = logging.getLogger("clientevents.targets")
_THROTTLE = LogThrottle(logger)

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS workers (
    worker_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_start TEXT,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL
);
"""

register_schema("targets.leases", SCHEMA)


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (Linux: clock ticks after boot), or ``None`` if it is not
    running or is a zombie; ``""`` where that cannot be told (no ``/proc``) but it exists."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read()
    except FileNotFoundError:
        return None
    except OSError:
        return _exists(pid)
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = text[text.rfind(b")") + 2 :].split()
    if fields and fields[0] == b"Z":
        return None
    return fields[19].decode() if len(fields) > 19 else ""


def _exists(pid: int) -> str | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return ""
    return ""


class WorkerRegistry:
    """This worker process's row in ``workers``, its heartbeat, and the release of dead ones'
    leases.

    Args:
        db: the shared database.
        heartbeat_secs: how often the heartbeat is written (and gone workers looked for).
        stale_after_secs: a worker whose heartbeat is older is gone, wherever it runs.
        clock: the time source (epoch seconds).
    """

    def __init__(
        self,
        db: StateStore,
        *,
        heartbeat_secs: float = 10.0,
        stale_after_secs: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if stale_after_secs <= heartbeat_secs:
            raise ValueError(
                f"stale_after_secs ({stale_after_secs}) must exceed heartbeat_secs "
                f"({heartbeat_secs}), or live workers would be taken for gone."
            )
        self.db = db
        self.heartbeat_secs = heartbeat_secs
        self.stale_after_secs = stale_after_secs
        self.clock = clock
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.worker_id = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:12]}"
        self._registered = False

    def register(self) -> int:
        """Add this worker and release the leases of gone ones; return how many were released.

        Idempotent: a second call only refreshes the heartbeat and looks for gone workers.
        """
        now = self.clock()
        start = process_start(self.pid)
        released = self.db.write(lambda conn: self._register(conn, now, start))
        self._registered = True
        return released

    def heartbeat(self) -> int:
        """Refresh this worker's heartbeat and release the leases of gone workers."""
        return self.register()

    def deregister(self) -> int:
        """Remove this worker, releasing the leases it still holds; return how many."""
        now = self.clock()
        released: int = self.db.write(lambda conn: self._deregister(conn, now))
        self._registered = False
        return released

    async def run(self, stop: asyncio.Event) -> None:
        """Heartbeat until ``stop`` is set, then deregister."""
        try:
            while not stop.is_set():
                try:
                    await asyncio.to_thread(self.heartbeat)
                except Exception:
                    _THROTTLE.error("heartbeat", "The worker heartbeat failed; retrying. worker=%s",
                                    self.worker_id, exc_info=True)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.heartbeat_secs)
                except TimeoutError:
                    pass
        finally:
            try:
                await asyncio.to_thread(self.deregister)
            except Exception:
                logger.exception("Could not deregister the worker. worker=%s", self.worker_id)

    # -- inside writes -------------------------------------------------------------------------

    def _register(self, conn: SqlConnection, now: float, start: str | None) -> int:
        conn.execute(
            "INSERT INTO workers (worker_id, host, pid, pid_start, started_at, heartbeat_at) "
            "VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (worker_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
            (self.worker_id, self.host, self.pid, start, now, now),
        )
        gone = self._gone(conn, now)
        if not gone:
            return 0
        released = SQL_DELIVERY_QUEUE.release_claims(conn, gone, now=now)
        conn.executemany("DELETE FROM workers WHERE worker_id = ?", [(w,) for w in gone])
        logger.warning(
            "Released the deliveries of workers that are gone. workers=%s deliveries=%d",
            ",".join(gone), released,
        )
        return released

    def _deregister(self, conn: SqlConnection, now: float) -> int:
        released = SQL_DELIVERY_QUEUE.release_claims(conn, [self.worker_id], now=now)
        conn.execute("DELETE FROM workers WHERE worker_id = ?", (self.worker_id,))
        return released

    def _gone(self, conn: SqlConnection, now: float) -> list[str]:
        rows = conn.execute(
            "SELECT worker_id, host, pid, pid_start, heartbeat_at FROM workers "
            "WHERE worker_id != ?",
            (self.worker_id,),
        ).fetchall()
        gone: list[str] = []
        for worker_id, host, pid, pid_start, heartbeat_at in rows:
            if now - heartbeat_at > self.stale_after_secs:
                gone.append(worker_id)
            elif host == self.host:
                running = process_start(pid)
                if running is None or (pid_start and running and running != pid_start):
                    gone.append(worker_id)
        return gone
