"""The pipeline as the admin API shows it: buses, rules with their match rates, and the sandbox.

Everything here reads the configuration and the database; nothing changes state. Functions are
blocking (call them from a thread in asyncio code).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from clientevents.admin.errors import BadRequest, NotFoundError
from clientevents.config.model import RuleConfig, Settings, TargetBase
from clientevents.log.eventlog import EventLog
from clientevents.log.port import EventLogPort
from clientevents.patterns import EventPattern, InvalidEventPattern
from clientevents.routing.counters import matches_per_minute
from clientevents.routing.rules import routes_of, rule_arn
from clientevents.store.port import SqlConnection, StateStore
from clientevents.transform import TransformError

__all__ = ["RATE_MINUTES", "bus_list", "describe_target", "rule_list", "sandbox"]

RATE_MINUTES = 60
"""Minutes of matched-event counts a rule listing carries."""

_SECRET_WORDS = ("secret", "password", "token", "key", "credential", "authorization")


def _redacted(value: Any, name: str = "") -> Any:
    """``value`` with every field whose name suggests a secret replaced by ``"***"``."""
    if any(word in name.lower() for word in _SECRET_WORDS) and value not in (None, "", [], {}):
        return "***"
    if isinstance(value, dict):
        return {k: _redacted(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, name) for v in value]
    return value


def describe_target(rule: RuleConfig, target: TargetBase) -> dict[str, Any]:
    """A target's settings as JSON-ready data (secrets masked), with its queue key."""
    data = _redacted(target.model_dump(mode="json", exclude_none=True))
    shaping = "whole event"
    if target.input is not None:
        shaping = "constant input"
    elif target.input_path is not None:
        shaping = "input path"
    elif target.input_transformer is not None:
        shaping = "input transformer"
    return {
        "key": f"{rule.bus}/{rule.name}/{target.id}",
        "id": target.id,
        "type": str(getattr(target, "type", "")),
        "shaping": shaping,
        "config": data,
    }


def bus_list(
    settings: Settings, db: StateStore, log: EventLogPort | None = None
) -> list[dict[str, Any]]:
    """Every bus: its stages, rules, archives and newest log position."""
    if log is None:
        log = EventLog(db)
    answer = []
    for name in settings.bus_names():
        answer.append({
            "name": name,
            "stages": [s.name for s in settings.stages if s.bus == name],
            "rules": [r.name for r in settings.rules_for_bus(name)],
            "archives": [a.name for a in settings.archives if a.bus == name],
            "newest_position": log.head(name),
        })
    return answer


def rule_list(
    settings: Settings, db: StateStore, *, bus: str | None = None, now: float | None = None
) -> list[dict[str, Any]]:
    """Every rule (of ``bus``) with pattern, targets and matched events per minute.

    ``matched_per_minute`` holds :data:`RATE_MINUTES` counts, oldest first, the last one being
    the current (incomplete) minute; ``matched_last_minute`` estimates the trailing 60 seconds
    (this minute so far plus the previous minute's share of them).
    """
    if bus is not None and bus not in settings.bus_names():
        raise NotFoundError(f"There is no bus named {bus!r}.")
    at = time.time() if now is None else now
    current = int(at // 60)
    # The trailing minute: this minute so far plus the part of the previous one still in it.
    previous_share = 1.0 - (at % 60) / 60
    first = current - RATE_MINUTES + 1
    counts: dict[str, dict[str, dict[int, int]]] = {}
    buses = sorted({r.bus for r in settings.rules if bus is None or r.bus == bus})

    def read(conn: SqlConnection) -> None:
        for name in buses:
            counts[name] = matches_per_minute(conn, name, since_minute=first)

    db.read(read)
    answer = []
    for rule in settings.rules:
        if bus is not None and rule.bus != bus:
            continue
        per_minute = counts.get(rule.bus, {}).get(rule.name, {})
        series = [per_minute.get(m, 0) for m in range(first, current + 1)]
        answer.append({
            "name": rule.name,
            "bus": rule.bus,
            "arn": rule_arn(settings.region, settings.account, rule.bus, rule.name),
            "description": rule.description,
            "state": rule.state,
            "event_pattern": rule.event_pattern,
            "targets": [describe_target(rule, t) for t in rule.targets],
            "matched_per_minute": series,
            "matched_last_minute": round(series[-1] + series[-2] * previous_share),
            "matched_last_hour": sum(series),
        })
    return answer


def _rule(settings: Settings, name: str) -> RuleConfig:
    for rule in settings.rules:
        if rule.name == name:
            return rule
    known = ", ".join(r.name for r in settings.rules) or "none"
    raise NotFoundError(f"There is no rule named {name!r} (rules: {known}).")


def sandbox(
    settings: Settings,
    event: Any,
    pattern: Any = None,
    rule: str | None = None,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """Test ``event`` against ``pattern`` (or ``rule``'s pattern) and shape it for the rule's
    targets.

    Args:
        event: the event envelope (a JSON object, or JSON text of one).
        pattern: an event pattern (object or JSON text); ``None`` takes ``rule``'s.
        rule: a rule whose targets show what they would receive.

    Returns:
        ``{"matches", "explanation", "pattern", "targets"}``: ``explanation`` is
        :meth:`EventPattern.explain`'s list (empty on a match); ``targets`` has, per target of
        ``rule``, the ``payload`` it would receive or the ``error`` shaping raised.

    Raises:
        BadRequest: the event or the pattern is not valid.
        NotFoundError: no rule of that name.
    """
    if isinstance(event, str):
        try:
            event = orjson.loads(event)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"The sandbox event is not valid JSON: {exc}.") from None
    if not isinstance(event, dict):
        raise BadRequest(
            f"The sandbox event must be a JSON object (an event envelope), not "
            f"{type(event).__name__}."
        )
    chosen = _rule(settings, rule) if rule else None
    if pattern is None or pattern == "":
        if chosen is None:
            raise BadRequest("Give the sandbox a pattern, a rule, or both.")
        pattern = chosen.event_pattern
    try:
        compiled = EventPattern(pattern)
    except InvalidEventPattern as exc:
        raise BadRequest(f"The event pattern is not valid: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"The event pattern is not valid: {exc}") from None
    explanation = compiled.explain(event)
    targets: list[dict[str, Any]] = []
    if chosen is not None:
        body = orjson.dumps(event).decode()
        ingested = time.time() if now is None else now
        configs = {t.id: t for t in chosen.targets}
        for route in routes_of(chosen, settings.region, settings.account):
            shown = {"id": route.target_id, "key": route.key,
                     "type": str(getattr(configs[route.target_id], "type", ""))}
            try:
                shown["payload"] = route.shape(event, body, ingested)
            except TransformError as exc:
                shown["error"] = str(exc)
            targets.append(shown)
    return {
        "matches": not explanation,
        "explanation": explanation,
        "pattern": compiled.source,
        "rule": chosen.name if chosen else None,
        "targets": targets,
    }
