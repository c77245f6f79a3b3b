"""Replays: StartReplay, DescribeReplay, CancelReplay and ListReplays over the ``replays`` table.

A replay puts the events an archive holds from a time window back on the archive's bus,
optionally only for some of the bus's rules. Starting one only writes its row (state
``STARTING``); the workers' :class:`~clientevents.archive.runner.ReplayRunner` picks it up, so
the command line or an HTTP API in another process can start, watch and cancel replays.

Semantics follow EventBridge:

- the window is ``[EventStartTime, EventEndTime)`` on each event's ``time``: an event at
  exactly the end time is not replayed;
- the destination is the archive's own bus (EventBridge allows no other); ``FilterArns``
  (here ``rules``, names or rule ARNs) limits the replay to those rules, none means every rule;
- replayed events carry ``"replay-name": <name>`` in the envelope and keep their event id;
- states: ``STARTING`` → ``RUNNING`` → ``COMPLETED``; CancelReplay (only while ``STARTING`` or
  ``RUNNING``) → ``CANCELLING`` → ``CANCELLED``; an error → ``FAILED`` with ``StateReason``;
- a replay name is unique forever (ResourceAlreadyExistsException); at most
  :data:`MAX_ACTIVE_REPLAYS` replays are active at once (LimitExceededException).

Example::

    replays = Replays(db, settings)
    replays.start_replay("fix-42", "client_event_archive",
                         "2026-11-27T05:00:00Z", "2026-11-27T06:00:00Z", rules=["to_lake"])
    replays.describe("fix-42").to_dict()   # {"ReplayName": "fix-42", "State": "RUNNING", ...}
    replays.cancel("fix-42")
"""

from __future__ import annotations

import builtins
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from clientevents.archive.archive import Archives
from clientevents.archive.errors import (
    IllegalStatus,
    InvalidReplayRequest,
    ReplayLimitExceeded,
    ResourceAlreadyExists,
    ResourceNotFound,
)
from clientevents.archive.schema import (
    ACTIVE_STATES,
    CANCELLING,
    REPLAY_STATES,
    RUNNING,
    SCHEMA,
    STARTING,
    archive_arn,
    bus_arn,
    format_timestamp,
    replay_arn,
)
from clientevents.config.model import Settings
from clientevents.events.envelope import parse_time
from clientevents.routing.rules import rule_arn
from clientevents.store.port import SqlConnection, StateStore

__all__ = ["MAX_ACTIVE_REPLAYS", "Replay", "Replays", "TimeLike"]

MAX_ACTIVE_REPLAYS = 10
"""Most replays active (STARTING, RUNNING, CANCELLING) at once: EventBridge's quota."""

NAME_RE = re.compile(r"^[.\-_A-Za-z0-9]{1,64}$")
MAX_DESCRIPTION = 512

TimeLike = float | int | str | datetime
"""A time: epoch seconds, a datetime (naive = UTC) or RFC 3339 text."""

_COLUMNS = (
    "name, archive, bus, description, event_start_time, event_end_time, rules, state, "
    "state_reason, replay_start_time, replay_end_time, event_last_replayed_time, cursor_time, "
    "cursor_seq, events_replayed"
)


@dataclass(frozen=True, slots=True)
class Replay:
    """One replay as stored, plus its ARNs. Times are epoch seconds.

    ``cursor_time``/``cursor_seq`` identify the last event replayed (the start time and 0
    before the first); ``events_replayed`` counts the events put back on the bus.
    """

    name: str
    archive: str
    bus: str
    description: str
    event_start_time: float
    event_end_time: float
    rules: tuple[str, ...] | None
    state: str
    state_reason: str
    replay_start_time: float
    replay_end_time: float | None
    event_last_replayed_time: float | None
    cursor_time: float
    cursor_seq: int
    events_replayed: int
    region: str
    account: str

    @property
    def arn(self) -> str:
        """``arn:aws:events:{region}:{account}:replay/{name}``."""
        return replay_arn(self.region, self.account, self.name)

    @property
    def active(self) -> bool:
        """True while the workers still act on the replay."""
        return self.state in ACTIVE_STATES

    def to_dict(self) -> dict[str, Any]:
        """The ``DescribeReplay`` answer (times as RFC 3339 text), plus ``EventsReplayed``."""
        destination: dict[str, Any] = {"Arn": bus_arn(self.region, self.account, self.bus)}
        if self.rules is not None:
            destination["FilterArns"] = [
                rule_arn(self.region, self.account, self.bus, rule) for rule in self.rules
            ]
        return {
            "ReplayName": self.name,
            "ReplayArn": self.arn,
            "Description": self.description,
            "State": self.state,
            "StateReason": self.state_reason,
            "EventSourceArn": archive_arn(self.region, self.account, self.archive),
            "Destination": destination,
            "EventStartTime": format_timestamp(self.event_start_time),
            "EventEndTime": format_timestamp(self.event_end_time),
            "EventLastReplayedTime": format_timestamp(self.event_last_replayed_time),
            "ReplayStartTime": format_timestamp(self.replay_start_time),
            "ReplayEndTime": format_timestamp(self.replay_end_time),
            "EventsReplayed": self.events_replayed,
        }


class Replays:
    """Start, describe, cancel and list replays.

    Args:
        db: the shared database.
        settings: archives, buses and rules (to check a request), region and account (ARNs).
        clock: the time source (epoch seconds) for ``ReplayStartTime``.
    """

    def __init__(
        self, db: StateStore, settings: Settings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)
        self.settings = settings
        self.archives = Archives(db, settings)
        self.clock = clock

    # -- StartReplay -------------------------------------------------------------------------

    def start_replay(
        self,
        name: str,
        archive: str,
        start: TimeLike,
        end: TimeLike,
        rules: Sequence[str] | None = None,
        description: str = "",
    ) -> Replay:
        """Record a new replay in state ``STARTING``; the workers run it.

        Args:
            name: 1 to 64 of ``A-Z a-z 0-9 . - _``; unique among all replays, ever.
            archive: the archive's name or ARN; its bus is the destination.
            start: ``EventStartTime``, inclusive.
            end: ``EventEndTime``, exclusive; after ``start``.
            rules: rule names or rule ARNs of the archive's bus (``FilterArns``); None or
                empty = every rule.
            description: at most 512 characters.

        Raises:
            InvalidReplayRequest: a bad name, description, time or window.
            ResourceNotFound: the archive or a rule does not exist.
            ResourceAlreadyExists: a replay named ``name`` exists.
            ReplayLimitExceeded: :data:`MAX_ACTIVE_REPLAYS` replays are active.
        """
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise InvalidReplayRequest(
                f"Replay name {name!r} is not valid: use 1 to 64 letters, digits, '.', '-' or '_'."
            )
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            raise InvalidReplayRequest(
                f"The description of replay {name!r} must be text of at most {MAX_DESCRIPTION} "
                "characters."
            )
        cfg = self.archives.config(archive)
        start_secs = _time_arg("EventStartTime", start)
        end_secs = _time_arg("EventEndTime", end)
        if start_secs >= end_secs:
            raise InvalidReplayRequest(
                f"EventStartTime ({format_timestamp(start_secs)}) must be before EventEndTime "
                f"({format_timestamp(end_secs)}): the window [start, end) would be empty."
            )
        names = self._rule_names(cfg.bus, rules)
        now = self.clock()
        row = (
            name, cfg.name, cfg.bus, description, start_secs, end_secs,
            None if names is None else orjson.dumps(names).decode(), STARTING, "", now,
            start_secs,
        )

        def insert(conn: SqlConnection) -> None:
            if conn.execute("SELECT 1 FROM replays WHERE name = ?", (name,)).fetchone():
                raise ResourceAlreadyExists(
                    f"Replay {name!r} already exists; replay names are never reused. Choose "
                    "another name."
                )
            marks = ",".join("?" * len(ACTIVE_STATES))
            (active,) = conn.execute(
                f"SELECT count(*) FROM replays WHERE state IN ({marks})", ACTIVE_STATES
            ).fetchone()
            if active >= MAX_ACTIVE_REPLAYS:
                raise ReplayLimitExceeded(
                    f"{active} replays are active, the most allowed at once is "
                    f"{MAX_ACTIVE_REPLAYS}. Wait for one to finish or cancel one."
                )
            conn.execute(
                "INSERT INTO replays (name, archive, bus, description, event_start_time, "
                "event_end_time, rules, state, state_reason, replay_start_time, cursor_time) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )

        self.db.write(insert)
        return self.describe(name)

    def _rule_names(self, bus: str, rules: Sequence[str] | None) -> list[str] | None:
        if rules is None:
            return None
        if isinstance(rules, str):
            raise InvalidReplayRequest(
                f"rules must be a list of rule names or ARNs, not the text {rules!r}."
            )
        known = {rule.name for rule in self.settings.rules_for_bus(bus)}
        names: list[str] = []
        for rule in rules:
            rule_name = _rule_name_of(rule, bus)
            if rule_name not in known:
                listed = ", ".join(sorted(known)) or "none"
                raise ResourceNotFound(
                    f"Rule {rule!r} does not exist on bus {bus!r}, the archive's bus "
                    f"(its rules: {listed})."
                )
            if rule_name not in names:
                names.append(rule_name)
        return names or None

    # -- DescribeReplay, ListReplays -------------------------------------------------------

    def describe(self, name: str) -> Replay:
        """Replay ``name`` (a name or a replay ARN).

        Raises:
            ResourceNotFound: no replay of that name exists.
        """
        key = _replay_name_of(name)
        row = self.db.read(
            lambda conn: conn.execute(
                f"SELECT {_COLUMNS} FROM replays WHERE name = ?", (key,)
            ).fetchone()
        )
        if row is None:
            raise ResourceNotFound(f"Replay {name!r} does not exist.")
        return self._replay(row)

    def list(
        self,
        state: str | None = None,
        *,
        name_prefix: str | None = None,
        archive: str | None = None,
    ) -> builtins.list[Replay]:
        """Replays, newest first: all, or those in ``state``, of ``archive``, named
        ``name_prefix``...

        Raises:
            InvalidReplayRequest: ``state`` is not one of EventBridge's replay states.
        """
        if state is not None and state not in REPLAY_STATES:
            raise InvalidReplayRequest(
                f"State {state!r} is not a replay state; use one of {', '.join(REPLAY_STATES)}."
            )
        where: builtins.list[str] = []
        params: builtins.list[Any] = []
        if state is not None:
            where.append("state = ?")
            params.append(state)
        if archive is not None:
            where.append("archive = ?")
            params.append(self.archives.config(archive).name)
        sql = f"SELECT {_COLUMNS} FROM replays"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY replay_start_time DESC, name"
        rows = self.db.read(lambda conn: conn.execute(sql, params).fetchall())
        replays = [self._replay(row) for row in rows]
        if name_prefix is not None:
            replays = [r for r in replays if r.name.startswith(name_prefix)]
        return replays

    def active(self) -> builtins.list[Replay]:
        """The replays the workers still act on, oldest first."""
        marks = ",".join("?" * len(ACTIVE_STATES))
        rows = self.db.read(
            lambda conn: conn.execute(
                f"SELECT {_COLUMNS} FROM replays WHERE state IN ({marks}) "
                "ORDER BY replay_start_time, name",
                ACTIVE_STATES,
            ).fetchall()
        )
        return [self._replay(row) for row in rows]

    # -- CancelReplay ----------------------------------------------------------------------

    def cancel(self, name: str) -> Replay:
        """Ask the workers to stop replay ``name``: its state becomes ``CANCELLING``, then
        ``CANCELLED`` at the workers' next step. No event is replayed after this returns.

        Raises:
            ResourceNotFound: no replay of that name exists.
            IllegalStatus: the replay is not ``STARTING`` or ``RUNNING``.
        """
        key = _replay_name_of(name)

        def mark(conn: SqlConnection) -> None:
            row = conn.execute("SELECT state FROM replays WHERE name = ?", (key,)).fetchone()
            if row is None:
                raise ResourceNotFound(f"Replay {name!r} does not exist.")
            if row[0] not in (STARTING, RUNNING):
                raise IllegalStatus(
                    f"Replay {key!r} is {row[0]}; only a STARTING or RUNNING replay can be "
                    "cancelled."
                )
            conn.execute(
                "UPDATE replays SET state = ?, state_reason = ? WHERE name = ?",
                (CANCELLING, "Cancelled by request.", key),
            )

        self.db.write(mark)
        return self.describe(key)

    def _replay(self, row: tuple[Any, ...]) -> Replay:
        rules = None if row[6] is None else tuple(str(r) for r in orjson.loads(row[6]))
        return Replay(
            name=row[0], archive=row[1], bus=row[2], description=row[3],
            event_start_time=row[4], event_end_time=row[5], rules=rules, state=row[7],
            state_reason=row[8], replay_start_time=row[9], replay_end_time=row[10],
            event_last_replayed_time=row[11], cursor_time=row[12], cursor_seq=row[13],
            events_replayed=row[14], region=self.settings.region, account=self.settings.account,
        )


def _time_arg(field: str, value: Any) -> float:
    if value is None:
        raise InvalidReplayRequest(f"{field} is required.")
    try:
        return parse_time(value)
    except ValueError as exc:
        raise InvalidReplayRequest(f"{field}: {exc}") from None


def _rule_name_of(value: Any, bus: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidReplayRequest(f"A rule must be a rule name or ARN, not {value!r}.")
    if value.startswith("arn:"):
        if ":rule/" not in value:
            raise InvalidReplayRequest(f"{value!r} is not a rule ARN (…:rule/<bus>/<rule>).")
        path = value.rpartition(":rule/")[2]
        rule_bus, _, name = path.rpartition("/")
        if rule_bus and rule_bus != bus:
            raise InvalidReplayRequest(
                f"Rule {value!r} is on bus {rule_bus!r}; a replay of this archive goes to bus "
                f"{bus!r} only."
            )
        return name
    return value


def _replay_name_of(value: str) -> str:
    if value.startswith("arn:") and ":replay/" in value:
        return value.rpartition(":replay/")[2]
    return value
