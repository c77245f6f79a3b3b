"""Delivery: per-target durable queues, dispatchers with retry policies, dead-letter queues.

See ``docs/delivery.md``. The pieces:

- :mod:`.queue`: ``Delivery``, ``DeadLetter``, ``enqueue``, ``dead_letter`` (the router's side);
- :mod:`.base`: ``Target``, ``LocalTarget``, outcomes ``Ok``/``Retry``/``Permanent``,
  ``TargetContext``;
- :mod:`.registry`: ``TARGET_TYPES``, ``build_target``;
- :mod:`.retry`: backoff with full jitter, retry limits, failure classification;
- :mod:`.dispatcher`: ``Dispatchers`` (one task per target);
- :mod:`.buffered`: ``BufferingTarget`` and its ``BufferedDispatcher`` (settled later);
- :mod:`.delivery_stream`: the ``delivery_stream`` target (``docs/delivery-streams.md``);
- :mod:`.dlq`: ``DeadLetterQueue``.
"""

from clientevents.targets.base import (
    LocalTarget,
    Ok,
    Outcome,
    Permanent,
    Retry,
    Target,
    TargetContext,
)
from clientevents.targets.dispatcher import Dispatchers, DispatchOptions
from clientevents.targets.dlq import DeadLetterEntry, DeadLetterQueue, RedriveResult
from clientevents.targets.queue import (
    SQL_DELIVERY_QUEUE,
    ClaimedDelivery,
    DeadLetter,
    Delivery,
    DeliveryQueue,
    SqlDeliveryQueue,
    dead_letter,
    enqueue,
    target_key,
)
from clientevents.targets.registry import TARGET_TYPES, build_target
from clientevents.targets.retry import Backoff, RetryLimits

__all__ = [
    "SQL_DELIVERY_QUEUE",
    "TARGET_TYPES",
    "Backoff",
    "ClaimedDelivery",
    "DeadLetter",
    "DeadLetterEntry",
    "DeadLetterQueue",
    "Delivery",
    "DeliveryQueue",
    "DispatchOptions",
    "Dispatchers",
    "LocalTarget",
    "Ok",
    "Outcome",
    "Permanent",
    "RedriveResult",
    "Retry",
    "RetryLimits",
    "SqlDeliveryQueue",
    "Target",
    "TargetContext",
    "build_target",
    "dead_letter",
    "enqueue",
    "target_key",
]
