"""Named streams that several consumer groups read independently (``docs/streams.md``)."""

from clientevents.streams.store import (
    MAX_RECORDS,
    InvalidStreamRequest,
    StreamRecord,
    StreamStore,
    UnknownStream,
)

__all__ = ["MAX_RECORDS", "InvalidStreamRequest", "StreamRecord", "StreamStore", "UnknownStream"]
