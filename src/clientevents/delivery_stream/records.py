"""What flows through a delivery stream: records in, settlements out, items in between."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "ERROR_TYPES",
    "Delivered",
    "ErrorItem",
    "Failed",
    "Item",
    "Outcome",
    "Record",
    "Settlement",
    "Ticket",
]


@dataclass(slots=True)
class Record:
    """One record handed to a delivery stream.

    Attributes:
        data: the record's bytes (a rendered target input).
        arrival: when the stream received it, epoch seconds (Firehose's
            ``approximateArrivalTimestamp``); keep it across retries so prefixes stay stable.
        token: the caller's handle, given back in the record's :data:`Settlement`.
    """

    data: bytes
    arrival: float
    token: object = None


@dataclass(frozen=True, slots=True)
class Delivered:
    """Everything the record became is durable: in objects, or in error output objects."""


@dataclass(frozen=True, slots=True)
class Failed:
    """An object holding part of the record could not be written; hand the record again."""

    code: str
    message: str


Outcome = Delivered | Failed
Settlement = tuple[object, Outcome]
"""``(token, outcome)``: how a record ended."""

ERROR_TYPES: Final = (
    "processing-failed",
    "partition-key-missing",
    "partition-key-invalid",
    "activePartitionExceeded",
    "format-conversion-failed",
)
"""The values of ``!{firehose:error-output-type}``."""


@dataclass(slots=True, eq=False)
class Ticket:
    """The bookkeeping of one input record: how many of its pieces still wait for an object."""

    token: object
    pending: int = 0
    failed: Failed | None = None
    settled: bool = False


@dataclass(slots=True)
class Item:
    """A record (or a piece of one) on its way through the processors.

    ``raw`` is what the error output stores when the item fails: the record as the stream
    received it (a de-aggregated sub-record for the pieces of an aggregate).
    """

    ticket: Ticket
    data: bytes
    arrival: float
    raw: bytes
    query_keys: dict[str, str] | None = None
    lambda_keys: dict[str, str] | None = None
    parsed: object = field(default=None)  # the JSON value, when a processor parsed it


@dataclass(slots=True)
class ErrorItem:
    """A piece that goes to the error output instead of the data objects."""

    ticket: Ticket
    raw: bytes
    arrival: float
    error_type: str
    code: str
    message: str
    attempts: int = 1
    lambda_arn: str | None = None
