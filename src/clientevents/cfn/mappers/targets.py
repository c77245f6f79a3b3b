"""A rule target's ``Arn`` → a clientevents target kind.

- an event bus (``!GetAtt Bus.Arn`` or an ``event-bus/`` ARN): a ``bus`` target;
- a Kinesis stream: a ``stream`` target;
- a Firehose delivery stream or an API destination: a ``delivery_stream`` or
  ``api_destination`` target (the rule target's ``HttpParameters`` with it); when the stream or
  destination could not be carried over, a ``log`` target writing to ``<name>/events.jsonl`` or
  ``<name>/requests.jsonl`` under the data folder keeps what it would have received;
- anything else (Lambda, SQS, SNS, Step Functions...): no target, and the reason.
"""

from __future__ import annotations

from typing import Any

from clientevents.cfn.context import NAME_RE, ImportContext, arn_parts
from clientevents.cfn.intrinsics import Unresolved

__all__ = ["target_kind"]

_SERVICES = {
    "lambda": "a Lambda function",
    "sqs": "an SQS queue",
    "sns": "an SNS topic",
    "states": "a Step Functions state machine",
    "logs": "a CloudWatch Logs group",
    "ecs": "an ECS task",
    "batch": "a Batch job queue",
    "ssm": "a Systems Manager action",
    "codebuild": "a CodeBuild project",
    "codepipeline": "a CodePipeline pipeline",
    "redshift": "a Redshift cluster",
    "sagemaker": "a SageMaker pipeline",
}


def _placeholder(name: str, file: str) -> dict[str, Any]:
    return {"type": "log", "path": f"{name}/{file}"}


def target_kind(ctx: ImportContext, arn: Any) -> tuple[dict[str, Any] | None, str]:
    """The target settings (without id and input shaping) for ``arn``, and a note: why there
    is none, or what stands in for the real target."""
    if arn is None or isinstance(arn, Unresolved):
        return None, f"its Arn {arn!r} cannot be resolved outside AWS"
    resource = ctx.resource_of(arn)
    if resource is not None:
        name = ctx.resolver.resource_name(resource)
        kind = resource.type
    else:
        parts = arn_parts(str(arn))
        if parts is None:
            return None, f"its Arn {str(arn)!r} is not an ARN"
        service, rest = parts
        kind = {"events": "events", "firehose": "AWS::KinesisFirehose::DeliveryStream",
                "kinesis": "AWS::Kinesis::Stream"}.get(service, service)
        if service == "events":
            resource_type, _, path = rest.partition("/")
            kind = {"event-bus": "AWS::Events::EventBus",
                    "api-destination": "AWS::Events::ApiDestination"}.get(resource_type, rest)
            name = path.split("/")[0]
        else:
            name = rest.split("/")[-1].split(":")[-1]
    if kind == "AWS::Events::EventBus":
        return {"type": "bus", "bus": name}, ""
    if kind == "AWS::Kinesis::Stream":
        if not ctx.has_named("streams", name) and NAME_RE.match(name):
            ctx.items("streams").append({"name": name})
        return {"type": "stream", "stream": name}, ""
    if kind == "AWS::KinesisFirehose::DeliveryStream":
        if ctx.has_named("delivery_streams", name):
            return {"type": "delivery_stream", "delivery_stream": name}, ""
        target = _placeholder(name, "events.jsonl")
        return target, (f"delivery stream {name} was not carried over (see its findings): "
                        f"its records go to the log file {target['path']} (one a line) instead")
    if kind == "AWS::Events::ApiDestination":
        if ctx.has_named("api_destinations", name):
            return {"type": "api_destination", "api_destination": name}, ""
        target = _placeholder(name, "requests.jsonl")
        return target, (f"API destination {name} was not carried over (see its findings): the "
                        f"request bodies go to the log file {target['path']} (one a line) "
                        "instead")
    service = kind.split("::")[1].lower() if kind.startswith("AWS::") else kind
    what = _SERVICES.get(service, f"{kind}")
    return None, f"it sends to {what}, which clientevents has no target kind for"
