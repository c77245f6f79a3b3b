"""Checks that span the configuration: unique names, and every referenced name defined.

Each check returns problems located from the root (``rules[1].targets[0].bus``), so the
loader reports all of them, one per line, after every section has validated on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clientevents.config.base import Problem, duplicates
from clientevents.config.identity import USER_POOL_ISSUER
from clientevents.config.targets import (
    ApiDestinationTargetConfig,
    BusTargetConfig,
    DeliveryStreamTargetConfig,
    StreamTargetConfig,
)

if TYPE_CHECKING:
    from clientevents.config.model import Settings

__all__ = ["reference_problems"]


def reference_problems(settings: Settings) -> list[Problem]:
    """Every duplicate name and undefined reference in ``settings``, in file order."""
    return _unique_names(settings) + _references(settings)


def _unique_names(settings: Settings) -> list[Problem]:
    problems: list[Problem] = []
    for collection, what in (
        ("buses", "bus"),
        ("rules", "rule"),
        ("stages", "stage"),
        ("archives", "archive"),
        ("streams", "stream"),
        ("connections", "connection"),
        ("api_destinations", "API destination"),
        ("delivery_streams", "delivery stream"),
    ):
        items = getattr(settings, collection)
        problems += duplicates(((i, item.name) for i, item in enumerate(items)), what, collection)
    seen: dict[tuple[str, int | None], int] = {}
    for i, schema in enumerate(settings.schemas):
        key = (schema.event_type, schema.schema_version)
        if key in seen:
            version = "any version" if key[1] is None else f"version {key[1]}"
            problems.append(
                (
                    ("schemas", i, "event_type"),
                    f"duplicate schema for event type {key[0]!r} ({version}): "
                    f"schemas[{seen[key]}] already defines it; keep one.",
                )
            )
        else:
            seen[key] = i
    return problems


def _references(settings: Settings) -> list[Problem]:
    buses = set(settings.bus_names())
    streams = {stream.name for stream in settings.streams}
    delivery_streams = {stream.name for stream in settings.delivery_streams}
    issuers = {issuer.name for issuer in settings.identity.issuers}
    problems: list[Problem] = []

    def missing_bus(loc: tuple[str | int, ...], name: str) -> None:
        if name not in buses:
            defined = ", ".join(sorted(buses)) or "none"
            problems.append(
                (
                    loc,
                    f"bus {name!r} is not defined under buses (defined: {defined}); "
                    "add it to buses or fix the name.",
                )
            )

    for i, stage in enumerate(settings.stages):
        missing_bus(("stages", i, "bus"), stage.bus)
        for j, issuer in enumerate(stage.allowed_issuers or ()):
            if issuer == USER_POOL_ISSUER:
                if not settings.identity.user_pool.enabled:
                    problems.append(
                        (
                            ("stages", i, "allowed_issuers", j),
                            "the user pool is disabled (identity.user_pool.enabled); "
                            "enable it or remove 'user_pool'.",
                        )
                    )
            elif issuer not in issuers:
                known = ", ".join(sorted(issuers | {USER_POOL_ISSUER}))
                problems.append(
                    (
                        ("stages", i, "allowed_issuers", j),
                        f"issuer {issuer!r} is not defined under identity.issuers "
                        f"(known: {known}).",
                    )
                )
    for i, rule in enumerate(settings.rules):
        missing_bus(("rules", i, "bus"), rule.bus)
        for j, target in enumerate(rule.targets):
            # Pydantic's locations name the union member (the type) after the index; so do these.
            loc: tuple[str | int, ...] = ("rules", i, "targets", j, target.type)
            if isinstance(target, BusTargetConfig):
                missing_bus((*loc, "bus"), target.bus)
                if target.bus == rule.bus:
                    problems.append(
                        (
                            (*loc, "bus"),
                            f"a bus target cannot send to the rule's own bus "
                            f"{rule.bus!r}: matching events would loop forever.",
                        )
                    )
            elif isinstance(target, StreamTargetConfig) and target.stream not in streams:
                defined = ", ".join(sorted(streams)) or "none"
                problems.append(
                    (
                        (*loc, "stream"),
                        f"stream {target.stream!r} is not defined under streams "
                        f"(defined: {defined}); add it to streams or fix the name.",
                    )
                )
            elif isinstance(target, ApiDestinationTargetConfig):
                problems += _api_destination_target(settings, (*loc,), target)
            elif (
                isinstance(target, DeliveryStreamTargetConfig)
                and target.delivery_stream not in delivery_streams
            ):
                defined = ", ".join(sorted(delivery_streams)) or "none"
                problems.append(
                    (
                        (*loc, "delivery_stream"),
                        f"delivery stream {target.delivery_stream!r} is not defined under "
                        f"delivery_streams (defined: {defined}); add it to delivery_streams "
                        "or fix the name.",
                    )
                )
    for i, archive in enumerate(settings.archives):
        missing_bus(("archives", i, "bus"), archive.bus)
    connections = {connection.name for connection in settings.connections}
    for i, destination in enumerate(settings.api_destinations):
        if destination.connection not in connections:
            defined = ", ".join(sorted(connections)) or "none"
            problems.append(
                (
                    ("api_destinations", i, "connection"),
                    f"connection {destination.connection!r} is not defined under connections "
                    f"(defined: {defined}); add it to connections or fix the name.",
                )
            )
    return problems


def _api_destination_target(
    settings: Settings, loc: tuple[str | int, ...], target: ApiDestinationTargetConfig
) -> list[Problem]:
    destinations = {d.name: d for d in settings.api_destinations}
    destination = destinations.get(target.api_destination)
    if destination is None:
        defined = ", ".join(sorted(destinations)) or "none"
        return [
            (
                (*loc, "api_destination"),
                f"API destination {target.api_destination!r} is not defined under "
                f"api_destinations (defined: {defined}); add it or fix the name.",
            )
        ]
    wildcards = destination.path_wildcards
    values = len(target.http_parameters.path_parameter_values) if target.http_parameters else 0
    if wildcards != values:
        return [
            (
                (*loc, "http_parameters", "path_parameter_values"),
                f"the endpoint of API destination {destination.name!r} has {wildcards} '*' "
                f"path parameter(s) but the target gives {values} value(s); give one value "
                "per '*', in order.",
            )
        ]
    return []
