"""The configuration model: :class:`Settings` and every model it is made of.

A configuration file is one YAML mapping whose keys are the fields of :class:`Settings`
(``docs/configuration.md`` documents every field). Field validators check single values;
:meth:`Settings._check_references` checks what spans the file: unique names, and that every bus,
stream and issuer a stage, rule, target or archive names is defined.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from clientevents.config.api_destinations import (
    ApiDestinationConfig,
    ApiDestinationTargetConfig,
    ConnectionConfig,
)
from clientevents.config.base import ConfigModel, ConfigProblems, Name, duplicates
from clientevents.config.console import ConsoleSettings
from clientevents.config.delivery_streams import DeliveryStreamConfig
from clientevents.config.identity import (
    AdminCredentials,
    FileNotifierConfig,
    IdentitySettings,
    IssuerConfig,
    NotifierConfig,
    PasswordPolicy,
    SmtpNotifierConfig,
    UserPoolSettings,
)
from clientevents.config.references import reference_problems
from clientevents.config.rulelang import check_event_pattern
from clientevents.config.schemas import SchemaConfig
from clientevents.config.storage import StorageSettings
from clientevents.config.targets import (
    TARGET_MODELS,
    TARGET_TYPES,
    BusTargetConfig,
    DeliveryStreamTargetConfig,
    InputTransformerConfig,
    LogTargetConfig,
    RetryPolicy,
    StreamTargetConfig,
    TargetBase,
    TargetConfig,
)

__all__ = [
    "TARGET_MODELS",
    "TARGET_TYPES",
    "AdminCredentials",
    "ApiDestinationConfig",
    "ApiDestinationTargetConfig",
    "ArchiveConfig",
    "BusConfig",
    "BusTargetConfig",
    "ConnectionConfig",
    "ConsoleSettings",
    "DeliveryStreamConfig",
    "DeliveryStreamTargetConfig",
    "FileNotifierConfig",
    "IdentitySettings",
    "InputTransformerConfig",
    "IssuerConfig",
    "LimitsSettings",
    "LogTargetConfig",
    "NotifierConfig",
    "PasswordPolicy",
    "RateLimit",
    "RetryPolicy",
    "RuleConfig",
    "SchemaConfig",
    "ServerSettings",
    "Settings",
    "SmtpNotifierConfig",
    "StageConfig",
    "StreamConfig",
    "StreamTargetConfig",
    "TargetBase",
    "TargetConfig",
    "UserPoolSettings",
]


def _pattern_value(value: Any) -> Any:
    """Accept an event pattern as a mapping or as JSON text of one, and check it."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"event pattern JSON text does not parse: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(
            f"an event pattern must be a mapping such as {{source: [clientevents]}}, "
            f"not {type(value).__name__}"
        )
    problem = check_event_pattern(value)
    if problem:
        raise ValueError(problem)
    return value


class LimitsSettings(ConfigModel):
    """Size limits of an ingest request (PutEvents' limits by default)."""

    max_entries_per_request: int = Field(
        default=10, ge=1, le=10_000, description="Entries per request."
    )
    max_entry_bytes: int = Field(default=262_144, ge=1, description="Bytes per entry (256 KiB).")
    max_body_bytes: int = Field(
        default=1_048_576, ge=1, description="Bytes per request body (1 MiB)."
    )
    max_json_depth: int = Field(
        default=64, ge=1, le=1_000, description="Nesting depth of an entry."
    )

    @model_validator(mode="after")
    def _entry_fits_body(self) -> LimitsSettings:
        if self.max_entry_bytes > self.max_body_bytes:
            raise ConfigProblems(
                [
                    (
                        ("max_entry_bytes",),
                        f"max_entry_bytes ({self.max_entry_bytes}) is larger than "
                        f"max_body_bytes ({self.max_body_bytes}); an entry must fit in a body.",
                    )
                ]
            )
        return self


class ServerSettings(ConfigModel):
    """The HTTP gateway's listener."""

    host: str = Field(default="127.0.0.1", min_length=1, description="Address to listen on.")
    port: int = Field(default=8080, ge=0, le=65_535, description="TCP port (0 = any free port).")
    cors_allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins browsers may call from ('*' = any); empty = no CORS headers.",
    )
    access_log: bool = Field(default=True, description="Log one line per request.")
    header_read_timeout_secs: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Seconds a client has to send a request's headers, from connecting or from "
        "the end of the previous answer on the connection; then the connection is closed "
        "(slow or idle clients cannot hold connections).",
    )
    max_connections: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="Most connections the gateway holds open at once; further ones wait in the "
        "listen backlog. Capped by the process's open-file limit.",
    )


class RateLimit(ConfigModel):
    """A token bucket: a sustained rate and a burst."""

    requests_per_sec: float = Field(
        default=100.0, gt=0, description="Sustained requests per second."
    )
    burst: int = Field(default=200, ge=1, description="Requests allowed at once (bucket size).")
    shared: bool | None = Field(
        default=None,
        description="Keep the buckets in the state store, shared by every gateway process "
        "(one store write per chunk of a tenth of a second's tokens); null = shared when "
        "several processes may serve "
        "(`clientevents gateway`, `--http-workers` above 1, or CLIENTEVENTS_SHARED_RATE_LIMITS=1).",
    )


def _environment_is_optional(schema: dict[str, Any]) -> None:
    """JSON Schema: ``environment`` may be left out (it defaults to the stage name)."""
    required = schema.get("required")
    if isinstance(required, list) and "environment" in required:
        required.remove("environment")


class StageConfig(ConfigModel):
    """An API stage: ``POST /{name}/event`` puts events on ``bus``."""

    model_config = ConfigDict(json_schema_extra=_environment_is_optional)

    name: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_\-]+$",
        description="URL path segment: letters, digits, '-' and '_' (at most 128).",
    )
    bus: Name = Field(description="Name of the bus (under buses) events go to.")
    environment: str = Field(
        min_length=1,
        max_length=256,
        description="The envelope's detail-type; defaults to the stage name.",
    )
    allowed_issuers: list[str] | None = Field(
        default=None,
        description="Issuer names whose tokens this stage accepts ('user_pool' = the built-in "
        "pool); none = every configured issuer and the pool.",
    )
    rate_limit: RateLimit | None = Field(
        default_factory=RateLimit,
        description="Per-clientId token bucket; null disables rate limiting.",
    )

    @model_validator(mode="before")
    @classmethod
    def _environment_defaults_to_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "environment" not in data and "name" in data:
            return {**data, "environment": data["name"]}
        return data


class BusConfig(ConfigModel):
    """An event bus: an append-only log that rules read."""

    name: Name = Field(description="Bus name, unique.")


class RuleConfig(ConfigModel):
    """A rule: events on ``bus`` that match ``event_pattern`` go to each of ``targets``."""

    name: Name = Field(description="Rule name, unique in the file.")
    bus: Name = Field(description="Name of the bus (under buses) the rule reads.")
    description: str = Field(default="", max_length=512, description="Free text.")
    state: Literal["enabled", "disabled"] = Field(
        default="enabled", description="A disabled rule matches nothing."
    )
    event_pattern: dict[str, Any] = Field(
        description="EventBridge event pattern (a mapping, or JSON text of one)."
    )
    targets: list[TargetConfig] = Field(
        min_length=1, max_length=5, description="1 to 5 targets with unique ids."
    )

    @field_validator("event_pattern", mode="before")
    @classmethod
    def _check_pattern(cls, value: Any) -> Any:
        return _pattern_value(value)

    @field_validator("targets")
    @classmethod
    def _unique_target_ids(cls, targets: list[TargetBase]) -> list[TargetBase]:
        problems = duplicates(((i, t.id) for i, t in enumerate(targets)), "target", "targets", "id")
        if problems:
            raise ConfigProblems([(loc[1:], message) for loc, message in problems])
        return targets


class ArchiveConfig(ConfigModel):
    """An archive keeps the events of a bus (optionally filtered) for replays."""

    name: Name = Field(description="Archive name, unique.")
    bus: Name = Field(description="Name of the bus (under buses) to archive.")
    description: str = Field(default="", max_length=512, description="Free text.")
    event_pattern: dict[str, Any] | None = Field(
        default=None, description="Keep only matching events; none = every event."
    )
    retention_days: int = Field(default=0, ge=0, description="Days to keep events; 0 = forever.")

    @field_validator("event_pattern", mode="before")
    @classmethod
    def _check_pattern(cls, value: Any) -> Any:
        return None if value is None else _pattern_value(value)


class StreamConfig(ConfigModel):
    """A named stream: records that several consumer groups read independently."""

    name: Name = Field(description="Stream name, unique.")
    retention_hours: int = Field(default=24, ge=1, le=8_760, description="Hours records are kept.")
    visibility_timeout_secs: int = Field(
        default=30,
        ge=0,
        le=43_200,
        description="Seconds a read record stays invisible to its group before redelivery.",
    )
    api_keys: list[str] = Field(
        default_factory=list,
        repr=False,
        description="Keys that may read the stream over HTTP; reference them with ${env:...}.",
    )

    @field_validator("api_keys")
    @classmethod
    def _non_empty_keys(cls, keys: list[str]) -> list[str]:
        empty = [i for i, key in enumerate(keys) if not key]
        if empty:
            raise ConfigProblems([((i,), "an API key must not be empty.") for i in empty])
        return keys


class Settings(ConfigModel):
    """The whole configuration of a clientevents deployment."""

    account: str = Field(
        default="000000000000",
        pattern=r"^\d{12}$",
        description="The envelope's account (12 digits).",
    )
    region: str = Field(
        default="local",
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9\-]+$",
        description="The envelope's region.",
    )
    data_dir: Path = Field(
        default=Path("data"),
        description="Where state and relative target files live; relative to the working "
        "directory. The --data-dir option overrides it.",
    )
    limits: LimitsSettings = Field(default_factory=LimitsSettings, description="Request limits.")
    server: ServerSettings = Field(default_factory=ServerSettings, description="HTTP listener.")
    stages: list[StageConfig] = Field(default_factory=list, description="API stages.")
    schemas: list[SchemaConfig] = Field(
        default_factory=list, description="JSON Schemas per detail.eventType."
    )
    buses: list[BusConfig] = Field(default_factory=list, description="Event buses.")
    rules: list[RuleConfig] = Field(default_factory=list, description="Rules and targets.")
    archives: list[ArchiveConfig] = Field(default_factory=list, description="Archives.")
    streams: list[StreamConfig] = Field(default_factory=list, description="Named streams.")
    connections: list[ConnectionConfig] = Field(
        default_factory=list, description="Authorization of API destinations."
    )
    api_destinations: list[ApiDestinationConfig] = Field(
        default_factory=list, description="HTTP endpoints rule targets call."
    )
    delivery_streams: list[DeliveryStreamConfig] = Field(
        default_factory=list,
        description="Delivery streams (buffered, processed, partitioned objects); rule "
        "targets of type delivery_stream feed them.",
    )
    identity: IdentitySettings = Field(
        default_factory=IdentitySettings, description="Authentication."
    )
    console: ConsoleSettings = Field(
        default_factory=ConsoleSettings, description="The operators' console and admin API."
    )
    storage: StorageSettings = Field(
        default_factory=StorageSettings,
        description="Where state and the event log live (SQLite file, PostgreSQL, JetStream).",
    )

    @model_validator(mode="after")
    def _check_references(self) -> Settings:
        problems = reference_problems(self)
        if problems:
            raise ConfigProblems(problems)
        return self

    def with_data_dir(self, data_dir: str | Path) -> Settings:
        """Return a copy whose ``data_dir`` is ``data_dir`` (the ``--data-dir`` override)."""
        return self.model_copy(update={"data_dir": Path(data_dir)})

    def bus_names(self) -> list[str]:
        """The names of the configured buses, in file order."""
        return [bus.name for bus in self.buses]

    def connection(self, name: str) -> ConnectionConfig:
        """The connection called ``name`` (KeyError when there is none)."""
        for connection in self.connections:
            if connection.name == name:
                return connection
        raise KeyError(name)

    def api_destination(self, name: str) -> ApiDestinationConfig:
        """The API destination called ``name`` (KeyError when there is none)."""
        for destination in self.api_destinations:
            if destination.name == name:
                return destination
        raise KeyError(name)

    def rules_for_bus(self, bus: str) -> list[RuleConfig]:
        """The rules that read ``bus``, in file order."""
        return [rule for rule in self.rules if rule.bus == bus]
