"""API Gateway stages → ``stages``: ``POST /{stage}/event`` puts events on a bus.

The blueprint's REST API passes two stage variables to its PutEvents mapping template:
``Bus`` (the event bus) and ``Environment`` (the detail-type). A stage of an
``AWS::ApiGateway::Deployment`` (``StageName``, ``StageDescription.Variables``), an
``AWS::ApiGateway::Stage`` (``StageName``, ``Variables``) or an ``AWS::ApiGatewayV2::Stage``
(``StageVariables``) becomes a clientevents stage with that bus and environment. Method
throttling (``ThrottlingRateLimit`` / ``ThrottlingBurstLimit``) becomes the stage's rate limit,
which clientevents applies per clientId. The API's own routes, authorizers and models are not
needed: the gateway serves the blueprint's route and checks the user pool's tokens itself.
"""

from __future__ import annotations

import re
from typing import Any

from clientevents.cfn.context import ImportContext
from clientevents.cfn.template import Resource

__all__ = ["map_deployment", "map_rest_api", "map_stage", "map_stage_v2"]

_STAGE_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
_BUS_KEYS = ("Bus", "bus", "EventBus", "EventBusName", "event_bus")
_ENV_KEYS = ("Environment", "environment", "Env", "env")


def _variable(variables: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in variables:
            return variables[key]
    return None


def _add_stage(ctx: ImportContext, resource: Resource, name: Any, variables: dict[str, Any],
               settings: dict[str, Any]) -> None:
    if not isinstance(name, str) or not _STAGE_NAME.match(name):
        ctx.note(resource, "skipped", f"stage name {name!r} is not a URL path segment "
                 "(letters, digits, '-' and '_').")
        return
    if ctx.has_named("stages", name):
        ctx.note(resource, "skipped", f"stage {name} is already defined by another resource.")
        return
    bus_value = _variable(variables, _BUS_KEYS)
    bus = ctx.bus_name(bus_value)
    buses = [b["name"] for b in ctx.config.get("buses", [])]
    if bus is None:
        if len(buses) != 1:
            ctx.note(resource, "skipped", f"stage {name} has no Bus stage variable naming an "
                     "event bus, and the template does not have exactly one bus to send to.")
            return
        bus = buses[0]
        ctx.note(resource, "partly", f"stage {name} has no Bus stage variable; it sends to "
                 f"the template's only bus, {bus}.")
    ctx.ensure_bus(bus, f"stage {name} sends to it")
    stage: dict[str, Any] = {"name": name, "bus": bus}
    environment = _variable(variables, _ENV_KEYS)
    stage["environment"] = str(environment) if environment else name
    limit = _throttling(settings)
    if limit is not None:
        stage["rate_limit"] = limit
        ctx.note(resource, "partly", f"stage {name}'s throttling ({limit['requests_per_sec']}"
                 f"/s, burst {limit['burst']}) applies per clientId in clientevents, not to "
                 "the whole stage.")
    if settings.get("AccessLogSetting"):
        ctx.config.setdefault("server", {})["access_log"] = True
    ctx.items("stages").append(stage)
    ctx.note(resource, "mapped", f"stage {name}: POST /{name}/event puts events on bus {bus} "
             f"(detail-type {stage['environment']}).")


def _throttling(settings: dict[str, Any]) -> dict[str, Any] | None:
    for method in settings.get("MethodSettings") or []:
        if not isinstance(method, dict):
            continue
        rate, burst = method.get("ThrottlingRateLimit"), method.get("ThrottlingBurstLimit")
        if rate is not None and float(rate) > 0:
            return {"requests_per_sec": float(rate),
                    "burst": max(1, int(burst)) if burst is not None else 200}
    return None


def map_deployment(ctx: ImportContext, resource: Resource) -> None:
    props = ctx.props(resource)
    name = props.get("StageName")
    if name is None:
        ctx.note(resource, "not applicable", "a deployment without a stage (its stages are "
                 "AWS::ApiGateway::Stage resources).")
        return
    description = props.get("StageDescription") or {}
    _add_stage(ctx, resource, name, description.get("Variables") or {}, description)


def map_stage(ctx: ImportContext, resource: Resource) -> None:
    props = ctx.props(resource)
    _add_stage(ctx, resource, props.get("StageName"), props.get("Variables") or {}, props)


def map_stage_v2(ctx: ImportContext, resource: Resource) -> None:
    props = ctx.props(resource)
    settings = dict(props.get("DefaultRouteSettings") or {})
    if settings:
        settings = {"MethodSettings": [settings]}
    _add_stage(ctx, resource, props.get("StageName"), props.get("StageVariables") or {},
               settings)


def map_rest_api(ctx: ImportContext, resource: Resource) -> None:
    ctx.note(resource, "mapped", "the API itself: the gateway serves POST /{stage}/event and "
             "checks the user pool's tokens (Authorization with or without Bearer), so its "
             "routes, mapping template and authorizer are built in.")
