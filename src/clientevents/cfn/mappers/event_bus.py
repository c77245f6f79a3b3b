"""``AWS::Events::EventBus`` → ``buses``."""

from __future__ import annotations

from clientevents.cfn.context import ImportContext
from clientevents.cfn.template import Resource

__all__ = ["map_event_bus"]


def map_event_bus(ctx: ImportContext, resource: Resource) -> None:
    props = ctx.props(resource)
    name = ctx.resolver.resource_name(resource)
    if not ctx.named(resource, name, "bus"):
        return
    if props.get("EventSourceName"):
        ctx.note(resource, "partly", "a partner event source bus becomes an ordinary bus "
                 "(clientevents has no partner event sources).")
    if not ctx.has_named("buses", name):
        ctx.items("buses").append({"name": name})
    ctx.note(resource, "mapped", f"bus {name}.")
    ctx.leftover(resource, props, {"Name", "EventSourceName", "Tags", "Description"},
                 "clientevents buses have a name only")
