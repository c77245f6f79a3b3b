"""CloudFormation's intrinsic functions, evaluated the way a deployment would evaluate them.

``Ref`` to a parameter gives its value (``--parameter`` or the ``Default``; a parameter with
neither becomes ``${env:NAME}``, so the configuration reads it from the environment); to a
pseudo parameter (``AWS::Region``...) the importer's region, account and stack name; to a
resource its name (:func:`resource_name`). ``Fn::GetAtt`` gives ARNs and names built the way AWS
builds them. Values that name a resource are :class:`ResourceValue` strings, which remember the
resource they came from, so a rule target's ``Arn: !GetAtt Firehose.Arn`` still says which
resource it points at after ``Fn::Join`` or ``Fn::Sub``-free use. ``Fn::ImportValue`` and
``Fn::GetAZs`` cannot be known outside AWS: they give :class:`Unresolved` values.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clientevents.cfn.template import Resource, Template

__all__ = ["NO_VALUE", "Resolver", "ResourceValue", "Unresolved"]


class ResourceValue(str):
    """A string that came from ``Ref`` or ``Fn::GetAtt`` of a resource in the template."""

    logical_id: str
    attribute: str

    def __new__(cls, text: str, logical_id: str, attribute: str = "Ref") -> ResourceValue:
        value = super().__new__(cls, text)
        value.logical_id = logical_id
        value.attribute = attribute
        return value


class Unresolved(str):
    """A value only AWS knows (an import from another stack...); the text says what it was."""


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()
"""``Ref: AWS::NoValue``: the property is removed."""

_SUB = re.compile(r"\$\{([^}]*)\}")

# How AWS builds ARNs: service, resource path (with {name}) by resource type.
_ARNS: dict[str, tuple[str, str]] = {
    "AWS::Events::EventBus": ("events", "event-bus/{name}"),
    "AWS::Events::Rule": ("events", "rule/{name}"),
    "AWS::Events::Archive": ("events", "archive/{name}"),
    "AWS::Events::Connection": ("events", "connection/{name}"),
    "AWS::Events::ApiDestination": ("events", "api-destination/{name}"),
    "AWS::KinesisFirehose::DeliveryStream": ("firehose", "deliverystream/{name}"),
    "AWS::Kinesis::Stream": ("kinesis", "stream/{name}"),
    "AWS::Cognito::UserPool": ("cognito-idp", "userpool/{name}"),
    "AWS::Lambda::Function": ("lambda", "function:{name}"),
    "AWS::Serverless::Function": ("lambda", "function:{name}"),
    "AWS::SQS::Queue": ("sqs", "{name}"),
    "AWS::SNS::Topic": ("sns", "{name}"),
    "AWS::Logs::LogGroup": ("logs", "log-group:{name}"),
    "AWS::IAM::Role": ("iam", "role/{name}"),
    "AWS::S3::Bucket": ("s3", "{name}"),
    "AWS::StepFunctions::StateMachine": ("states", "stateMachine:{name}"),
}

# The property that names a resource of a type (Ref returns it, or the logical id).
_NAME_PROPERTIES: dict[str, str] = {
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::Events::Archive": "ArchiveName",
    "AWS::Events::Connection": "Name",
    "AWS::Events::ApiDestination": "Name",
    "AWS::KinesisFirehose::DeliveryStream": "DeliveryStreamName",
    "AWS::Kinesis::Stream": "Name",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::IAM::Role": "RoleName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::ApiGateway::RestApi": "Name",
    "AWS::Cognito::UserPoolClient": "ClientName",
}


@dataclass
class Resolver:
    """Evaluates intrinsic functions for one template.

    Args:
        template: the template.
        parameters: values given on the command line (they win over ``Default``).
        region, account, stack_name: the pseudo parameters' values.
        fixed_names: ``Ref`` values decided by the importer (the user pool's id...), by
            logical id.
        on_problem: called with ``(where, message)`` for what cannot be evaluated.
    """

    template: Template
    parameters: dict[str, str] = field(default_factory=dict)
    region: str = "local"
    account: str = "000000000000"
    stack_name: str = "clientevents"
    fixed_names: dict[str, str] = field(default_factory=dict)
    on_problem: Callable[[str, str], None] = lambda where, message: None
    _names: dict[str, str] = field(default_factory=dict)
    _naming: set[str] = field(default_factory=set)

    # -- names ---------------------------------------------------------------------------------

    def resource_name(self, resource: Resource) -> str:
        """What ``Ref`` of ``resource`` gives: its name property, or its logical id."""
        lid = resource.logical_id
        if lid in self.fixed_names:
            return self.fixed_names[lid]
        if lid in self._names:
            return self._names[lid]
        name = lid
        prop = _NAME_PROPERTIES.get(resource.type)
        if prop and prop in resource.properties and lid not in self._naming:
            self._naming.add(lid)
            try:
                value = self.resolve(resource.properties[prop], f"{lid}.{prop}")
            finally:
                self._naming.discard(lid)
            if isinstance(value, str) and value and not isinstance(value, Unresolved):
                name = str(value)
        self._names[lid] = name
        return name

    def arn(self, resource: Resource) -> str:
        """The ARN AWS would give ``resource``."""
        service, path = _ARNS.get(resource.type, ("", ""))
        name = self.resource_name(resource)
        if not service:
            service = resource.type.split("::")[1].lower() if "::" in resource.type else "aws"
            path = "{name}"
        if service == "s3":
            return f"arn:aws:s3:::{name}"
        if service == "iam":
            return f"arn:aws:iam::{self.account}:{path.format(name=name)}"
        return f"arn:aws:{service}:{self.region}:{self.account}:{path.format(name=name)}"

    # -- evaluation ------------------------------------------------------------------------------

    def resolve(self, value: Any, where: str = "") -> Any:
        """``value`` with every intrinsic function evaluated (``AWS::NoValue`` removed)."""
        if isinstance(value, list):
            items = [self.resolve(v, f"{where}[{i}]") for i, v in enumerate(value)]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self._ref(arg, where)
            if key == "Condition":
                return self.condition(str(arg))
            if isinstance(key, str) and key.startswith("Fn::"):
                return self._function(key[4:], arg, where)
        resolved = {k: self.resolve(v, f"{where}.{k}" if where else str(k))
                    for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def condition(self, name: str) -> bool:
        """The value of a condition of ``Conditions``."""
        if name not in self.template.conditions:
            self.on_problem(f"Conditions.{name}", f"condition {name!r} is not defined")
            return False
        return bool(self.resolve(self.template.conditions[name], f"Conditions.{name}"))

    def _ref(self, name: Any, where: str) -> Any:
        name = str(name)
        pseudo = {
            "AWS::Region": self.region, "AWS::AccountId": self.account,
            "AWS::StackName": self.stack_name, "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/"
                            f"{self.stack_name}/local",
            "AWS::NotificationARNs": [],
        }
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self.template.parameters:
            return self._parameter(name)
        resource = self.template.resources.get(name)
        if resource is not None:
            return ResourceValue(self.resource_name(resource), name)
        self.on_problem(where, f"Ref to {name!r}, which is neither a parameter nor a resource")
        return Unresolved(f"<Ref {name}>")

    def _parameter(self, name: str) -> Any:
        if name in self.parameters:
            value: Any = self.parameters[name]
        else:
            spec = self.template.parameters[name]
            if not isinstance(spec, dict) or "Default" not in spec:
                self.on_problem(
                    f"Parameters.{name}",
                    f"parameter {name} has no Default and no --parameter value; the "
                    f"configuration reads it from the environment variable {name}",
                )
                return "${env:" + name + "}"
            value = spec["Default"]
        declared = self.template.parameters.get(name)
        kind = declared.get("Type", "String") if isinstance(declared, dict) else "String"
        if isinstance(kind, str) and kind.startswith(("CommaDelimitedList", "List<")):
            return [v.strip() for v in str(value).split(",")] if isinstance(value, str) else value
        return value

    def _function(self, name: str, arg: Any, where: str) -> Any:
        handler = getattr(self, f"_fn_{name.lower()}", None)
        if handler is None:
            self.on_problem(where, f"Fn::{name} cannot be evaluated outside AWS")
            return Unresolved(f"<Fn::{name}>")
        return handler(arg, where)

    def _fn_getatt(self, arg: Any, where: str) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        if not isinstance(arg, list) or len(arg) != 2:
            self.on_problem(where, f"Fn::GetAtt needs [resource, attribute], not {arg!r}")
            return Unresolved("<Fn::GetAtt>")
        lid, attribute = str(arg[0]), str(self.resolve(arg[1], where))
        resource = self.template.resources.get(lid)
        if resource is None:
            self.on_problem(where, f"Fn::GetAtt of {lid!r}, which is not a resource")
            return Unresolved(f"<GetAtt {lid}.{attribute}>")
        if attribute == "Arn" or attribute.endswith("Arn"):
            return ResourceValue(self.arn(resource), lid, attribute)
        if attribute in ("Name", "ProviderName", "ClientId", "UserPoolId", "RootResourceId"):
            return ResourceValue(self.resource_name(resource), lid, attribute)
        return ResourceValue(f"{self.resource_name(resource)}.{attribute}", lid, attribute)

    def _fn_sub(self, arg: Any, where: str) -> Any:
        variables: dict[str, Any] = {}
        if isinstance(arg, list) and len(arg) == 2:
            text, mapping = arg
            variables = self.resolve(mapping, where) if isinstance(mapping, dict) else {}
        else:
            text = arg
        if not isinstance(text, str):
            self.on_problem(where, "Fn::Sub needs a string")
            return Unresolved("<Fn::Sub>")
        single: list[ResourceValue] = []

        def replace(match: re.Match[str]) -> str:
            body = match.group(1)
            if body.startswith("!"):
                return "${" + body[1:] + "}"
            if body in variables:
                value = variables[body]
            elif "." in body and body.split(".", 1)[0] in self.template.resources:
                value = self._fn_getatt(body.split(".", 1), where)
            else:
                value = self._ref(body, where)
            if isinstance(value, ResourceValue):
                single.append(value)
            return str(value)

        result = _SUB.sub(replace, text)
        if len(single) == 1 and result == str(single[0]):
            return single[0]
        return result

    def _fn_join(self, arg: Any, where: str) -> Any:
        if not isinstance(arg, list) or len(arg) != 2:
            self.on_problem(where, "Fn::Join needs [delimiter, [values]]")
            return Unresolved("<Fn::Join>")
        items = self.resolve(arg[1], where)
        if not isinstance(items, list):
            items = [items]
        parts = [str(x) for x in items]
        joined = str(arg[0]).join(parts)
        found = [x for x in items if isinstance(x, ResourceValue)]
        if len(found) == 1:
            return ResourceValue(joined, found[0].logical_id, found[0].attribute)
        return joined

    def _fn_select(self, arg: Any, where: str) -> Any:
        if not isinstance(arg, list) or len(arg) != 2:
            return Unresolved("<Fn::Select>")
        index, items = self.resolve(arg[0], where), self.resolve(arg[1], where)
        try:
            return items[int(index)]
        except (IndexError, TypeError, ValueError):
            self.on_problem(where, f"Fn::Select index {index!r} is out of range")
            return Unresolved("<Fn::Select>")

    def _fn_split(self, arg: Any, where: str) -> Any:
        if not isinstance(arg, list) or len(arg) != 2:
            return Unresolved("<Fn::Split>")
        return str(self.resolve(arg[1], where)).split(str(arg[0]))

    def _fn_if(self, arg: Any, where: str) -> Any:
        if not isinstance(arg, list) or len(arg) != 3:
            return Unresolved("<Fn::If>")
        branch = arg[1] if self.condition(str(arg[0])) else arg[2]
        return self.resolve(branch, where)

    def _fn_equals(self, arg: Any, where: str) -> bool:
        values = self.resolve(arg, where)
        return isinstance(values, list) and len(values) == 2 and \
            str(values[0]) == str(values[1])

    def _fn_and(self, arg: Any, where: str) -> bool:
        return all(bool(self.resolve(a, where)) for a in arg)

    def _fn_or(self, arg: Any, where: str) -> bool:
        return any(bool(self.resolve(a, where)) for a in arg)

    def _fn_not(self, arg: Any, where: str) -> bool:
        return not bool(self.resolve(arg[0] if isinstance(arg, list) else arg, where))

    def _fn_findinmap(self, arg: Any, where: str) -> Any:
        keys = self.resolve(arg, where)
        try:
            return self.template.mappings[str(keys[0])][str(keys[1])][str(keys[2])]
        except (KeyError, IndexError, TypeError):
            self.on_problem(where, f"Fn::FindInMap {keys!r} is not in Mappings")
            return Unresolved("<Fn::FindInMap>")

    def _fn_base64(self, arg: Any, where: str) -> str:
        return base64.b64encode(str(self.resolve(arg, where)).encode()).decode()

    def _fn_tojsonstring(self, arg: Any, where: str) -> str:
        return json.dumps(self.resolve(arg, where), separators=(",", ":"))

    def _fn_length(self, arg: Any, where: str) -> int:
        value = self.resolve(arg, where)
        return len(value) if isinstance(value, list) else 0
