"""A CloudFormation / SAM template → a clientevents configuration, and what was not carried over.

Example::

    result = import_template(load_template("template.yaml"))
    result.config        # configuration data (validated)
    result.findings      # per resource: mapped, partly, not applicable, skipped, error
    text = result.yaml() # the configuration as a commented file

The mappers (``mappers/``) each handle one resource type. After they ran, the configuration is
validated; an item that does not validate (a rule whose pattern clientevents refuses...) is
dropped and reported, so the result always loads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clientevents import __version__
from clientevents.cfn.context import BucketMode, Finding, ImportContext
from clientevents.cfn.intrinsics import Resolver
from clientevents.cfn.mappers import MAPPERS, map_not_applicable
from clientevents.cfn.template import Template
from clientevents.config.annotated import commented_yaml
from clientevents.config.identity import DEFAULT_CLIENT_ID, DEFAULT_USER_POOL_ID
from clientevents.config.loader import validate_settings
from clientevents.errors import ConfigError

__all__ = ["ImportResult", "import_template"]

_ORDER = {kind: index for index, kind in enumerate(MAPPERS)}
_SECTIONS = ("stages", "buses", "rules", "archives", "streams", "delivery_streams",
             "connections", "api_destinations")
_ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)")
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass
class ImportResult:
    """The configuration data and the findings of one import."""

    template: Template
    config: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)

    @property
    def warnings(self) -> list[Finding]:
        """Findings other than a clean mapping."""
        return [f for f in self.findings if f.outcome != "mapped"]

    def yaml(self) -> str:
        """The configuration as a commented YAML file, the findings listed at the top."""
        mapped = len({f.resource for f in self.findings if f.outcome == "mapped"})
        lines = [
            f"clientevents configuration imported from {self.template.file} by",
            f"`clientevents import-cloudformation` (clientevents {__version__}).",
            f"{mapped} resources carried over. Not carried over, resource by resource:",
        ]
        lines += [f"- {f.resource} ({f.type or 'template'}), {f.outcome}: {f.message}"
                  for f in self.warnings] or ["- nothing."]
        lines.append("Check it with `clientevents validate FILE`; run it with "
                     "`clientevents serve --config FILE`.")
        return commented_yaml(self.config, header="\n".join(lines))


def import_template(
    template: Template,
    *,
    parameters: Mapping[str, str] | None = None,
    region: str = "local",
    account: str = "000000000000",
    stack_name: str = "clientevents",
    functions: Mapping[str, str] | None = None,
    buckets: BucketMode = "local",
    full_event: bool = False,
) -> ImportResult:
    """Map every resource of ``template``; return the validated configuration and findings.

    Args:
        functions: Python functions (``module:function``) to run in place of Lambda
            functions (Firehose transformations), by the Lambda's logical id, name or ARN.
        buckets: what an S3 bucket a delivery stream writes to becomes: ``local``, a folder
            of the bucket's name under the data dir; ``s3``, the bucket itself.
        full_event: write ``<aws.events.event>`` in input templates as
            ``<aws.events.event.json>`` (the whole event; EventBridge renders the former
            without ``detail``).

    Raises:
        ConfigError: the result cannot be made valid by dropping items (not expected).
    """
    unknown = sorted(set(parameters or {}) - set(template.parameters))
    resolver = Resolver(template, dict(parameters or {}), region, account, stack_name)
    ctx = ImportContext(template, resolver, functions=dict(functions or {}), buckets=buckets,
                        full_event=full_event)
    resolver.on_problem = lambda where, message: ctx.note(
        where.split(".")[0] or "template", "partly", f"{message}.", "intrinsic function")
    for name in unknown:
        ctx.note(f"--parameter {name}", "skipped", "the template has no such parameter.")
    for resource in template.by_type("AWS::Cognito::UserPool"):
        resolver.fixed_names[resource.logical_id] = DEFAULT_USER_POOL_ID
    for resource in template.by_type("AWS::Cognito::UserPoolClient"):
        resolver.fixed_names[resource.logical_id] = DEFAULT_CLIENT_ID
    ordered = sorted(template.resources.values(), key=lambda r: _ORDER.get(r.type, len(_ORDER)))
    for resource in ordered:
        if resource.condition is not None and not resolver.condition(resource.condition):
            ctx.note(resource, "skipped", f"its condition {resource.condition} is false.")
            continue
        mapper = MAPPERS.get(resource.type, map_not_applicable)
        try:
            mapper(ctx, resource)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            ctx.note(resource, "error", f"its properties could not be read ({exc}); it was "
                     "left out.")
    config = _assemble(ctx, region, account)
    _validate(ctx, config)
    order = {r: i for i, r in enumerate(template.resources)}
    ctx.findings.sort(key=lambda f: order.get(f.resource, -1))
    return ImportResult(template, config, ctx.findings)


def _assemble(ctx: ImportContext, region: str, account: str) -> dict[str, Any]:
    config: dict[str, Any] = {"account": account, "region": region, "data_dir": "data"}
    if "server" in ctx.config:
        config["server"] = ctx.config["server"]
    for section in _SECTIONS:
        if ctx.config.get(section):
            config[section] = ctx.config[section]
    identity = ctx.config.get("identity")
    if identity:
        pool = {k: v for k, v in identity.get("user_pool", {}).items() if not k.startswith("_")}
        config["identity"] = {**identity, "user_pool": pool}
    else:
        ctx.note("identity", "partly", "the template has no Cognito user pool: the built-in "
                 "pool stays enabled; add identity.issuers for your OpenID Connect provider.",
                 "AWS::Cognito::UserPool")
    return config


# Fields whose value must be a URL: a variable standing in one is checked with a URL.
_URL_FIELDS = {"invocation_endpoint", "authorization_endpoint", "endpoint_url"}


def _placeholders(value: Any, found: dict[str, str], key: str = "") -> dict[str, str]:
    """A stand-in value for each ``${env:NAME}`` in ``value``, to validate the configuration
    before the variables are set: a URL where the field takes one, a word elsewhere."""
    if isinstance(value, str):
        for name in _ENV_REFERENCE.findall(value):
            stand_in = "https://placeholder.invalid/" if key in _URL_FIELDS else "placeholder"
            found.setdefault(name, stand_in)
    elif isinstance(value, dict):
        for name, item in value.items():
            _placeholders(item, found, str(name))
    elif isinstance(value, list):
        for item in value:
            _placeholders(item, found, key)
    return found


def _parse_path(path: str) -> list[str | int]:
    return [int(index) if index else name for name, index in _PATH_PART.findall(path)]


def _validate(ctx: ImportContext, config: dict[str, Any]) -> None:
    """Drop what does not validate, reporting each, until the configuration loads."""
    for _ in range(20):
        environ = _placeholders(config, {})
        try:
            validate_settings(config, file="<imported>", environ=environ)
            return
        except ConfigError as exc:
            problems = getattr(exc, "problems", ((exc.path, str(exc)),))
        removals: set[tuple[str, int]] = set()
        leaves: list[list[str | int]] = []
        for path, message in problems:
            parts = _parse_path(path)
            if len(parts) >= 2 and parts[0] in _SECTIONS and isinstance(parts[1], int):
                section, index = str(parts[0]), parts[1]
                item = config[section][index]
                label = item.get("name", f"{section}[{index}]")
                ctx.note(f"{section[:-1]} {label}", "error",
                         f"left out: {message}", "configuration")
                removals.add((section, index))
            elif parts:
                ctx.note(path, "error", f"left out: {message}", "configuration")
                leaves.append(parts)
        if not removals and not leaves:
            break
        for section, index in sorted(removals, key=lambda r: -r[1]):
            del config[section][index]
            if not config[section]:
                del config[section]
        for parts in leaves:
            _drop_leaf(config, parts)
    raise ConfigError("The imported configuration does not validate even after leaving "
                      "out what failed; please report the template.", file="<imported>")


def _drop_leaf(config: dict[str, Any], parts: list[str | int]) -> None:
    node: Any = config
    for part in parts[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(node, dict):
        node.pop(parts[-1], None)
    elif isinstance(node, list) and isinstance(parts[-1], int) and parts[-1] < len(node):
        del node[parts[-1]]
