"""Numbered schema migrations, each component owning its list.

A component registers its migrations at import time::

    register_migrations("targets.queue", [
        (1, "ALTER TABLE deliveries ADD COLUMN attributes TEXT"),
        (2, "ALTER TABLE deliveries ADD COLUMN claimed_by TEXT"),
    ])

Each entry is ``(version, ddl)`` or ``(version, ddl, postgres_ddl)``: portable DDL (SQLite's
types, mapped by :meth:`~clientevents.store.dialect.Dialect.ddl`), or a PostgreSQL variant where
it cannot be written once (run whole; SQLite's run statement by statement). When a store
opens, after the registered schemas (:func:`~clientevents.store.sqlite.register_schema`, which
create a component's tables at their latest shape), every migration of a component newer than
the last one recorded in ``schema_migrations (component, version, applied_at)`` runs, in
order, once. SQLite runs them inside ``BEGIN IMMEDIATE`` (one process at a time); PostgreSQL
under the schema's advisory lock.

A statement that fails because what it adds is already there (a column the table's ``CREATE``
already declares, in a new database, or a file from before migrations existed) counts as
applied: migrations add, they do not assume the shape of a table they did not create.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

from clientevents.store.dialect import SQLITE, Dialect

__all__ = ["MIGRATIONS_DDL", "apply_migrations", "migrations", "register_migrations"]

MIGRATIONS_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    component TEXT NOT NULL,
    version INTEGER NOT NULL,
    applied_at REAL NOT NULL,
    PRIMARY KEY (component, version)
);
"""

Migration = tuple[int, str] | tuple[int, str, str]

_MIGRATIONS: dict[str, list[tuple[int, str, str | None]]] = {}


def register_migrations(component: str, entries: Sequence[Migration]) -> None:
    """Register ``component``'s migrations (versions increasing from 1, none skipped)."""
    listed: list[tuple[int, str, str | None]] = []
    for entry in entries:
        version, ddl = entry[0], entry[1]
        postgres = entry[2] if len(entry) == 3 else None
        listed.append((version, ddl, postgres))
    versions = [v for v, _, _ in listed]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"{component}: migration versions must be 1, 2, 3 ...; got {versions}")
    _MIGRATIONS[component] = listed


def migrations() -> dict[str, list[tuple[int, str, str | None]]]:
    """Every registered component's migrations."""
    return {name: list(entries) for name, entries in _MIGRATIONS.items()}


def statements(script: str) -> list[str]:
    """The statements of a DDL script (a trigger's body stays whole)."""
    out: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                out.append(pending.strip())
            pending = ""
    if pending.strip():
        out.append(pending.strip())
    return out


def _already_there(dialect: Dialect, exc: BaseException) -> bool:
    text = str(exc).lower()
    return dialect.is_duplicate_column(exc) or "already exists" in text


def pending_migrations(conn: Any) -> bool:
    """Whether a registered migration is not recorded on ``conn`` yet (a plain read, so an
    opener that has nothing to apply takes no write lock)."""
    try:
        rows = conn.execute("SELECT component, max(version) FROM schema_migrations "
                            "GROUP BY component").fetchall()
    except Exception:  # no table yet
        return True
    done = {str(name): int(version) for name, version in rows}
    return any(entries and entries[-1][0] > done.get(component, 0)
               for component, entries in _MIGRATIONS.items())


def apply_migrations(
    conn: Any, dialect: Dialect, *, run: Callable[[Any], Any] | None = None
) -> list[tuple[str, int]]:
    """Run every migration not recorded yet on ``conn``; return the ``(component, version)``s
    applied. The caller holds the store's schema lock (SQLite: a write transaction).

    ``run(statement)`` executes one statement in a way that survives its failure (PostgreSQL:
    autocommit); by default ``conn.execute``.
    """
    execute = run or conn.execute
    applied: list[tuple[str, int]] = []
    rows = conn.execute("SELECT component, max(version) FROM schema_migrations "
                        "GROUP BY component").fetchall()
    done = {str(name): int(version) for name, version in rows}
    for component, entries in _MIGRATIONS.items():
        for version, ddl, postgres in entries:
            if version <= done.get(component, 0):
                continue
            if dialect is SQLITE:
                parts = statements(ddl)
            else:  # PostgreSQL runs a script whole (a $$ body holds semicolons)
                parts = [postgres if postgres is not None else dialect.ddl(ddl)]
            for statement in parts:
                try:
                    execute(statement)
                except Exception as exc:
                    if not _already_there(dialect, exc):
                        raise
            conn.execute(
                "INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, ?)",
                (component, version, time.time()),
            )
            applied.append((component, version))
    return applied
