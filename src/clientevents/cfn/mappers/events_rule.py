"""``AWS::Events::Rule`` → ``rules``: pattern, state, targets with their input shaping, retry
policy and dead-letter setting."""

from __future__ import annotations

from typing import Any

from clientevents.cfn.context import NAME_RE, ImportContext
from clientevents.cfn.mappers.events_archive import pattern_of
from clientevents.cfn.mappers.targets import target_kind
from clientevents.cfn.template import Resource

__all__ = ["map_rule"]

_HANDLED = {"Name", "EventBusName", "EventPattern", "State", "Description", "Targets",
            "RoleArn"}
_TARGET_HANDLED = {"Id", "Arn", "Input", "InputPath", "InputTransformer", "RetryPolicy",
                   "DeadLetterConfig", "RoleArn", "HttpParameters"}


def _http_parameters(spec: Any) -> dict[str, Any]:
    """A rule target's ``HttpParameters`` → ``http_parameters``."""
    if not isinstance(spec, dict):
        return {}
    out: dict[str, Any] = {}
    if spec.get("PathParameterValues"):
        out["path_parameter_values"] = [str(v) for v in spec["PathParameterValues"]]
    for theirs, ours in (("HeaderParameters", "header_parameters"),
                         ("QueryStringParameters", "query_string_parameters")):
        if isinstance(spec.get(theirs), dict) and spec[theirs]:
            out[ours] = {str(k): str(v) for k, v in spec[theirs].items()}
    return out


def _target(ctx: ImportContext, resource: Resource, rule: str, spec: dict[str, Any]
            ) -> dict[str, Any] | None:
    target_id = str(spec.get("Id") or "")
    label = f"rule {rule}, target {target_id or '?'}"
    if not NAME_RE.match(target_id):
        ctx.note(resource, "skipped", f"{label}: its Id is not 1-64 of A-Z a-z 0-9 . - _.")
        return None
    kind, why = target_kind(ctx, spec.get("Arn"))
    if kind is None:
        ctx.note(resource, "skipped", f"{label}: {why}.")
        return None
    if why:
        ctx.note(resource, "partly", f"{label}: {why}.")
    target: dict[str, Any] = {"id": target_id, **kind}
    http = _http_parameters(spec.get("HttpParameters"))
    if http and kind.get("type") == "api_destination":
        target["http_parameters"] = http
    elif http:
        ctx.note(resource, "partly", f"{label}: HttpParameters apply to API destinations "
                 "only and were left out.")
    if spec.get("Input") is not None:
        target["input"] = str(spec["Input"])
    if spec.get("InputPath") is not None:
        target["input_path"] = str(spec["InputPath"])
    transformer = spec.get("InputTransformer")
    if isinstance(transformer, dict):
        template = str(transformer.get("InputTemplate", ""))
        if "<aws.events.event>" in template and ctx.full_event:
            template = template.replace("<aws.events.event>", "<aws.events.event.json>")
            ctx.note(resource, "partly", f"{label}: its template's <aws.events.event> is "
                     "written <aws.events.event.json>, the whole event (--full-event).")
        elif "<aws.events.event>" in template:
            ctx.note(resource, "partly", f"{label}: its template uses <aws.events.event>, "
                     "which renders the event without detail, as EventBridge does; use "
                     "<aws.events.event.json> for the whole event (--full-event).")
        target["input_transformer"] = {
            "input_paths_map": dict(transformer.get("InputPathsMap") or {}),
            "input_template": template,
        }
    policy = spec.get("RetryPolicy")
    if isinstance(policy, dict):
        retry: dict[str, int] = {}
        if policy.get("MaximumEventAgeInSeconds") is not None:
            retry["maximum_event_age_secs"] = int(policy["MaximumEventAgeInSeconds"])
        if policy.get("MaximumRetryAttempts") is not None:
            retry["maximum_retry_attempts"] = int(policy["MaximumRetryAttempts"])
        if retry:
            target["retry_policy"] = retry
    dead = spec.get("DeadLetterConfig")
    if isinstance(dead, dict) and dead.get("Arn"):
        target["dead_letter"] = True
        ctx.note(resource, "partly", f"{label}: failed deliveries go to clientevents' own "
                 "dead-letter queue (`clientevents dlq`), not to the queue "
                 f"{dead['Arn']}.")
    rest = sorted(k for k in spec if k not in _TARGET_HANDLED)
    if rest:
        ctx.note(resource, "partly", f"{label}: not carried over: {', '.join(rest)}.")
    return target


def map_rule(ctx: ImportContext, resource: Resource) -> None:
    props = ctx.props(resource)
    name = str(props.get("Name") or resource.logical_id)
    if not ctx.named(resource, name, "rule"):
        return
    if props.get("ScheduleExpression"):
        ctx.note(resource, "skipped", f"rule {name} runs on a schedule "
                 f"({props['ScheduleExpression']}); clientevents rules match events only.")
        return
    bus = ctx.bus_name(props.get("EventBusName", "default"))
    if bus is None:
        ctx.note(resource, "skipped", f"rule {name}: its EventBusName "
                 f"{props.get('EventBusName')!r} is not a bus.")
        return
    try:
        pattern = pattern_of(props.get("EventPattern"))
    except ValueError as exc:
        ctx.note(resource, "skipped", f"rule {name}: its EventPattern does not parse: {exc}.")
        return
    if pattern is None:
        ctx.note(resource, "skipped", f"rule {name} has no EventPattern.")
        return
    targets = [t for t in (_target(ctx, resource, name, spec)
                           for spec in props.get("Targets") or [] if isinstance(spec, dict))
               if t is not None]
    if not targets:
        ctx.note(resource, "skipped", f"rule {name} has no target clientevents can deliver "
                 "to (see above).")
        return
    for target in targets:
        if target.get("type") == "bus" and target.get("bus") == bus:
            ctx.note(resource, "skipped", f"rule {name} sends to its own bus {bus}, which "
                     "would loop.")
            return
        if target.get("type") == "bus":
            ctx.ensure_bus(str(target["bus"]), f"rule {name} sends to it")
    ctx.ensure_bus(bus, f"rule {name} reads it")
    rule: dict[str, Any] = {"name": name, "bus": bus}
    if props.get("Description"):
        rule["description"] = str(props["Description"])[:512]
    state = str(props.get("State", "ENABLED")).upper()
    if state == "DISABLED":
        rule["state"] = "disabled"
    rule["event_pattern"] = pattern
    rule["targets"] = targets
    ctx.items("rules").append(rule)
    ctx.note(resource, "mapped", f"rule {name} on bus {bus} with "
             f"{len(targets)} target{'s' if len(targets) != 1 else ''}.")
    ctx.leftover(resource, props, _HANDLED, "no equivalent")
