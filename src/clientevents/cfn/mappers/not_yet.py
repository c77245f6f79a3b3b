"""Resources clientevents will map but does not yet: delivery streams, connections and API
destinations. The resource is listed with why; a rule target pointing at a delivery stream or an
API destination writes to a log file in its place (see ``targets.py``)."""

from __future__ import annotations

from clientevents.cfn.context import ImportContext
from clientevents.cfn.template import Resource

__all__ = ["NOT_YET", "map_not_yet"]

NOT_YET: dict[str, str] = {
    "AWS::KinesisFirehose::DeliveryStream":
        "delivery streams are not in the configuration yet; rule targets that send to it "
        "write their records to a log file instead",
    "AWS::Events::Connection":
        "connections are not in the configuration yet (they come with API destinations); "
        "its credentials are not carried over",
    "AWS::Events::ApiDestination":
        "API destinations are not in the configuration yet; rule targets that call it "
        "write the requests' bodies to a log file instead",
}
"""Why each type is not mapped yet."""


def map_not_yet(ctx: ImportContext, resource: Resource) -> None:
    name = ctx.resolver.resource_name(resource)
    ctx.note(resource, "not yet", f"{name}: {NOT_YET[resource.type]}.")
