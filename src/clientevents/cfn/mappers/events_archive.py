"""``AWS::Events::Archive`` → ``archives``."""

from __future__ import annotations

import json
from typing import Any

from clientevents.cfn.context import ImportContext
from clientevents.cfn.template import Resource

__all__ = ["map_archive", "pattern_of"]


def pattern_of(value: Any) -> dict[str, Any] | None:
    """An event pattern given as a mapping or as JSON text (None when absent)."""
    if value is None:
        return None
    if isinstance(value, str):
        parsed = json.loads(value)
        if not isinstance(parsed, dict):
            raise ValueError("an event pattern must be a JSON object")
        return parsed
    if isinstance(value, dict):
        return value
    raise ValueError(f"an event pattern must be a mapping, not {type(value).__name__}")


def map_archive(ctx: ImportContext, resource: Resource) -> None:
    props = ctx.props(resource)
    name = str(props.get("ArchiveName") or resource.logical_id)
    bus = ctx.bus_name(props.get("SourceArn"))
    if bus is None:
        ctx.note(resource, "skipped", f"its SourceArn {props.get('SourceArn')!r} is not a bus "
                 "of this template or an event-bus ARN.")
        return
    if not ctx.named(resource, name, "archive"):
        return
    archive: dict[str, Any] = {"name": name, "bus": bus}
    if props.get("Description"):
        archive["description"] = str(props["Description"])
    try:
        pattern = pattern_of(props.get("EventPattern"))
    except ValueError as exc:
        ctx.note(resource, "skipped", f"its EventPattern does not parse: {exc}.")
        return
    if pattern is not None:
        archive["event_pattern"] = pattern
    if props.get("RetentionDays") is not None:
        archive["retention_days"] = int(props["RetentionDays"])
    ctx.ensure_bus(bus, f"archive {name} reads it")
    ctx.items("archives").append(archive)
    ctx.note(resource, "mapped", f"archive {name} of bus {bus}.")
    ctx.leftover(resource, props, {"ArchiveName", "SourceArn", "Description", "EventPattern",
                                   "RetentionDays"}, "no equivalent")
