"""Partition buffers: the records waiting for their object, grouped by partition."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clientevents.delivery_stream.records import Ticket

__all__ = ["Buffer"]


@dataclass(slots=True, eq=False)
class Buffer:
    """One partition's (or one error type's) records.

    Attributes:
        ident: ``("d", key values...)`` for data, ``("e", error type)`` for error output.
        opened_at: when its first record came (the interval hint counts from here).
        oldest: the earliest arrival time among its records (timestamps in the key).
        size: the records' bytes.
        payloads: record bytes, Parquet rows or error items, one per entry of ``tickets``.
    """

    ident: tuple[str, ...]
    opened_at: float
    query_keys: dict[str, str] | None = None
    lambda_keys: dict[str, str] | None = None
    error_type: str = ""
    oldest: float = float("inf")
    size: int = 0
    tickets: list[Ticket] = field(default_factory=list)
    payloads: list[Any] = field(default_factory=list)

    @property
    def is_error(self) -> bool:
        return self.ident[0] == "e"

    def add(self, ticket: Ticket, payload: Any, size: int, arrival: float) -> None:
        self.tickets.append(ticket)
        self.payloads.append(payload)
        self.size += size
        if arrival < self.oldest:
            self.oldest = arrival
