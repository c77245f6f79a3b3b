"""The admin side of a deployment: what the console shows and what scripts and the CLI call.

:class:`AdminService` gathers, over one database and configuration, the parts the admin API
(``/admin/api/...``, :mod:`clientevents.server.routes.admin`) exposes:

- :class:`~.accounts.ConsoleAccounts`: console accounts, sessions, one-time sign-in links;
- :class:`~.audit.AuditLog`: every admin action, durable and queryable;
- :class:`~.tail.Tails`: the live tail of each bus;
- :mod:`~.pipeline`: buses, rules with matched events per minute, the sandbox;
- :class:`~.recovery.Recovery`: deliveries, dead letters, archives and replays;
- :class:`~.people.PoolUsers`: the user pool's users;
- :class:`~.overview.MetricsHistory`: the overview's rates, from the gateway's own metrics.

Example::

    admin = AdminService(settings, db, pool=identity.user_pool, registry=metrics.registry)
    admin.overview()
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from clientevents.admin.accounts import ConsoleAccounts
from clientevents.admin.audit import Actor, AuditLog
from clientevents.admin.errors import AdminError
from clientevents.admin.overview import MetricsHistory
from clientevents.admin.people import PoolUsers
from clientevents.admin.pipeline import bus_list, rule_list
from clientevents.admin.recovery import Recovery
from clientevents.admin.tail import TailOptions, Tails
from clientevents.archive.schema import ACTIVE_STATES
from clientevents.config.model import Settings
from clientevents.identity.userpool import UserPool
from clientevents.log.eventlog import EventLog
from clientevents.log.port import EventLogPort
from clientevents.store.port import StateStore
from clientevents.targets.counters import delivery_state

__all__ = ["Actor", "AdminError", "AdminService"]


class AdminService:
    """Everything the admin API reads and changes, for one deployment.

    Args:
        settings: the configuration.
        db: the shared database.
        pool: the built-in user pool (``None`` when disabled).
        registry: the gateway's metrics registry (the overview's source).
        tail_options: how live tails follow their bus.
        history_interval_secs: how often the overview samples the metrics.
        log: the event log (default: the SQL log in ``db``).
    """

    def __init__(
        self,
        settings: Settings,
        db: StateStore,
        *,
        pool: UserPool | None,
        registry: CollectorRegistry,
        tail_options: TailOptions | None = None,
        history_interval_secs: float = 5.0,
        log: EventLogPort | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.log: EventLogPort = EventLog(db) if log is None else log
        self.accounts = ConsoleAccounts(db, session_ttl_secs=settings.console.session_ttl_secs)
        self.audit = AuditLog(db)
        self.tails = Tails(db, settings, tail_options, log=self.log)
        self.recovery = Recovery(db, settings, log=self.log)
        self.users = PoolUsers(pool)
        self.history = MetricsHistory(registry, interval_secs=history_interval_secs)

    def overview(self) -> dict[str, Any]:
        """The overview page's figures (blocking: the database is read)."""
        states = self.db.read(delivery_state)
        configured = [
            f"{r.bus}/{r.name}/{t.id}" for r in self.settings.rules for t in r.targets
        ]
        backlog = [
            {"key": key, "pending": states[key].pending if key in states else 0,
             "retrying": states[key].retrying if key in states else 0,
             "dead_letters": states[key].dead_letters if key in states else 0}
            for key in configured
        ]
        marks = ",".join("?" * len(ACTIVE_STATES))
        (active,) = self.db.read(lambda conn: conn.execute(
            f"SELECT count(*) FROM replays WHERE state IN ({marks})", ACTIVE_STATES
        ).fetchone())
        rules = rule_list(self.settings, self.db)
        return {
            "totals": self.history.totals(),
            "series": self.history.series(),
            "interval_secs": self.history.interval_secs,
            "backlog": backlog,
            "dead_letters": sum(s.dead_letters for s in states.values()),
            "active_replays": int(active),
            "buses": bus_list(self.settings, self.db, self.log),
            "rules": [
                {"name": r["name"], "bus": r["bus"], "state": r["state"],
                 "matched_last_minute": r["matched_last_minute"],
                 "matched_per_minute": r["matched_per_minute"]}
                for r in rules
            ],
        }

    async def close(self) -> None:
        """Stop the live tails and the metrics sampler."""
        await self.tails.close()
        await self.history.stop()
