"""The event log on NATS JetStream (nats-py): one stream per bus, one message per record.

Layout (``docs/jetstream.md`` has the operator's view):

- Stream ``<stream_prefix>_<bus token>`` holds subject ``<stream_prefix>.<bus token>`` (the bus
  token is the bus name with characters NATS does not allow in names replaced, plus a short
  hash so two buses never share one), limits retention with ``max_age`` = the log's retention,
  ``duplicate_window``, ``num_replicas`` and ``storage`` from :class:`JetStreamOptions`.
- A message is a record (:mod:`clientevents.log.records`): its data is the record's ``body``
  (a request's BATCH body, or one event's envelope); headers carry the other columns.
  ``Nats-Msg-Id`` is the record's event id (a batch's base id; ``<replay>/<id>`` for a replayed
  event, which keeps its id on purpose), so a publish repeated within the de-duplication
  window is stored once.
- Positions: event ``i`` of the message at stream sequence ``s`` is at ``s << 16 | i``
  (:data:`POSITION_BITS`; a record holds at most 10,000 events, fewer than 2**16). They are
  monotonic and never reused, because stream sequences are not; they are not consecutive
  between records. A group's committed offset is ``s << 16 | 0xFFFF`` for its acknowledgement
  floor ``s`` (every event of record ``s``).
- Consumer groups are durable pull consumers (explicit acks, ``ack_wait`` = the lease) shared
  by any number of workers: a batch fetched and not acknowledged goes to another worker once
  its lease runs out. :meth:`JetStreamConsumer.commit` runs the caller's write in the state
  store together with one row per record in ``log_handoffs`` (the hand-off), and acknowledges
  the messages once that commits. A crash in between redelivers them; the next fetch finds
  their hand-off rows, acknowledges them and drops them, so nothing is routed twice. Two
  workers racing on one redelivered message both try to insert its hand-off row: one commit
  wins, the other rolls back (:class:`~clientevents.errors.Conflict`) and its messages come
  again.
- Reads by position (tail, metrics, trims) get messages directly by sequence.

nats-py is asyncio; this class runs its own event loop on a thread, so the blocking methods
work from any thread and :meth:`JetStreamEventLog.append_future` from any event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future as ThreadFuture
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from clientevents.errors import ClientEventsError, Conflict, StoreError
from clientevents.log.port import CommitWaiter, LogBatch
from clientevents.log.records import EVENT, LogRecord, Row, expand_row
from clientevents.logthrottle import LogThrottle
from clientevents.store.port import StateStore

__all__ = [
    "HANDOFF_SCHEMA",
    "POSITION_BITS",
    "JetStreamConsumer",
    "JetStreamEventLog",
    "JetStreamOptions",
    "position",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_THROTTLE = LogThrottle(logger)

CONNECT_WAIT_SECS = 2.0
"""How long the log's constructor waits for a first connection before it returns and goes on
connecting in the background."""

POSITION_BITS = 16
"""Bits of a position that number the events of one record (``seq << 16 | index``)."""
_MASK = (1 << POSITION_BITS) - 1

HANDOFF_SCHEMA = """
CREATE TABLE IF NOT EXISTS log_handoffs (
    grp TEXT NOT NULL,
    bus TEXT NOT NULL,
    record INTEGER NOT NULL,
    PRIMARY KEY (grp, bus, record)
) WITHOUT ROWID;
"""
"""Records a consumer group has handed off (stream sequence), kept until the stream trims
them; owned by this module."""

_H_EVENT_ID = "Ce-Event-Id"
_H_TIME = "Ce-Time"
_H_INGESTED = "Ce-Ingested-At"
_H_COUNT = "Ce-Count"
_H_FORMAT = "Ce-Format"
_H_REPLAY = "Ce-Replay-Name"
_H_RULES = "Ce-Replay-Rules"


@dataclass(frozen=True, slots=True)
class JetStreamOptions:
    """How the log uses JetStream (the ``storage: jetstream:`` settings).

    Attributes:
        servers: NATS URLs.
        stream_prefix: first part of every stream name and subject (letters, digits, ``_``,
            ``-``); two deployments on one server need two prefixes.
        replicas: copies of each stream (3 in a cluster for durability by replication).
        storage: ``file`` or ``memory``.
        max_age: seconds a record stays in its stream (0: no limit); the log's retention.
        duplicate_window: seconds in which a repeated ``Nats-Msg-Id`` is dropped.
        sync: ``default`` (the server's sync interval: a single server's acknowledgement is
            not an fsync) or ``always`` (the deployment runs nats-server >= 2.10 with
            ``jetstream { sync_interval: always }``: each acknowledgement follows an fsync).
            The server's own setting decides (a client cannot set it or read it); this one
            declares what the deployment promises, and ``default`` with one replica logs a
            warning when the log connects.
        ack_wait: seconds a fetched batch is leased to its consumer before redelivery.
        timeout: seconds a publish or API request may take.
    """

    servers: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    stream_prefix: str = "clientevents"
    replicas: int = 1
    storage: Literal["file", "memory"] = "file"
    max_age: float = 24 * 3600.0
    duplicate_window: float = 120.0
    sync: Literal["default", "always"] = "default"
    ack_wait: float = 30.0
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", self.stream_prefix):
            raise ValueError(
                f"stream_prefix must be 1 to 32 letters, digits, '_' or '-', not "
                f"{self.stream_prefix!r}."
            )
        if self.replicas not in (1, 3, 5):
            raise ValueError(f"replicas must be 1, 3 or 5, not {self.replicas!r}.")
        if self.storage not in ("file", "memory"):
            raise ValueError(f"storage must be 'file' or 'memory', not {self.storage!r}.")
        if self.sync not in ("default", "always"):
            raise ValueError(f"sync must be 'default' or 'always', not {self.sync!r}.")
        if self.ack_wait <= 0 or self.timeout <= 0 or self.max_age < 0:
            raise ValueError("ack_wait and timeout must be positive and max_age 0 or more.")


def position(stream_seq: int, index: int) -> int:
    """The position of event ``index`` of the record at ``stream_seq``."""
    return (stream_seq << POSITION_BITS) | index


def _token(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:40]
    return f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _nats() -> Any:
    try:
        import nats
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ClientEventsError(
            "The JetStream event log needs nats-py: pip install 'clientevents[nats]'."
        ) from exc
    return nats


class JetStreamEventLog:
    """:class:`~clientevents.log.port.EventLogPort` on NATS JetStream.

    Args:
        store: the state store the consumers' commits write to (it holds ``log_handoffs``).
        options: servers, stream settings, durability.

    The constructor waits a moment (:data:`CONNECT_WAIT_SECS`) for a first connection, then
    returns anyway: the client keeps trying in the background (a gateway or a worker starts
    while NATS is down, and works once it is up, without a restart). Until it connects, and
    while it reconnects, every call raises :class:`StoreError` naming the servers and the
    last error (:attr:`unavailable`).
    """

    consumers_share_work = True
    """See :attr:`~clientevents.log.port.EventLogPort.consumers_share_work`."""

    def __init__(self, store: StateStore, options: JetStreamOptions | None = None, *,
                 reads_only: bool = False) -> None:
        self.db = store
        self.options = options or JetStreamOptions()
        #: Opened to read (``clientevents tail``): no warning about acknowledging appends.
        self.reads_only = reads_only
        store.ensure_schema(HANDOFF_SCHEMA)
        self._streams: set[str] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="clientevents-jetstream", daemon=True
        )
        self._thread.start()
        self._closed = False
        self._closing = False
        self._connect_task: asyncio.Task[Any] | None = None
        self._nc: Any = None  # the client, once connected
        self._client: Any = None  # the client, from the first attempt (closed by close())
        self._jsctx: Any = None
        #: Why the log cannot reach NATS now (None while connected).
        self.unavailable: str | None = "not connected yet"
        self._connector = self._submit(self._connect())
        try:
            # NATS at hand: connected before the constructor returns. Not (yet): the client
            # keeps trying in the background, and until it connects every call raises
            # StoreError saying why (the gateway's 503, /ready's reason).
            self._connector.result(timeout=min(CONNECT_WAIT_SECS, self.options.timeout))
        except FuturesTimeout:
            logger.warning(
                "NATS is not reachable; the event log keeps trying to connect in the "
                "background and refuses appends meanwhile. servers=%s error=%s",
                ",".join(self.options.servers), self.unavailable,
            )
        except BaseException:
            self._stop_loop()
            raise

    # -- plumbing --------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the client is connected to a NATS server now."""
        nc = self._nc
        return nc is not None and bool(nc.is_connected)

    @property
    def _js(self) -> Any:
        """The JetStream context; :class:`StoreError` while NATS cannot be reached (before
        the first connection, or while the client reconnects), so a call fails at once with
        the reason instead of waiting for a request's timeout."""
        js = self._jsctx
        if js is None or not self.connected:
            raise StoreError(
                f"NATS is not reachable at {', '.join(self.options.servers)} "
                f"({self.unavailable or 'reconnecting'}); the event log keeps trying to "
                "connect."
            )
        return js

    async def _connect(self) -> None:
        """Connect, trying again until a server answers (nats-py retries a first connection
        forever with ``max_reconnect_attempts=-1``); record why meanwhile. Once connected,
        the client reconnects by itself after a lost connection."""
        _nats()
        from nats.aio.client import Client

        self._connect_task = asyncio.current_task()
        nc: Any = Client()
        self._client = nc
        servers = ",".join(self.options.servers)

        async def failed(exc: Exception) -> None:
            if nc.is_connected:
                logger.warning("NATS reported an error. error=%r", exc)
                return
            self.unavailable = f"{type(exc).__name__}: {exc}"[:300]
            _THROTTLE.warning("connect", "NATS is not reachable; retrying. servers=%s error=%s",
                              servers, self.unavailable)

        async def disconnected() -> None:
            if not self._closing:
                self.unavailable = self.unavailable or "the connection was lost"
                logger.warning("The connection to NATS was lost; reconnecting. servers=%s",
                               servers)

        async def reconnected() -> None:
            self.unavailable = None
            logger.warning("Connected to NATS again. servers=%s", servers)

        try:
            await nc.connect(
                servers=list(self.options.servers),
                name="clientevents",
                connect_timeout=min(2.0, self.options.timeout),
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                error_cb=failed,
                disconnected_cb=disconnected,
                reconnected_cb=reconnected,
            )
        except Exception as exc:
            self.unavailable = f"{type(exc).__name__}: {exc}"[:300]
            raise StoreError(f"NATS is not reachable at {servers}: {exc}") from exc
        self._nc = nc
        self._jsctx = nc.jetstream(timeout=self.options.timeout)
        self.unavailable = None
        logger.info("Connected to NATS. servers=%s", servers)
        if self.options.sync == "default" and self.options.replicas == 1 and not self.reads_only:
            logger.warning(
                "The JetStream event log acknowledges events before they are on disk "
                "(sync: default, replicas: 1): a power failure can lose the last seconds of "
                "acknowledged events. Run the server with sync_interval: always and set "
                "sync: always, or use replicas: 3 in a cluster (docs/jetstream.md)."
            )

    def _submit(self, coro: Coroutine[Any, Any, T]) -> ThreadFuture[T]:
        if self._closed:
            coro.close()
            raise StoreError("The JetStream event log is closed.")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _run(self, coro: Coroutine[Any, Any, T], *, extra_secs: float = 0.0) -> T:
        """Run ``coro`` on the log's loop and wait for it, at most a few request timeouts
        (plus ``extra_secs``): a call never hangs on a server that stopped answering."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("A blocking JetStream call from the log's own event loop.")
        future = self._submit(coro)
        try:
            return future.result(timeout=4 * self.options.timeout + extra_secs)
        except FuturesTimeout:
            future.cancel()
            raise StoreError(
                f"JetStream did not answer in {4 * self.options.timeout + extra_secs:.0f} s."
            ) from None

    def _names(self, bus: str) -> tuple[str, str]:
        token = _token(bus)
        return f"{self.options.stream_prefix}_{token}", f"{self.options.stream_prefix}.{token}"

    async def _stream(self, bus: str) -> tuple[str, str]:
        stream, subject = self._names(bus)
        if stream in self._streams:
            return stream, subject
        nats = _nats()
        api = nats.js.api
        config = api.StreamConfig(
            name=stream,
            description=bus,
            subjects=[subject],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE if self.options.storage == "file"
            else api.StorageType.MEMORY,
            num_replicas=self.options.replicas,
            max_age=self.options.max_age or None,
            duplicate_window=self.options.duplicate_window,
            allow_direct=True,
        )
        try:
            try:
                await self._js.stream_info(stream)
            except nats.js.errors.NotFoundError:
                await self._js.add_stream(config)
            else:
                await self._js.update_stream(config)
        except Exception as exc:
            raise StoreError(f"JetStream stream {stream} could not be set up: {exc}") from exc
        self._streams.add(stream)
        return stream, subject

    # -- appending -------------------------------------------------------------------------

    async def _publish(self, rows: Sequence[Sequence[object]]) -> None:
        try:
            by_bus: dict[str, tuple[str, str]] = {}
            for row in rows:
                bus = str(row[0])
                if bus not in by_bus:
                    by_bus[bus] = await self._stream(bus)
            publish = self._js.publish
            timeout = self.options.timeout
            sends = []
            for row in rows:
                stream, subject = by_bus[str(row[0])]
                body, headers = _message(row)
                sends.append(publish(subject, body, timeout=timeout, stream=stream,
                                     headers=headers))
            results = await asyncio.gather(*sends, return_exceptions=True)
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"Publishing to JetStream failed: {exc}") from exc
        for result in results:
            if isinstance(result, BaseException):
                raise StoreError(f"Publishing to JetStream failed: {result!r}") from result

    def append_records(self, rows: Sequence[Sequence[object]]) -> None:
        """Publish the records; return once JetStream acknowledged every one."""
        if rows:
            self._run(self._publish(rows))

    def append_future(self, rows: Sequence[Sequence[object]]) -> asyncio.Future[None]:
        """Start publishing; the future (of the running loop) ends with the acknowledgements."""
        loop = asyncio.get_running_loop()
        if not rows:
            done: asyncio.Future[None] = loop.create_future()
            done.set_result(None)
            return done
        return asyncio.wrap_future(self._submit(self._publish(rows)), loop=loop)

    async def aappend(self, rows: Sequence[Sequence[object]]) -> None:
        """The asyncio twin of :meth:`append_records`."""
        await self.append_future(rows)

    def append_in(self, conn: Any, rows: Sequence[Sequence[object]]) -> None:
        """Publish before the caller's write commits; a repeat keeps the event ids and is
        dropped by the stream's de-duplication window."""
        self.append_records(rows)

    # -- reading ---------------------------------------------------------------------------

    async def _get(self, bus: str, seq: int) -> tuple[int, Row] | None:
        """The first record of ``bus`` at or after stream sequence ``seq`` (None past the
        end)."""
        nats = _nats()
        stream, subject = await self._stream(bus)
        try:
            msg = await self._js.get_msg(stream, seq=max(1, seq), subject=subject, next=True)
        except nats.js.errors.NotFoundError:
            return None
        return int(msg.seq), _row(bus, int(msg.seq), msg.data, msg.headers)

    async def _read(
        self, bus: str, after: int, limit: int, keep: Callable[[Row], bool] | None = None
    ) -> list[LogRecord]:
        out: list[LogRecord] = []
        if limit <= 0:
            return out
        try:
            seq = max(1, after >> POSITION_BITS)
            while len(out) < limit:
                got = await self._get(bus, seq)
                if got is None:
                    break
                seq, row = got
                if keep is None or keep(row):
                    expand_row(row, after, limit - len(out), out)
                seq += 1
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"Reading JetStream stream of bus {bus!r} failed: {exc}") from exc
        return out

    def read_after(self, bus: str, after_seq: int, limit: int) -> list[LogRecord]:
        return self._run(self._read(bus, after_seq, limit))

    def read_time_range(
        self, bus: str, start: float, end: float, after_seq: int, limit: int
    ) -> list[LogRecord]:
        return self._run(self._read(bus, after_seq, limit, lambda r: start <= r[3] < end))

    async def _info(self, bus: str) -> Any:
        stream, _ = await self._stream(bus)
        return await self._js.stream_info(stream)

    def head(self, bus: str) -> int:
        """The last record's last possible position (0 when the stream is empty)."""
        try:
            info = self._run(self._info(bus))
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"JetStream stream info of bus {bus!r} failed: {exc}") from exc
        last = int(info.state.last_seq or 0)
        return position(last, _MASK) if last else 0

    def count(self, bus: str) -> int:
        """Events in the stream (reads every record: for tests and tools, not hot paths)."""
        return len(self.read_after(bus, 0, 1 << 62))

    # -- groups ----------------------------------------------------------------------------

    async def _durable(self, bus: str, group: str, start: int = 0, create: bool = True
                       ) -> tuple[str, str, bool]:
        nats = _nats()
        api = nats.js.api
        stream, subject = await self._stream(bus)
        durable = _token(group)
        try:
            await self._js.consumer_info(stream, durable)
            return stream, durable, False
        except nats.js.errors.NotFoundError:
            if not create:
                raise
        first = (start >> POSITION_BITS) + 1 if start else 0
        config = api.ConsumerConfig(
            durable_name=durable,
            description=group,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=self.options.ack_wait,
            filter_subject=subject,
            max_ack_pending=10_000,
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE if first
            else api.DeliverPolicy.ALL,
            opt_start_seq=first or None,
        )
        await self._js.add_consumer(stream, config)
        return stream, durable, True

    def consumer(self, bus: str, group: str) -> JetStreamConsumer:
        return JetStreamConsumer(self, bus, group)

    def ensure_group(self, group: str, bus: str, start: int) -> bool:
        return self._guard(self._durable(bus, group, start))[2]

    def drop_group(self, group: str, bus: str) -> bool:
        async def drop() -> bool:
            nats = _nats()
            stream, _ = await self._stream(bus)
            try:
                return bool(await self._js.delete_consumer(stream, _token(group)))
            except nats.js.errors.NotFoundError:
                return False

        return self._guard(drop())

    def offset(self, group: str, bus: str) -> int:
        return self.offsets(bus).get(group, 0)

    def offsets(self, bus: str) -> dict[str, int]:
        async def list_() -> dict[str, int]:
            stream, _ = await self._stream(bus)
            out: dict[str, int] = {}
            for info in await self._js.consumers_info(stream):
                group = info.config.description
                if not group:
                    continue
                floor = int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0
                # A group placed at a start sequence has passed what comes before it.
                floor = max(floor, int(info.config.opt_start_seq or 1) - 1)
                out[group] = position(floor, _MASK) if floor else 0
            return out

        return self._guard(list_())

    def groups(self, prefix: str = "") -> list[tuple[str, str]]:
        async def list_() -> list[tuple[str, str]]:
            out: list[tuple[str, str]] = []
            mine = self.options.stream_prefix + "_"
            for stream in await self._js.streams_info():
                name = stream.config.name
                bus = stream.config.description
                if not name.startswith(mine) or not bus or name != self._names(bus)[0]:
                    continue
                for info in await self._js.consumers_info(name):
                    group = info.config.description
                    if group and group.startswith(prefix):
                        out.append((group, bus))
            return sorted(out)

        return self._guard(list_())

    def _guard(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return self._run(coro)
        except (StoreError, ClientEventsError):
            raise
        except Exception as exc:
            raise StoreError(f"JetStream request failed: {exc}") from exc

    # -- retention -------------------------------------------------------------------------

    def trim_before(
        self, bus: str, *, upto_seq: int, ingested_before: float, limit: int = 10_000
    ) -> int:
        """Purge the stream's oldest records that every group passed and that are old
        enough, at most ``limit``; forget their hand-off rows."""

        async def trim() -> tuple[int, int]:
            stream, _ = await self._stream(bus)
            info = await self._js.stream_info(stream)
            first = int(info.state.first_seq or 0)
            if not first or not info.state.messages:
                return 0, int(info.state.last_seq or 0) + 1
            seq, deleted = first, 0
            while deleted < limit:
                got = await self._get(bus, seq)
                if got is None:
                    break
                found, row = got
                if row[0] > upto_seq or row[4] >= ingested_before:
                    seq = found
                    break
                deleted += 1
                seq = found + 1
            if deleted:
                await self._js.purge_stream(stream, seq=seq)
            return deleted, seq

        deleted, below = self._guard(trim())
        if below > 1:
            # Hand-off rows of records the stream no longer holds (trimmed here, or aged out
            # by max_age) can never be needed again.
            self.db.write(lambda conn: conn.execute(
                "DELETE FROM log_handoffs WHERE bus = ? AND record < ?", (bus, below)
            ))
        return deleted

    # -- lifecycle -------------------------------------------------------------------------

    def delete_streams(self) -> None:
        """Delete every stream of this prefix (tests and tear-downs)."""

        async def delete() -> None:
            mine = self.options.stream_prefix + "_"
            for stream in await self._js.streams_info():
                if stream.config.name.startswith(mine):
                    await self._js.delete_stream(stream.config.name)
            self._streams.clear()

        self._guard(delete())

    def close(self) -> None:
        if self._closed:
            return
        try:
            # Every publish was awaited and every commit acknowledged: nothing to drain.
            self._run(self._disconnect())
        except Exception:  # closing anyway
            logger.debug("Closing the NATS connection failed.", exc_info=True)
        finally:
            self._closed = True
            self._stop_loop()

    async def _disconnect(self) -> None:
        self._closing = True
        task = self._connect_task
        if task is not None and not task.done():  # still trying to connect: stop
            task.cancel()
            await asyncio.wait({task}, timeout=2.0)
        client = self._client
        if client is not None and not client.is_closed:
            await client.close()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5.0)
        if not self._thread.is_alive():
            self._loop.close()


def _message(row: Sequence[object]) -> tuple[bytes, dict[str, str]]:
    event_id = str(row[1])
    replay_name = row[5]
    count, fmt = (row[7], row[8]) if len(row) == 9 else (1, EVENT)
    headers = {
        "Nats-Msg-Id": event_id if replay_name is None else f"{replay_name}/{event_id}",
        _H_EVENT_ID: event_id,
        _H_TIME: repr(float(row[2])),  # type: ignore[arg-type]
        _H_INGESTED: repr(float(row[3])),  # type: ignore[arg-type]
        _H_COUNT: str(count),
        _H_FORMAT: str(fmt),
    }
    if replay_name is not None:
        headers[_H_REPLAY] = str(replay_name)
    if row[6] is not None:
        headers[_H_RULES] = str(row[6])
    return str(row[4]).encode(), headers


def _row(bus: str, seq: int, data: bytes | None, headers: dict[str, str] | None) -> Row:
    h = headers or {}
    count = int(h.get(_H_COUNT, "1"))
    return (
        position(seq, count - 1),
        bus,
        h.get(_H_EVENT_ID, ""),
        float(h.get(_H_TIME, "0")),
        float(h.get(_H_INGESTED, "0")),
        (data or b"").decode(),
        h.get(_H_REPLAY),
        h.get(_H_RULES),
        count,
        int(h.get(_H_FORMAT, str(EVENT))),
    )


class JetStreamConsumer:
    """A member of a consumer group: a pull subscription on the group's durable consumer."""

    def __init__(self, log: JetStreamEventLog, bus: str, group: str) -> None:
        self.log = log
        self.bus = bus
        self.group = group
        self._sub: Any = None
        self._per_record = 1.0  # events per message lately: sizes the next pull

    async def _subscription(self) -> Any:
        if self._sub is None:
            stream, durable, _ = await self.log._durable(self.bus, self.group)
            self._sub = await self.log._js.pull_subscribe_bind(durable, stream)
        return self._sub

    async def _fetch(self, messages: int, wait_secs: float) -> list[Any]:
        nats = _nats()
        sub = await self._subscription()
        try:
            return list(await sub.fetch(messages, timeout=max(0.05, wait_secs)))
        except (nats.errors.TimeoutError, TimeoutError):
            return []

    def fetch(self, max_events: int, wait_secs: float = 0.0) -> LogBatch:
        messages = max(1, min(10_000, int(max_events / self._per_record)))
        try:
            msgs = self.log._run(self._fetch(messages, wait_secs), extra_secs=wait_secs)
        except Exception as exc:
            raise StoreError(f"Fetching from JetStream failed: {exc}") from exc
        if not msgs:
            return LogBatch(self.bus, self.group, [], 0, [])
        seqs = [int(m.metadata.sequence.stream) for m in msgs]
        done = self._handed_off(seqs)
        keep: list[Any] = []
        stale: list[Any] = []
        records: list[LogRecord] = []
        events = 0
        for msg, seq in zip(msgs, seqs, strict=True):
            if seq in done:
                stale.append(msg)
                continue
            keep.append(msg)
            row = _row(self.bus, seq, msg.data, msg.headers)
            events += row[8]
            expand_row(row, 0, row[8], records)
        if stale:  # handed off before a lost acknowledgement: acknowledge now
            self.log._submit(_ack(stale))
        self._per_record = max(1.0, events / max(1, len(keep))) if keep else self._per_record
        records.sort(key=lambda r: r.seq)
        return LogBatch(self.bus, self.group, records, 0, keep)

    def _handed_off(self, seqs: list[int]) -> set[int]:
        marks = ",".join("?" * len(seqs))
        rows = self.log.db.read(lambda conn: conn.execute(
            f"SELECT record FROM log_handoffs WHERE grp = ? AND bus = ? AND record IN ({marks})",
            (self.group, self.bus, *seqs),
        ).fetchall())
        return {int(r[0]) for r in rows}

    def submit(self, batch: LogBatch, write: Callable[[Any], T]) -> CommitWaiter:
        pending = CommitWaiter(self)
        msgs: list[Any] = list(batch.token or [])
        seqs = [int(m.metadata.sequence.stream) for m in msgs]
        group, bus, log = self.group, self.bus, self.log

        def run(conn: Any) -> T:
            # One statement per record (a record is a request: a few per batch), portable SQL
            # whose row count says whether the record was already handed off.
            for seq in seqs:
                cur = conn.execute(
                    "INSERT INTO log_handoffs (grp, bus, record) VALUES (?, ?, ?) "
                    "ON CONFLICT (grp, bus, record) DO NOTHING",
                    (group, bus, seq),
                )
                if cur.rowcount != 1:
                    raise Conflict(
                        f"Record {seq} of bus {bus!r} was handed off by another consumer of "
                        f"group {group!r}."
                    )
            return write(conn)

        def done(result: Any, error: BaseException | None) -> None:
            if error is None:
                # Handed off: an acknowledgement that fails only means a redelivery, which
                # the hand-off rows turn into an acknowledgement at the next fetch.
                try:
                    future = log._submit(_ack(msgs))
                except StoreError:
                    pending.finish(result, None)
                    return
                future.add_done_callback(lambda _f: pending.finish(result, None))
            else:
                try:
                    log._submit(_nak(msgs))
                except StoreError:
                    pass
                pending.finish(None, error)

        if not msgs:
            pending.finish(None, None)
            return pending
        log.db.submit(run, done)
        return pending

    def commit(self, batch: LogBatch, write: Callable[[Any], T]) -> T:
        result: T = self.submit(batch, write).wait()
        return result

    def rewind(self) -> None:
        """Nothing to forget: what was not acknowledged is redelivered after its lease."""

    def close(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            try:
                self.log._run(sub.unsubscribe())
            except Exception:  # the connection is gone: the server forgets the pull anyway
                logger.debug("Unsubscribing a JetStream consumer failed.", exc_info=True)


async def _ack(msgs: list[Any]) -> None:
    """Acknowledge and wait until the server confirmed (so the group's offset has moved when
    a commit returns); a failure only means a redelivery, which the hand-off rows absorb."""
    results = await asyncio.gather(*(msg.ack_sync(timeout=5.0) for msg in msgs),
                                   return_exceptions=True)
    failed = sum(isinstance(r, BaseException) for r in results)
    if failed:
        logger.warning("JetStream acknowledgements failed; the records will be redelivered "
                       "and recognised as handed off. failed=%d of %d", failed, len(msgs))


async def _nak(msgs: list[Any]) -> None:
    for msg in msgs:
        await msg.nak()
