"""A PostgreSQL outage confined to one test: the store under test connects as a login role of
the test's own, which an administrator's connection cuts off (``NOLOGIN`` and
``pg_terminate_backend``) and lets back in; the shared server keeps running for everyone else."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from store_helpers import PG_DSN, require_service

__all__ = ["RoleOutage", "role_outage"]


class RoleOutage:
    """A login role of the test's own (``dsn`` connects as it, ``schema`` is its own) and an
    administrator's connection (``admin``) that cuts it off."""

    def __init__(self, role_prefix: str) -> None:
        import psycopg
        from psycopg.conninfo import make_conninfo

        self.role = f"{role_prefix}_{uuid.uuid4().hex[:10]}"
        self.schema = f"t_{uuid.uuid4().hex[:16]}"
        self.admin = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=5)
        database = self.admin.info.dbname
        self.admin.execute(f'CREATE ROLE "{self.role}" LOGIN')
        self.admin.execute(f'GRANT CREATE ON DATABASE "{database}" TO "{self.role}"')
        self.admin.execute(f'CREATE SCHEMA "{self.schema}" AUTHORIZATION "{self.role}"')
        self.dsn = make_conninfo(PG_DSN, user=self.role)

    def begin(self) -> None:
        """The store's server is gone for this role: no new connection, the open ones cut."""
        self.admin.execute(f'ALTER ROLE "{self.role}" NOLOGIN')
        self.admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE usename = %s", (self.role,))

    def end(self) -> None:
        self.admin.execute(f'ALTER ROLE "{self.role}" LOGIN')

    def remove(self) -> None:
        self.begin()
        self.admin.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        self.admin.execute(f'DROP OWNED BY "{self.role}"')
        self.admin.execute(f'DROP ROLE IF EXISTS "{self.role}"')
        self.admin.close()


@contextmanager
def role_outage(role_prefix: str) -> Iterator[RoleOutage]:
    """A :class:`RoleOutage` whose role is named ``role_prefix`` and a random suffix, removed
    (role, schema and connections) at the end (skipped, or failed under
    CLIENTEVENTS_REQUIRE_SERVICES=1, when PostgreSQL is down)."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    made = RoleOutage(role_prefix)
    try:
        yield made
    finally:
        made.remove()
