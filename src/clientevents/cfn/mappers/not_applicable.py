"""Resources with no counterpart in clientevents, and why (by type, or by service)."""

from __future__ import annotations

from clientevents.cfn.context import ImportContext
from clientevents.cfn.template import Resource

__all__ = ["map_not_applicable", "why_not"]

_FUNCTIONS = ("functions are not run; the blueprint's authorizer and post-confirmation work is "
              "built into the gateway and the user pool, and a Firehose transformation runs as "
              "a Python function (--function)")

_BY_TYPE: dict[str, str] = {
    "AWS::Serverless::Function": _FUNCTIONS,
    "AWS::Lambda::Function": _FUNCTIONS,
    "AWS::Lambda::Permission": "there are no functions to permit",
    "AWS::ApiGateway::Authorizer": "the gateway verifies the user pool's (and configured "
    "issuers') tokens itself",
    "AWS::ApiGateway::Method": "the gateway's routes are built in",
    "AWS::ApiGateway::Resource": "the gateway's routes are built in",
    "AWS::ApiGateway::Model": "request bodies are checked by the gateway (and by schemas:)",
    "AWS::ApiGateway::RequestValidator": "request bodies are checked by the gateway",
    "AWS::ApiGateway::Account": "there are no per-account API settings",
    "AWS::SQS::Queue": "dead letters stay in clientevents' own dead-letter queue",
    "AWS::SecretsManager::Secret": "secrets live in clientevents' encrypted secret store, under "
    "the same names: store the value with `clientevents secrets set NAME`",
}

_BY_SERVICE: dict[str, str] = {
    "IAM": "access is the admin key and the users' tokens; there are no roles or policies",
    "Logs": "logs go to standard output and error",
    "S3": "a delivery stream's bucket becomes its destination (a folder under the data dir, or "
    "the bucket with --buckets s3); bucket settings have no equivalent",
    "KMS": "there is no key management service",
    "CloudWatch": "metrics are served at /metrics (Prometheus)",
    "Lambda": "functions are not run",
    "ApiGateway": "the gateway's API is built in",
    "SNS": "there are no notification topics",
}


def why_not(resource_type: str) -> str:
    """Why a resource type is not carried over."""
    if resource_type in _BY_TYPE:
        return _BY_TYPE[resource_type]
    parts = resource_type.split("::")
    service = parts[1] if len(parts) > 2 else resource_type
    return _BY_SERVICE.get(service, "clientevents has no equivalent")


def map_not_applicable(ctx: ImportContext, resource: Resource) -> None:
    ctx.note(resource, "not applicable", f"{why_not(resource.type)}.")
