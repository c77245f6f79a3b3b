"""The ticket inbox's storage (table ``inbox_tickets``, owned here) and Zendesk's rules.

A request body is what Zendesk's ``POST /api/v2/tickets.json`` takes: ``{"ticket": {...}}``
with at least a comment (``comment.body``) or a ``description``; ``subject``, ``priority``,
``type``, ``tags`` and ``external_id`` are kept when given. The answer is Zendesk's shape:
``{"ticket": {"id", "url", "subject", "raw_subject", "description", "status": "new", ...}}``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import orjson

from clientevents.store.engine import register_schema

if TYPE_CHECKING:
    from clientevents.store.port import SqlConnection, StateStore

__all__ = ["SCHEMA", "InboxTicket", "TicketInbox", "TicketRejected"]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS inbox_tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    event_id TEXT,
    ticket TEXT NOT NULL
);
"""

register_schema("inbox.tickets", SCHEMA)


class TicketRejected(ValueError):
    """A request Zendesk would refuse: ``status`` and Zendesk's error body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        super().__init__(str(body))


@dataclass(frozen=True, slots=True)
class InboxTicket:
    """One stored ticket."""

    id: int
    created_at: float
    event_id: str | None
    ticket: dict[str, Any]

    def zendesk(self, base_url: str) -> dict[str, Any]:
        """The ticket as Zendesk's API shows it."""
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created_at))
        given = self.ticket
        comment = given.get("comment")
        description = given.get("description")
        if isinstance(comment, dict) and isinstance(comment.get("body"), str):
            description = comment["body"]
        return {
            "url": f"{base_url}/inbox/api/v2/tickets/{self.id}.json",
            "id": self.id,
            "external_id": given.get("external_id"),
            "created_at": when,
            "updated_at": when,
            "type": given.get("type"),
            "subject": given.get("subject"),
            "raw_subject": given.get("subject"),
            "description": description,
            "priority": given.get("priority"),
            "status": "new",
            "tags": given.get("tags") or [],
            "via": {"channel": "api"},
        }

    def listing(self, base_url: str) -> dict[str, Any]:
        """The ticket as ``GET /inbox/tickets`` lists it: Zendesk's view and what was sent."""
        return {
            "id": self.id,
            "event_id": self.event_id,
            "ticket": self.zendesk(base_url),
            "request": {"ticket": self.ticket},
        }


def _invalid(description: str) -> TicketRejected:
    return TicketRejected(422, {
        "error": "RecordInvalid",
        "description": "Record validation errors",
        "details": {"base": [{"description": description}]},
    })


def parse_ticket(body: bytes) -> dict[str, Any]:
    """The ``ticket`` object of a request body, checked as Zendesk checks it.

    Raises:
        TicketRejected: 400 for a body that is not JSON, 422 for a ticket Zendesk refuses.
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise TicketRejected(400, {"error": "Unprocessable Entity",
                                   "description": "The body is not valid JSON."}) from None
    ticket = doc.get("ticket") if isinstance(doc, dict) else None
    if not isinstance(ticket, dict):
        raise _invalid('The body must be a JSON object with a "ticket" object.')
    comment = ticket.get("comment")
    has_comment = isinstance(comment, dict) and isinstance(comment.get("body"), str) and (
        comment["body"].strip() != ""
    )
    description = ticket.get("description")
    if not has_comment and not (isinstance(description, str) and description.strip()):
        raise _invalid("Description: cannot be blank")
    return ticket


class TicketInbox:
    """The stored tickets."""

    def __init__(self, db: StateStore) -> None:
        self.db = db

    async def add(self, ticket: dict[str, Any], *, event_id: str | None) -> InboxTicket:
        """Store a ticket durably; returns it with its id."""
        now = time.time()
        text = orjson.dumps(ticket).decode()

        def write(conn: SqlConnection) -> int:
            row = conn.execute(
                "INSERT INTO inbox_tickets (created_at, event_id, ticket) VALUES (?, ?, ?) "
                "RETURNING id",
                (now, event_id, text),
            ).fetchone()
            return int(row[0])

        ticket_id = await self.db.awrite(write)
        return InboxTicket(ticket_id, now, event_id, ticket)

    def newest(self, limit: int = 100) -> tuple[list[InboxTicket], int]:
        """The ``limit`` newest tickets, newest first, and how many there are in all."""
        def read(conn: SqlConnection) -> tuple[list[InboxTicket], int]:
            rows = conn.execute(
                "SELECT id, created_at, event_id, ticket FROM inbox_tickets "
                "ORDER BY id DESC LIMIT ?", (limit,),
            ).fetchall()
            count = conn.execute("SELECT count(*) FROM inbox_tickets").fetchone()[0]
            return [InboxTicket(r[0], r[1], r[2], orjson.loads(r[3])) for r in rows], count

        return self.db.read(read)
