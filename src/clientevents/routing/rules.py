"""Routing tables: per bus, a compiled :class:`Matcher` of its enabled rules and, per rule, the
targets with their input shaping, all built once from the configuration.

Input shaping (what a target receives), EventBridge's four cases:

- ``input``: the constant JSON text, whatever the event;
- ``input_path``: the JSON text of the part of the event the path selects
  (:class:`clientevents.transform.InputPath`);
- ``input_transformer``: the rendered template
  (:class:`clientevents.transform.InputTransformer`, with the rule's name and ARN);
- none of them: the whole event, exactly the JSON text stored in the log (no re-encoding).

A shaper raises :class:`clientevents.transform.TransformError` when one event cannot be shaped;
the router dead-letters that delivery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clientevents.config.api_destinations import ApiDestinationTargetConfig
from clientevents.config.model import RuleConfig, Settings, TargetBase
from clientevents.patterns import Matcher
from clientevents.targets.queue import target_key
from clientevents.transform import InputPath, InputTransformer, constant_input

__all__ = ["BusRoutes", "Shaper", "TargetRoute", "build_routes", "routes_of", "rule_arn"]

Shaper = Callable[[dict[str, Any], str, float], str]
"""``shape(event, body, ingested_at) -> payload``: ``body`` is the event's JSON text."""

AttributesRenderer = Callable[[dict[str, Any]], "str | None"]
"""``render(event) -> attributes``: a target's per-delivery values taken from the event (JSON
object text), stored beside the payload; raises ``TransformError`` when the event lacks one."""


def rule_arn(region: str, account: str, bus: str, rule: str) -> str:
    """The ARN a rule is known by: ``arn:aws:events:{region}:{account}:rule/{bus}/{rule}``."""
    return f"arn:aws:events:{region}:{account}:rule/{bus}/{rule}"


@dataclass(frozen=True, slots=True)
class TargetRoute:
    """One target of one rule: where its deliveries go and how its input is shaped."""

    key: str
    bus: str
    rule: str
    target_id: str
    dead_letter: bool
    shape: Shaper
    attributes: AttributesRenderer | None = None


@dataclass(slots=True)
class BusRoutes:
    """The enabled rules of one bus: their matcher and their targets."""

    bus: str
    matcher: Matcher = field(default_factory=Matcher)
    targets: dict[str, tuple[TargetRoute, ...]] = field(default_factory=dict)

    @property
    def rule_names(self) -> list[str]:
        """The enabled rules, in configuration order."""
        return list(self.targets)


def _whole_event(event: dict[str, Any], body: str, ingested_at: float) -> str:
    return body


def _shaper(target: TargetBase, rule: str, arn: str) -> Shaper:
    if target.input is not None:
        text = constant_input(target.input)
        return lambda event, body, ingested_at: text
    if target.input_path is not None:
        path = InputPath(target.input_path)
        apply = path.apply
        return lambda event, body, ingested_at: apply(event, rule_name=rule)
    if target.input_transformer is not None:
        cfg = target.input_transformer
        transformer = InputTransformer(dict(cfg.input_paths_map), cfg.input_template)
        render = transformer.render

        def shape(event: dict[str, Any], body: str, ingested_at: float) -> str:
            return render(event, rule_name=rule, rule_arn=arn, ingestion_time=ingested_at)

        return shape
    return _whole_event


def _attributes_renderer(target: TargetBase, rule: str) -> AttributesRenderer | None:
    if isinstance(target, ApiDestinationTargetConfig) and target.http_parameters is not None:
        from clientevents.targets.api_destination.params import HttpParametersRenderer

        return HttpParametersRenderer(target.http_parameters, rule=rule).render
    return None


def routes_of(rule: RuleConfig, region: str, account: str) -> tuple[TargetRoute, ...]:
    """The targets of ``rule`` with their input shaping (enabled or not)."""
    arn = rule_arn(region, account, rule.bus, rule.name)
    return tuple(
        TargetRoute(
            key=target_key(rule.bus, rule.name, target.id),
            bus=rule.bus,
            rule=rule.name,
            target_id=target.id,
            dead_letter=target.dead_letter,
            shape=_shaper(target, rule.name, arn),
            attributes=_attributes_renderer(target, rule.name),
        )
        for target in rule.targets
    )


def build_routes(settings: Settings) -> dict[str, BusRoutes]:
    """The routing table of every configured bus (a bus without enabled rules routes nothing).

    Raises:
        InvalidEventPattern, TransformError: a rule's pattern or input shaping is invalid
            (configuration loading checks both first, so this means a hand-built Settings).
    """
    tables = {name: BusRoutes(name) for name in settings.bus_names()}
    for rule in settings.rules:
        if rule.state != "enabled":
            continue
        table = tables.setdefault(rule.bus, BusRoutes(rule.bus))
        table.targets[rule.name] = routes_of(rule, settings.region, settings.account)
        table.matcher.add(rule.name, rule.event_pattern)
    return tables
