"""CloudFormation dynamic references (``{{resolve:...}}``) and what they become here.

``{{resolve:secretsmanager:proto/zendesk:SecretString:apiToken}}`` names a Secrets Manager
secret and a key of its JSON; clientevents' secret store holds secrets under the same names, so
it becomes a reference to secret ``proto/zendesk``, key ``apiToken``. An ARN as the secret id
gives the secret's name (without the six characters Secrets Manager appends). Parameter Store
references (``{{resolve:ssm:...}}``, ``{{resolve:ssm-secure:...}}``) have no store here: they
become environment variables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DynamicReference", "contains_reference", "parse_reference"]

_WHOLE = re.compile(r"^\{\{resolve:([a-z-]+):(.+)\}\}$", re.DOTALL)
_ARN_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")


@dataclass(frozen=True)
class DynamicReference:
    """One ``{{resolve:service:...}}`` reference."""

    service: str
    """``secretsmanager``, ``ssm`` or ``ssm-secure``."""
    name: str
    """The secret's name (or the parameter's)."""
    key: str | None = None
    """The JSON key of a Secrets Manager secret; ``None``: the whole secret text."""
    pinned: str | None = None
    """A version stage or id the reference asked for (the store keeps one version)."""


def parse_reference(value: object) -> DynamicReference | None:
    """The reference when ``value`` is exactly one ``{{resolve:...}}``, else ``None``."""
    if not isinstance(value, str):
        return None
    match = _WHOLE.match(value.strip())
    if match is None:
        return None
    service, rest = match.groups()
    if service == "secretsmanager":
        if rest.startswith("arn:"):
            parts = rest.split(":")
            arn, tail = parts[:7], parts[7:]
            name = _ARN_SUFFIX.sub("", arn[-1]) if len(arn) == 7 else rest
        else:
            name, *tail = rest.split(":")
        # tail: SecretString, json-key, version-stage, version-id (each may be empty).
        key = tail[1] if len(tail) > 1 and tail[1] else None
        pinned = next((t for t in tail[2:] if t), None)
        return DynamicReference("secretsmanager", name, key, pinned)
    if service in ("ssm", "ssm-secure"):
        name, _, version = rest.partition(":")
        return DynamicReference(service, name, None, version or None)
    return DynamicReference(service, rest)


def contains_reference(value: object) -> bool:
    """Whether ``value`` holds a dynamic reference anywhere (inside other text too)."""
    return isinstance(value, str) and "{{resolve:" in value
