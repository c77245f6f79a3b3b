"""Delivery streams: Firehose's buffering, processing, dynamic partitioning and object writing.

The engine (:class:`DeliveryStream`) takes records from any source and says when each is
durable; ``clientevents.targets.delivery_stream`` feeds it from a rule target's delivery queue.
See ``docs/delivery-streams.md``.
"""

from clientevents.delivery_stream.records import (
    ERROR_TYPES,
    Delivered,
    Failed,
    Outcome,
    Record,
    Settlement,
)
from clientevents.delivery_stream.stream import DeliveryStream, build_processors, stream_arn

__all__ = [
    "ERROR_TYPES",
    "Delivered",
    "DeliveryStream",
    "Failed",
    "Outcome",
    "Record",
    "Settlement",
    "build_processors",
    "stream_arn",
]
