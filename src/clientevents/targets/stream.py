"""The ``stream`` target: append each delivery's payload to a named stream.

The append happens in the same write transaction that removes the deliveries from the queue,
so a record is in the stream exactly once per delivery. Consumer groups then read it through
:class:`~clientevents.streams.StreamStore` (``docs/streams.md``).

Configuration::

    - id: clicks
      type: stream
      stream: clicks
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from clientevents.errors import ConfigError
from clientevents.store.port import SqlConnection
from clientevents.targets.base import LocalTarget, Ok, Outcome, Permanent, TargetContext
from clientevents.targets.queue import ClaimedDelivery

if TYPE_CHECKING:
    from clientevents.streams.port import StreamsPort

__all__ = ["StreamTarget"]


class StreamTarget(LocalTarget):
    """Appends payloads to one stream."""

    kind: ClassVar[str] = "stream"

    def __init__(self, ctx: TargetContext, streams: StreamsPort, stream: str) -> None:
        super().__init__(ctx.db)
        self.streams = streams
        self.stream = stream

    @classmethod
    def from_config(cls, cfg: Any, ctx: TargetContext) -> StreamTarget:
        """Build from a ``StreamTargetConfig``.

        Raises:
            ConfigError: no stream store in the context, or the stream is not configured.
        """
        if ctx.streams is None:
            raise ConfigError(
                f"the stream target {cfg.id!r} needs a stream store, and none was given to the "
                "dispatchers; build the TargetContext with streams=StreamStore(db, settings)."
            )
        name = str(cfg.stream)
        if not ctx.streams.has_stream(name):
            raise ConfigError(
                f"the stream target {cfg.id!r} names stream {name!r}, which is not defined "
                "under streams; add it there or fix the name."
            )
        return cls(ctx, ctx.streams, name)

    def write_in(
        self, conn: SqlConnection, deliveries: Sequence[ClaimedDelivery]
    ) -> list[Outcome]:
        from clientevents.streams.store import UnknownStream

        try:
            self.streams.append(conn, self.stream, [d.payload for d in deliveries])
        except UnknownStream as exc:
            refused = Permanent("StreamNotFound", str(exc))
            return [refused for _ in deliveries]
        return [Ok() for _ in deliveries]
