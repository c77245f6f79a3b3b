"""``AWS::Kinesis::Stream`` → ``streams`` (a named stream that consumer groups read)."""

from __future__ import annotations

from clientevents.cfn.context import ImportContext
from clientevents.cfn.template import Resource

__all__ = ["map_kinesis_stream"]


def map_kinesis_stream(ctx: ImportContext, resource: Resource) -> None:
    props = ctx.props(resource)
    name = ctx.resolver.resource_name(resource)
    if not ctx.named(resource, name, "stream"):
        return
    stream: dict[str, object] = {"name": name}
    hours = props.get("RetentionPeriodHours")
    if hours is not None:
        stream["retention_hours"] = max(1, min(8760, int(hours)))
    if not ctx.has_named("streams", name):
        ctx.items("streams").append(stream)
    ctx.note(resource, "mapped", f"stream {name} (read over HTTP by consumer groups; "
             "give it api_keys to read it from outside).")
    ctx.leftover(resource, props, {"Name", "RetentionPeriodHours", "Tags"},
                 "shards, encryption and capacity modes have no equivalent")
