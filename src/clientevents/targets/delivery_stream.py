"""The ``delivery_stream`` target: a rule's deliveries into a delivery stream's buffers.

Each rule target ``{type: delivery_stream, delivery_stream: <name>}`` has its own queue and
:class:`~.buffered.BufferedDispatcher`; all targets naming one stream share one
:class:`~clientevents.delivery_stream.DeliveryStream` (its buffers, partitions and objects),
built on first use and kept in ``TargetContext.shared``. A delivery's payload (the rendered
target input) becomes one record; its arrival time is when it was enqueued, so retries keep
their timestamps. A delivery is ``Ok`` once everything it became is in written objects, and
``Retry`` (with the store's error code) when an object holding it could not be written.

Configuration (``docs/delivery-streams.md``)::

    delivery_streams:
      - name: lake
        destination: {type: local, local: {path: lake}}
    rules:
      - ...
        targets: [{id: lake, type: delivery_stream, delivery_stream: lake}]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from clientevents.config.delivery_streams import DeliveryStreamConfig
from clientevents.delivery_stream import Delivered, DeliveryStream, Record, Settlement
from clientevents.errors import ConfigError
from clientevents.objectstore import LocalObjectStore, ObjectStore, S3ObjectStore
from clientevents.targets.base import Ok, Outcome, Retry, TargetContext
from clientevents.targets.buffered import BufferedDispatcher, BufferingTarget, Settled
from clientevents.targets.queue import ClaimedDelivery

__all__ = ["DeliveryStreamTarget", "build_store", "shared_stream"]


def build_store(config: DeliveryStreamConfig, data_dir: Path) -> ObjectStore:
    """The object store a stream's destination names."""
    destination = config.destination
    if destination.type == "local" and destination.local is not None:
        root = Path(destination.local.path).expanduser()
        if not root.is_absolute():
            root = Path(data_dir) / root
        return LocalObjectStore(root)
    s3 = destination.s3
    assert s3 is not None  # the model guarantees the settings of its type
    return S3ObjectStore(
        bucket=s3.bucket,
        region=s3.region,
        endpoint_url=s3.endpoint_url,
        access_key_id=s3.access_key_id,
        secret_access_key=s3.secret_access_key,
        session_token=s3.session_token,
        timeout_secs=s3.timeout_secs,
    )


class _Shared:
    """One stream's engine and the dispatchers that settle its deliveries."""

    def __init__(self, stream: DeliveryStream) -> None:
        self.stream = stream
        self.settlers: dict[str, BufferedDispatcher] = {}
        self.closed = False


def shared_stream(name: str, ctx: TargetContext, *, where: str = "") -> _Shared:
    """The engine of delivery stream ``name``, built once per target context."""
    key = f"delivery_stream:{name}"
    shared = ctx.shared.get(key)
    if shared is None:
        config = next((s for s in ctx.settings.delivery_streams if s.name == name), None)
        if config is None:
            raise ConfigError(f"delivery stream {name!r} is not defined under "
                              "delivery_streams.", path=where)
        try:
            stream = DeliveryStream(config, build_store(config, ctx.data_dir),
                                    account=ctx.settings.account, region=ctx.settings.region)
        except (ValueError, ImportError) as exc:
            raise ConfigError(f"delivery stream {name!r} cannot start: {exc}",
                              path=where) from exc
        shared = ctx.shared[key] = _Shared(stream)
    assert isinstance(shared, _Shared)
    return shared


class DeliveryStreamTarget(BufferingTarget):
    """Feeds one rule target's deliveries into a shared delivery stream."""

    kind: ClassVar[str] = "delivery_stream"

    def __init__(self, shared: _Shared) -> None:
        self._shared = shared
        self.stream = shared.stream
        self.settlers = shared.settlers
        self.hold_secs = self.stream.interval_secs + self.stream.write_timeout_secs

    @classmethod
    def from_config(cls, cfg: Any, ctx: TargetContext) -> DeliveryStreamTarget:
        """Build from a ``DeliveryStreamTargetConfig``."""
        return cls(shared_stream(str(cfg.delivery_stream), ctx, where="delivery_stream"))

    @staticmethod
    def _outcomes(settlements: list[Settlement]) -> Settled:
        settled: Settled = []
        for token, outcome in settlements:
            assert isinstance(token, ClaimedDelivery)
            result: Outcome = (
                Ok() if isinstance(outcome, Delivered) else Retry(outcome.code, outcome.message)
            )
            settled.append((token, result))
        return settled

    async def accept(self, deliveries: Sequence[ClaimedDelivery]) -> Settled:
        records = [Record(d.payload.encode("utf-8"), d.enqueued_at, d) for d in deliveries]
        return self._outcomes(await self.stream.put(records))

    async def flush_due(self) -> Settled:
        return self._outcomes(await self.stream.flush())

    async def flush_all(self) -> Settled:
        return self._outcomes(await self.stream.flush(everything=True))

    def limit_write_time(self, secs: float) -> None:
        stream = self.stream
        stream.write_timeout_secs = min(stream.write_timeout_secs, secs)
        self.hold_secs = stream.interval_secs + stream.write_timeout_secs

    def has_room(self) -> bool:
        return self.stream.has_room()

    def next_flush_at(self) -> float | None:
        return self.stream.next_flush_at()

    async def close(self) -> None:
        if not self._shared.closed:
            self._shared.closed = True
            await self.stream.store.close()
