"""The delivery stream engine: records in; processed, partitioned, buffered; objects out.

The engine does not know where records come from. A caller hands it batches of
:class:`~.records.Record` (each with a ``token`` of the caller's) and gets back
:data:`~.records.Settlement` pairs ``(token, outcome)`` as records become durable::

    stream = DeliveryStream(config, LocalObjectStore(root))
    settled = await stream.put([Record(data, arrival, token), ...])   # may write objects
    settled += await stream.flush()            # write the partitions whose interval passed
    settled += await stream.close()            # shutdown: write everything

A record is *delivered* once every piece it became (it may be split, dropped, or sent to the
error output) is inside an object the store has durably; it *failed* as soon as one object
holding a piece of it could not be written, and the caller hands it again later (so a record
may be written twice: at least once). Nothing here retries writes: the caller's retry policy
does, with its backoff and dead-letter queue.

Buffering: a partition's object is written when its bytes reach the size hint, when its
first record is ``interval_secs`` old (:meth:`DeliveryStream.flush`), or at :meth:`close`.
Memory is bounded: past ``max_buffered_mib`` the largest partitions are written early, and
:meth:`has_room` tells the caller to stop handing records until writes finish.

Concurrency: methods are coroutines for one event loop; processing runs in a worker thread
under the engine's lock, writes run concurrently outside it, so one batch is processed while
the previous batch's objects are written.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from clientevents.config.delivery_streams import MIB, DeliveryStreamConfig
from clientevents.delivery_stream.buffers import Buffer
from clientevents.delivery_stream.encode import EXTENSIONS, compressor
from clientevents.delivery_stream.error_output import error_line
from clientevents.delivery_stream.function import FunctionProcessor
from clientevents.delivery_stream.prefix import (
    MAX_PREFIX_CHARS,
    PrefixTemplate,
    partition_value_problem,
)
from clientevents.delivery_stream.processors import (
    AppendDelimiter,
    Deaggregation,
    MetadataExtraction,
    Processor,
)
from clientevents.delivery_stream.records import (
    Delivered,
    ErrorItem,
    Failed,
    Item,
    Record,
    Settlement,
    Ticket,
)
from clientevents.objectstore.base import ObjectStore, ObjectStoreError

__all__ = ["DeliveryStream", "build_processors", "stream_arn"]

_UNCHECKED: Any = object()
_CHECKED_VALUES = 10_000
"""Partition key values whose check is remembered (then the memory starts again)."""


def stream_arn(name: str, *, account: str, region: str) -> str:
    """The stream's ARN as functions see it in ``deliveryStreamArn``."""
    return f"arn:aws:firehose:{region}:{account}:deliverystream/{name}"


def build_processors(
    config: DeliveryStreamConfig, *, account: str = "000000000000", region: str = "local"
) -> list[Processor]:
    """The configured processors, in order."""
    processors: list[Processor] = []
    for spec in config.processors:
        if spec.type == "function":
            processors.append(FunctionProcessor(
                spec.function,
                stream_arn=stream_arn(config.name, account=account, region=region),
                region=region,
                number_of_retries=spec.number_of_retries,
                timeout_secs=spec.timeout_secs,
                buffer_size_bytes=int(spec.buffer_size_mib * MIB),
            ))
        elif spec.type == "record_deaggregation":
            delimiter = (spec.delimiter or "").encode("utf-8")
            processors.append(Deaggregation(spec.sub_record_type, delimiter))
        elif spec.type == "metadata_extraction":
            processors.append(MetadataExtraction(spec.query))
        else:
            processors.append(AppendDelimiter(spec.delimiter.encode("utf-8")))
    return processors


class DeliveryStream:
    """One delivery stream: processors, partition buffers, object writes.

    Args:
        config: the stream's configuration.
        store: where objects go.
        account, region: for the ARN functions see.
        clock: epoch seconds (tests pass a fake one).
        size_bytes: the size hint in bytes (default: ``buffering.size_mib``; tests shrink it).
        max_buffered_bytes: the memory bound (default: ``buffering.max_buffered_mib``).
        write_timeout_secs: how long one object write may take before it counts as failed.
        processors: replaces the configured processors (tests).
    """

    version = 1
    """The ``<version>`` in object names (Firehose counts configuration updates; a
    configuration file here is one version)."""

    def __init__(
        self,
        config: DeliveryStreamConfig,
        store: ObjectStore,
        *,
        account: str = "000000000000",
        region: str = "local",
        clock: Callable[[], float] = time.time,
        size_bytes: int | None = None,
        max_buffered_bytes: int | None = None,
        write_timeout_secs: float = 60.0,
        processors: Sequence[Processor] | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.store = store
        self.clock = clock
        self.size_bytes = size_bytes if size_bytes is not None else config.size_bytes
        self.max_buffered_bytes = (
            max_buffered_bytes if max_buffered_bytes is not None
            else int(config.buffering.max_buffered_mib * MIB)
        )
        self.interval_secs = config.buffering.interval_secs
        self.write_timeout_secs = write_timeout_secs
        self.max_active_partitions = config.max_active_partitions
        self.processors = list(processors) if processors is not None else build_processors(
            config, account=account, region=region)
        self.prefix = PrefixTemplate(config.prefix)
        error_text = config.error_output_prefix
        if error_text is None:
            error_text = config.prefix + "!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"
        self.error_prefix = PrefixTemplate(error_text, error_output=True,
                                           append_default_time=False)
        self._compress = compressor(config.compression)
        self._error_compress = self._compress
        self.parquet: Any = None
        if config.format.type == "parquet":
            from clientevents.delivery_stream.parquet import ParquetWriter

            columns = [(c.name, c.type, c.json_key) for c in config.format.columns or ()]
            self.parquet = ParquetWriter(columns, config.format.compression)
            extension = ".parquet"
        else:
            extension = EXTENSIONS[config.compression]
        self.extension = config.file_extension if config.file_extension is not None else extension
        self.error_extension = EXTENSIONS[config.compression]
        self._buffers: dict[tuple[str, ...], Buffer] = {}
        self._data_partitions = 0
        self._buffered = 0
        self._in_flight = 0
        self._lock = asyncio.Lock()
        self._checked: dict[str, str | None] = {}  # partition key value -> problem

    # -- state the caller reads ------------------------------------------------------------

    @property
    def buffered_bytes(self) -> int:
        """Bytes held: buffered records and objects being written."""
        return self._buffered + self._in_flight

    @property
    def active_partitions(self) -> int:
        """Data partitions with buffered records."""
        return self._data_partitions

    def has_room(self) -> bool:
        """Whether the caller may hand more records (the memory bound is not reached)."""
        return self.buffered_bytes < self.max_buffered_bytes

    def next_flush_at(self) -> float | None:
        """When the oldest buffer's interval runs out (``None``: nothing buffered)."""
        if not self._buffers:
            return None
        return min(b.opened_at for b in self._buffers.values()) + self.interval_secs

    # -- records in ------------------------------------------------------------------------

    async def put(self, records: Sequence[Record]) -> list[Settlement]:
        """Process and buffer ``records``; write the partitions that became full.

        Returns the settlements that became final during the call (records dropped by a
        processor, records whose objects were written or failed).
        """
        if not records:
            return []
        async with self._lock:
            settled, full = await asyncio.to_thread(self._ingest, list(records))
        return settled + await self._write_all(full)

    async def flush(self, *, everything: bool = False) -> list[Settlement]:
        """Write the partitions whose interval ran out (all of them with ``everything``)."""
        async with self._lock:
            now = self.clock()
            due = [
                ident for ident, b in self._buffers.items()
                if everything or b.opened_at + self.interval_secs <= now
            ]
            buffers = [self._detach(ident) for ident in due]
        return await self._write_all(buffers)

    async def close(self) -> list[Settlement]:
        """Write everything buffered (shutdown) and release the store."""
        settled = await self.flush(everything=True)
        await self.store.close()
        return settled

    # -- processing (in a worker thread, under the lock) ------------------------------------

    def _ingest(self, records: list[Record]) -> tuple[list[Settlement], list[Buffer]]:
        tickets = [Ticket(r.token) for r in records]
        items = [Item(t, r.data, r.arrival, r.data) for t, r in zip(tickets, records, strict=True)]
        errors: list[ErrorItem] = []
        for processor in self.processors:
            items, failed = processor.process(items)
            errors.extend(failed)
        now = self.clock()
        rows: list[Any] = (self.parquet.convert([(i.data, i.parsed) for i in items])
                           if self.parquet is not None else [None] * len(items))
        for item, row in zip(items, rows, strict=True):
            self._route(item, row, now, errors)
        for error in errors:
            self._route_error(error, now)
        settled: list[Settlement] = []
        for ticket in tickets:
            if ticket.pending == 0:  # dropped by a processor: nothing to write
                ticket.settled = True
                settled.append((ticket.token, Delivered()))
        return settled, self._detach_full(now)

    def _route(self, item: Item, row: Any, now: float, errors: list[ErrorItem]) -> None:
        """Buffer ``item`` in its partition (``row``: its Parquet row, or why it has none)."""
        prefix = self.prefix
        values: list[str] = []
        for source, names, keys in (
            ("partitionKeyFromQuery", prefix.query_keys, item.query_keys),
            ("partitionKeyFromLambda", prefix.lambda_keys, item.lambda_keys),
        ):
            for name in names:
                value = (keys or {}).get(name)
                if value is None:
                    errors.append(self._error(
                        item, "partition-key-missing", "DynamicPartitioning.PartitionKeyMissing",
                        f"The record has no {source} key {name!r}, which the prefix uses."))
                    return
                problem = self._checked.get(value, _UNCHECKED)
                if problem is _UNCHECKED:
                    if len(self._checked) >= _CHECKED_VALUES:
                        self._checked.clear()
                    problem = self._checked[value] = partition_value_problem(value)
                if problem is not None:
                    errors.append(self._error(
                        item, "partition-key-invalid", "DynamicPartitioning.InvalidPartitionKey",
                        f"The {source} key {name!r} = {value!r} is refused: {problem}."))
                    return
                values.append(value)
        payload: Any = item.data
        if self.parquet is not None:
            if isinstance(row, Exception):
                errors.append(self._error(item, "format-conversion-failed",
                                          "DataFormatConversion.MalformedData", str(row)))
                return
            payload = row
        ident = ("d", *values)
        buffer = self._buffers.get(ident)
        if buffer is None:
            if self._data_partitions >= self.max_active_partitions:
                errors.append(self._error(
                    item, "activePartitionExceeded",
                    "DynamicPartitioning.ActivePartitionsLimitExceeded",
                    f"The stream already buffers {self.max_active_partitions} partitions "
                    "(max_active_partitions)."))
                return
            rendered = prefix.render(query_keys=item.query_keys, lambda_keys=item.lambda_keys,
                                     oldest_arrival=item.arrival)
            if len(rendered) > MAX_PREFIX_CHARS:
                errors.append(self._error(
                    item, "partition-key-invalid", "DynamicPartitioning.InvalidPartitionKey",
                    f"The evaluated prefix has {len(rendered)} characters; at most "
                    f"{MAX_PREFIX_CHARS} are allowed."))
                return
            buffer = self._buffers[ident] = Buffer(
                ident, now, query_keys=item.query_keys, lambda_keys=item.lambda_keys)
            self._data_partitions += 1
        buffer.add(item.ticket, payload, len(item.data), item.arrival)
        item.ticket.pending += 1
        self._buffered += len(item.data)

    @staticmethod
    def _error(item: Item, error_type: str, code: str, message: str) -> ErrorItem:
        return ErrorItem(item.ticket, item.raw, item.arrival, error_type, code, message)

    def _route_error(self, error: ErrorItem, now: float) -> None:
        ident = ("e", error.error_type)
        buffer = self._buffers.get(ident)
        if buffer is None:
            buffer = self._buffers[ident] = Buffer(ident, now, error_type=error.error_type)
        buffer.add(error.ticket, error, len(error.raw), error.arrival)
        error.ticket.pending += 1
        self._buffered += len(error.raw)

    def _detach(self, ident: tuple[str, ...]) -> Buffer:
        buffer = self._buffers.pop(ident)
        if not buffer.is_error:
            self._data_partitions -= 1
        self._buffered -= buffer.size
        self._in_flight += buffer.size
        return buffer

    def _detach_full(self, now: float) -> list[Buffer]:
        full = [
            ident for ident, b in self._buffers.items()
            if b.size >= self.size_bytes or b.opened_at + self.interval_secs <= now
        ]
        detached = [self._detach(ident) for ident in full]
        while self._buffered > self.max_buffered_bytes and self._buffers:
            largest = max(self._buffers.values(), key=lambda b: b.size)
            detached.append(self._detach(largest.ident))
        return detached

    # -- objects out -----------------------------------------------------------------------

    async def _write_all(self, buffers: list[Buffer]) -> list[Settlement]:
        if not buffers:
            return []
        if len(buffers) == 1:
            return await self._write(buffers[0])
        results = await asyncio.gather(*(self._write(b) for b in buffers))
        return [s for settled in results for s in settled]

    async def _write(self, buffer: Buffer) -> list[Settlement]:
        failure: Failed | None = None
        key = ""
        try:
            key, body = await asyncio.to_thread(self._encode, buffer)
            await asyncio.wait_for(self.store.put(key, body), timeout=self.write_timeout_secs)
        except ObjectStoreError as exc:
            failure = Failed(exc.code, str(exc))
        except TimeoutError:
            failure = Failed("Timeout", f"Writing {self.store.describe(key)} took longer than "
                             f"{self.write_timeout_secs} s.")
        except Exception as exc:  # a defect in encoding: retried, never lost
            failure = Failed("WriteError", f"Writing an object of stream {self.name!r} "
                             f"failed: {type(exc).__name__}: {exc}")
        finally:
            self._in_flight -= buffer.size
        return self._settle(buffer, failure)

    @staticmethod
    def _settle(buffer: Buffer, failure: Failed | None) -> list[Settlement]:
        settled: list[Settlement] = []
        for ticket in buffer.tickets:
            if ticket.settled:
                continue
            if failure is not None:
                ticket.settled = True
                settled.append((ticket.token, failure))
                continue
            ticket.pending -= 1
            if ticket.pending == 0:
                ticket.settled = True
                settled.append((ticket.token, Delivered()))
        return settled

    def _encode(self, buffer: Buffer) -> tuple[str, bytes]:
        oldest = buffer.oldest
        if buffer.is_error:
            prefix = self.error_prefix.render(oldest_arrival=oldest,
                                              error_type=buffer.error_type)
            ending = self.clock()
            body = self._error_compress(
                b"".join(error_line(e, ending_at=ending) for e in buffer.payloads))
            extension = self.error_extension
        else:
            prefix = self.prefix.render(query_keys=buffer.query_keys,
                                        lambda_keys=buffer.lambda_keys, oldest_arrival=oldest)
            if self.parquet is not None:
                body = self.parquet.encode(buffer.payloads)
            else:
                body = self._compress(b"".join(buffer.payloads))
            extension = self.extension
        stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(oldest))
        name = f"{self.name}-{self.version}-{stamp}-{uuid.uuid4()}{extension}"
        return prefix + name, body
