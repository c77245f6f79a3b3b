"""The audit log: every admin action, durable and queryable.

Each state-changing admin call (and each sign-in, sign-out and failed sign-in) adds one row to
``admin_audit`` in its own write, committed before the answer: who (``actor``: a console
username, ``sign-in-link``, or the admin key's id), how (``via``: ``password``, ``link`` or
``sigv4``), what (``action`` like ``dlq.redrive``, and ``subject``: the target of the action),
the outcome (``ok`` or the error code), the request's details (JSON) and the client address.

Example::

    audit = AuditLog(db)
    audit.record(Actor("ops", "password", "admin"), "dlq.redrive", subject="42",
                 details={"ids": [42]}, outcome="ok", address="127.0.0.1")
    audit.query(action="dlq.", limit=50)       # newest first; action matches by prefix
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final

import orjson

from clientevents.store.engine import register_schema
from clientevents.store.port import SqlConnection, StateStore

__all__ = ["AUDIT_SCHEMA", "Actor", "AuditEntry", "AuditLog"]

AUDIT_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS admin_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    via TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL,
    address TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS admin_audit_action ON admin_audit (action, id);
"""

register_schema("admin.audit", AUDIT_SCHEMA)

MAX_DETAILS_BYTES: Final = 8192


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes an admin request: name, how they authenticated, and their role."""

    name: str
    via: str
    role: str

    @property
    def may_change(self) -> bool:
        """Whether this actor may call state-changing operations."""
        return self.role == "admin"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row."""

    id: int
    at: float
    actor: str
    via: str
    action: str
    subject: str
    outcome: str
    details: Any
    address: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AuditLog:
    """Append and query ``admin_audit``."""

    def __init__(self, db: StateStore, *, clock: Callable[[], float] = time.time) -> None:
        db.ensure_schema(AUDIT_SCHEMA)
        self.db = db
        self.clock = clock

    def record(
        self,
        actor: Actor,
        action: str,
        *,
        subject: str = "",
        outcome: str = "ok",
        details: Any = None,
        address: str = "",
    ) -> None:
        """Write one entry (durable on return)."""
        row = self._row(actor, action, subject, outcome, details, address)
        self.db.write(lambda conn: _insert(conn, row))

    async def arecord(
        self,
        actor: Actor,
        action: str,
        *,
        subject: str = "",
        outcome: str = "ok",
        details: Any = None,
        address: str = "",
    ) -> None:
        """:meth:`record` from asyncio code (the write does not block the event loop)."""
        row = self._row(actor, action, subject, outcome, details, address)
        await self.db.awrite(lambda conn: _insert(conn, row))

    def _row(
        self, actor: Actor, action: str, subject: str, outcome: str, details: Any, address: str
    ) -> tuple[Any, ...]:
        text = orjson.dumps(details if details is not None else {}).decode()
        if len(text) > MAX_DETAILS_BYTES:
            text = orjson.dumps({"truncated": text[:MAX_DETAILS_BYTES]}).decode()
        return (self.clock(), actor.name, actor.via, action, subject[:500], outcome, text,
                address[:100])

    def query(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Entries newest first; ``action`` matches by prefix (``dlq.`` = every DLQ action)."""
        clauses: list[str] = []
        params: list[Any] = []
        if action:
            clauses.append("action >= ? AND action < ?")
            params.extend((action, action + "\U0010ffff"))
        if actor:
            clauses.append("actor = ?")
            params.append(actor)
        if before_id is not None:
            clauses.append("id < ?")
            params.append(before_id)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        sql = (
            "SELECT id, at, actor, via, action, subject, outcome, details, address "
            f"FROM admin_audit{where} ORDER BY id DESC LIMIT ?"
        )
        rows = self.db.read(lambda conn: conn.execute(sql, [*params, limit]).fetchall())
        return [
            AuditEntry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], orjson.loads(r[7]), r[8])
            for r in rows
        ]


def _insert(conn: SqlConnection, row: tuple[Any, ...]) -> None:
    conn.execute(
        "INSERT INTO admin_audit (at, actor, via, action, subject, outcome, details, address) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        row,
    )
