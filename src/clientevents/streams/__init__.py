"""Named streams that several consumer groups read independently (``docs/streams.md``)."""

from clientevents.streams.port import StreamsPort
from clientevents.streams.store import (
    MAX_RECORDS,
    InvalidStreamRequest,
    StreamRecord,
    StreamStore,
    UnknownStream,
)

__all__ = [
    "MAX_RECORDS",
    "InvalidStreamRequest",
    "StreamRecord",
    "StreamStore",
    "StreamsPort",
    "UnknownStream",
]
