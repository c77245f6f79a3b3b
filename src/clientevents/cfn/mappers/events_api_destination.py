"""``AWS::Events::ApiDestination`` → ``api_destinations``: the endpoint, method, rate limit and
connection.

An endpoint on this machine (a loopback URL, or a path on the gateway such as the built-in
ticket inbox's ``/inbox/api/v2/tickets.json``) gets ``allow_private_networks`` for loopback
addresses, which API destinations refuse otherwise.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from clientevents.cfn.context import ImportContext, arn_parts
from clientevents.cfn.intrinsics import ResourceValue, Unresolved
from clientevents.cfn.template import Resource

__all__ = ["LOOPBACK", "map_api_destination"]

_HANDLED = {"Name", "Description", "ConnectionArn", "HttpMethod", "InvocationEndpoint",
            "InvocationRateLimitPerSecond"}

LOOPBACK = ["127.0.0.0/8", "::1/128"]
"""The address ranges a destination on this machine needs."""


def _connection_name(ctx: ImportContext, value: Any) -> str | None:
    if value is None or isinstance(value, Unresolved):
        return None
    if isinstance(value, ResourceValue):
        resource = ctx.template.resources.get(value.logical_id)
        if resource is not None and resource.type == "AWS::Events::Connection":
            return ctx.resolver.resource_name(resource)
    parts = arn_parts(str(value))
    if parts is not None and parts[0] == "events" and parts[1].startswith("connection/"):
        return parts[1].split("/")[1]
    return None


def _on_this_machine(endpoint: str) -> bool:
    if endpoint.startswith("/"):
        return True
    host = urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def map_api_destination(ctx: ImportContext, resource: Resource) -> None:
    props = ctx.props(resource)
    name = ctx.resolver.resource_name(resource)
    if not ctx.named(resource, name, "API destination"):
        return
    connection = _connection_name(ctx, props.get("ConnectionArn"))
    if connection is None or not ctx.has_named("connections", connection):
        ctx.note(resource, "skipped", f"API destination {name}: its ConnectionArn "
                 f"{props.get('ConnectionArn')!r} is not a connection of this template that "
                 "was carried over.")
        return
    endpoint = props.get("InvocationEndpoint")
    if not isinstance(endpoint, str) or not endpoint or isinstance(endpoint, Unresolved):
        ctx.note(resource, "skipped", f"API destination {name}: its InvocationEndpoint "
                 f"{endpoint!r} cannot be resolved here.")
        return
    destination: dict[str, Any] = {"name": name}
    if props.get("Description"):
        destination["description"] = str(props["Description"])[:512]
    destination["connection"] = connection
    destination["invocation_endpoint"] = endpoint
    destination["http_method"] = str(props.get("HttpMethod", "POST")).upper()
    limit = props.get("InvocationRateLimitPerSecond")
    if limit is not None:
        destination["invocation_rate_limit_per_sec"] = int(limit)
    if _on_this_machine(endpoint):
        destination["allow_private_networks"] = list(LOOPBACK)
        ctx.note(resource, "partly", f"API destination {name}: its endpoint {endpoint} is on "
                 "this machine, so it may reach loopback addresses (allow_private_networks).")
    elif endpoint.startswith("${env:"):
        ctx.note(resource, "partly", f"API destination {name}: its endpoint is read from the "
                 f"environment ({endpoint}); an endpoint on this machine or a private network "
                 "also needs allow_private_networks.")
    ctx.items("api_destinations").append(destination)
    ctx.note(resource, "mapped", f"API destination {name}: {destination['http_method']} "
             f"{endpoint} through connection {connection}"
             + (f", at most {limit} calls a second." if limit is not None else "."))
    ctx.leftover(resource, props, _HANDLED, "no equivalent")
