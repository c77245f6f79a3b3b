"""Deliveries, dead letters, archives and replays as the admin API shows and changes them.

A thin layer over the components' own APIs (:class:`DeadLetterQueue`, :class:`Archives`,
:class:`Replays`, :func:`delivery_state`) that turns their errors into admin errors and their
objects into JSON-ready data. Blocking: call from a thread in asyncio code.
"""

from __future__ import annotations

from typing import Any

from clientevents.admin.errors import BadRequest, ConflictError, NotFoundError
from clientevents.admin.pipeline import describe_target
from clientevents.archive import (
    IllegalStatus,
    InvalidReplayRequest,
    Replay,
    ReplayLimitExceeded,
    ResourceAlreadyExists,
    ResourceNotFound,
)
from clientevents.archive.archive import ArchiveInfo, Archives
from clientevents.archive.replay import Replays
from clientevents.archive.schema import format_timestamp
from clientevents.config.model import Settings
from clientevents.log.port import EventLogPort
from clientevents.store.port import StateStore
from clientevents.targets.counters import DeliveryState, delivery_state
from clientevents.targets.dlq import DeadLetterEntry, DeadLetterQueue

__all__ = ["Recovery", "replay_view"]

MAX_PAGE = 500


def _entry(entry: DeadLetterEntry) -> dict[str, Any]:
    return entry.to_dict()


def replay_view(replay: Replay) -> dict[str, Any]:
    """A replay with its progress: ``progress`` is the share of the window replayed (0..1);
    ``aws`` is the same replay in EventBridge's ``DescribeReplay`` fields."""
    span = replay.event_end_time - replay.event_start_time
    progress = 0.0
    if replay.state == "COMPLETED":
        progress = 1.0
    elif span > 0:
        progress = max(0.0, min(1.0, (replay.cursor_time - replay.event_start_time) / span))
    return {
        "name": replay.name,
        "archive": replay.archive,
        "bus": replay.bus,
        "description": replay.description,
        "state": replay.state,
        "state_reason": replay.state_reason,
        "rules": list(replay.rules) if replay.rules is not None else None,
        "event_start_time": format_timestamp(replay.event_start_time),
        "event_end_time": format_timestamp(replay.event_end_time),
        "replay_start_time": format_timestamp(replay.replay_start_time),
        "replay_end_time": format_timestamp(replay.replay_end_time),
        "event_last_replayed_time": format_timestamp(replay.event_last_replayed_time),
        "events_replayed": replay.events_replayed,
        "progress": round(progress, 4),
        "active": replay.active,
        "aws": replay.to_dict(),
    }


def _archive_view(a: ArchiveInfo) -> dict[str, Any]:
    """An archive with its counts; ``aws`` is the same in ``DescribeArchive``'s fields."""
    return {"name": a.name, "bus": a.bus, "description": a.description,
            "event_pattern": a.event_pattern, "retention_days": a.retention_days,
            "state": a.state, "creation_time": format_timestamp(a.creation_time),
            "event_count": a.event_count, "size_bytes": a.size_bytes, "aws": a.to_dict()}


class Recovery:
    """Deliveries, the dead-letter queue, archives and replays of one deployment."""

    def __init__(
        self, db: StateStore, settings: Settings, *, log: EventLogPort | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.dlq = DeadLetterQueue(db, settings)
        self.archives = Archives(db, settings, log=log)
        self.replays = Replays(db, settings)

    # -- deliveries ------------------------------------------------------------------------

    def deliveries(self) -> list[dict[str, Any]]:
        """Per configured target (and per unconfigured key that still holds work): delivered,
        retrying, dead-lettered, pending, and the last errors."""
        states = self.db.read(delivery_state)
        answer: list[dict[str, Any]] = []
        seen: set[str] = set()
        for rule in self.settings.rules:
            for target in rule.targets:
                info = describe_target(rule, target)
                key = info["key"]
                seen.add(key)
                state = states.get(key, DeliveryState(key))
                answer.append({**info, "bus": rule.bus, "rule": rule.name, "configured": True,
                               **self._state(state)})
        for key, state in states.items():
            if key not in seen:
                bus, _, rest = key.partition("/")
                rule_name, _, target_id = rest.partition("/")
                answer.append({"key": key, "id": target_id, "bus": bus, "rule": rule_name,
                               "type": "", "configured": False, **self._state(state)})
        return answer

    def _state(self, state: DeliveryState) -> dict[str, Any]:
        data = state.to_dict()
        data.pop("target_key")
        recent = self.db.read(lambda conn: conn.execute(
            "SELECT error_code, error_message, failed_at, exhausted FROM dead_letters "
            "WHERE target_key = ? ORDER BY id DESC LIMIT 5",
            (state.target_key,),
        ).fetchall())
        data["recent_errors"] = [
            {"code": code, "message": message, "at": at, "exhausted": exhausted}
            for code, message, at, exhausted in recent
        ]
        return data

    # -- dead letters ----------------------------------------------------------------------

    def dead_letters(
        self,
        *,
        bus: str | None = None,
        rule: str | None = None,
        target: str | None = None,
        limit: int = 100,
        after_id: int = 0,
    ) -> dict[str, Any]:
        """A page of dead letters, oldest first, with the total matching the filters."""
        if not 1 <= limit <= MAX_PAGE:
            raise BadRequest(f"limit must be from 1 to {MAX_PAGE}, not {limit}.")
        entries = self.dlq.list(bus=bus, rule=rule, target=target, limit=limit, after_id=after_id)
        total = self.dlq.count(bus=bus, rule=rule, target=target)
        answer: dict[str, Any] = {"entries": [_entry(e) for e in entries], "total": total}
        if len(entries) == limit:
            answer["next_after_id"] = entries[-1].id
        return answer

    def dead_letter(self, entry_id: int) -> dict[str, Any]:
        entry = self.dlq.get(entry_id)
        if entry is None:
            raise NotFoundError(f"There is no dead letter with id {entry_id}.")
        return _entry(entry)

    def redrive(
        self,
        ids: list[int] | None,
        *,
        bus: str | None = None,
        rule: str | None = None,
        target: str | None = None,
        include_transform_errors: bool = False,
    ) -> dict[str, Any]:
        """Redrive ``ids`` (or, with ``None``, every entry matching the filters)."""
        result = self.dlq.redrive(ids, bus=bus, rule=rule, target=target,
                                  include_transform_errors=include_transform_errors)
        return {"redriven": result.redriven,
                "skipped": {str(k): v for k, v in result.skipped.items()}}

    def purge(
        self,
        ids: list[int] | None,
        *,
        bus: str | None = None,
        rule: str | None = None,
        target: str | None = None,
    ) -> dict[str, Any]:
        """Delete ``ids`` (or, with ``None``, every entry matching the filters) for good."""
        return {"purged": self.dlq.purge(ids, bus=bus, rule=rule, target=target)}

    # -- archives and replays --------------------------------------------------------------

    def archive_list(self, *, bus: str | None = None,
                     name_prefix: str | None = None) -> list[dict[str, Any]]:
        """The configured archives (of ``bus``; whose name starts with ``name_prefix``)."""
        return [_archive_view(a) for a in self.archives.list(bus=bus, name_prefix=name_prefix)]

    def archive(self, name: str) -> dict[str, Any]:
        try:
            return _archive_view(self.archives.describe(name))
        except ResourceNotFound as exc:
            raise NotFoundError(str(exc)) from None

    def replay_list(self, state: str | None = None, *, archive: str | None = None,
                    name_prefix: str | None = None) -> list[dict[str, Any]]:
        """Replays, newest first (in ``state``; of ``archive``; named ``name_prefix``...)."""
        try:
            return [replay_view(r) for r in
                    self.replays.list(state, archive=archive, name_prefix=name_prefix)]
        except InvalidReplayRequest as exc:
            raise BadRequest(str(exc)) from None
        except ResourceNotFound as exc:
            raise NotFoundError(str(exc)) from None

    def replay(self, name: str) -> dict[str, Any]:
        try:
            return replay_view(self.replays.describe(name))
        except ResourceNotFound as exc:
            raise NotFoundError(str(exc)) from None

    def start_replay(
        self,
        name: Any,
        archive: Any,
        start: Any,
        end: Any,
        rules: Any = None,
        description: Any = "",
    ) -> dict[str, Any]:
        """Record a replay of ``archive``'s events in ``[start, end)``; the workers run it."""
        if not isinstance(archive, str) or not archive:
            raise BadRequest('"archive" must be the name of a configured archive.')
        if rules is not None and (
            not isinstance(rules, list) or not all(isinstance(r, str) for r in rules)
        ):
            raise BadRequest('"rules" must be a list of rule names (or null for every rule).')
        try:
            replay = self.replays.start_replay(
                name, archive, start, end, rules=rules, description=description or ""
            )
        except InvalidReplayRequest as exc:
            raise BadRequest(str(exc)) from None
        except ResourceNotFound as exc:
            raise NotFoundError(str(exc)) from None
        except (ResourceAlreadyExists, ReplayLimitExceeded) as exc:
            raise ConflictError(str(exc)) from None
        return replay_view(replay)

    def cancel_replay(self, name: str) -> dict[str, Any]:
        try:
            return replay_view(self.replays.cancel(name))
        except ResourceNotFound as exc:
            raise NotFoundError(str(exc)) from None
        except IllegalStatus as exc:
            raise ConflictError(str(exc)) from None
