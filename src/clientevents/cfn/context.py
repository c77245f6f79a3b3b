"""What the mappers share while importing one template: the configuration being built, the
findings, and how a target ARN becomes a clientevents target."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from clientevents.cfn.intrinsics import Resolver, ResourceValue, Unresolved
from clientevents.cfn.template import Resource, Template

__all__ = ["NAME_RE", "Finding", "ImportContext", "Outcome"]

Outcome = Literal["mapped", "partly", "not applicable", "skipped", "error"]

BucketMode = Literal["local", "s3"]

NAME_RE = re.compile(r"^[.\-_A-Za-z0-9]{1,64}$")
_ARN = re.compile(r"^arn:aws[\w-]*:([\w-]+):([\w-]*):(\d*):(.+)$")


@dataclass(frozen=True)
class Finding:
    """What became of one resource (or of one part of it), and why."""

    resource: str
    type: str
    outcome: Outcome
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"resource": self.resource, "type": self.type, "outcome": self.outcome,
                "message": self.message}


@dataclass
class ImportContext:
    """The state of one import."""

    template: Template
    resolver: Resolver
    config: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    functions: dict[str, str] = field(default_factory=dict)
    """Python functions (``module:function``) standing in for Lambda functions, by the
    function's logical id, name or ARN (``--function``)."""
    buckets: BucketMode = "local"
    """What an S3 bucket becomes: a folder under the data dir, or an S3 destination."""
    full_event: bool = False
    """Write ``<aws.events.event>`` in input templates as ``<aws.events.event.json>``."""

    # -- findings ------------------------------------------------------------------------------

    def note(self, resource: Resource | str, outcome: Outcome, message: str,
             kind: str = "") -> None:
        """Record what happened to ``resource`` (a resource, or a free label)."""
        if isinstance(resource, Resource):
            self.findings.append(Finding(resource.logical_id, resource.type, outcome, message))
        else:
            self.findings.append(Finding(resource, kind, outcome, message))

    def named(self, resource: Resource, name: str, what: str) -> bool:
        """Whether ``name`` is a valid name; if not, record an error for ``resource``."""
        if NAME_RE.match(name):
            return True
        self.note(resource, "error", f"{what} name {name!r} is not 1-64 of A-Z a-z 0-9 . - _.")
        return False

    def props(self, resource: Resource) -> dict[str, Any]:
        """The resource's properties with intrinsic functions evaluated."""
        value = self.resolver.resolve(resource.properties, resource.logical_id)
        return value if isinstance(value, dict) else {}

    def leftover(self, resource: Resource, props: dict[str, Any], handled: set[str],
                 why: str) -> None:
        """One finding naming the properties no mapper carried over."""
        rest = sorted(k for k in props if k not in handled)
        if rest:
            self.note(resource, "partly", f"not carried over: {', '.join(rest)} ({why}).")

    # -- the configuration ---------------------------------------------------------------------

    def items(self, section: str) -> list[dict[str, Any]]:
        """A list section of the configuration being built (created empty)."""
        value: list[dict[str, Any]] = self.config.setdefault(section, [])
        return value

    def has_named(self, section: str, name: str) -> bool:
        return any(item.get("name") == name for item in self.config.get(section, []))

    def ensure_bus(self, name: str, why: str) -> None:
        """Add bus ``name`` unless it is there."""
        if not self.has_named("buses", name):
            self.items("buses").append({"name": name})
            self.note(f"bus {name}", "mapped", f"added bus {name}: {why}.", "AWS::Events::EventBus")

    def bus_name(self, value: Any) -> str | None:
        """A bus from a name, an ARN or a Ref/GetAtt of a bus resource (None if not one)."""
        if value is None or isinstance(value, Unresolved):
            return None
        text = str(value)
        if isinstance(value, ResourceValue):
            resource = self.template.resources.get(value.logical_id)
            if resource is not None and resource.type == "AWS::Events::EventBus":
                return self.resolver.resource_name(resource)
        match = _ARN.match(text)
        if match:
            service, _, _, rest = match.groups()
            if service == "events" and rest.startswith("event-bus/"):
                return rest.split("/", 1)[1]
            return None
        return text if NAME_RE.match(text) else None

    def resource_of(self, value: Any) -> Resource | None:
        """The template resource a Ref/GetAtt value came from."""
        if isinstance(value, ResourceValue):
            return self.template.resources.get(value.logical_id)
        return None


def arn_parts(text: str) -> tuple[str, str] | None:
    """``(service, resource part)`` of an ARN, or None."""
    match = _ARN.match(text)
    if not match:
        return None
    service, _, _, rest = match.groups()
    return service, rest
