"""Where the service keeps its state and its event log (``storage:`` in the configuration)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from clientevents.config.base import ConfigModel

__all__ = ["JetStreamSettings", "PostgresSettings", "StorageSettings"]


class PostgresSettings(ConfigModel):
    """How to reach PostgreSQL when ``store: postgres`` (or ``log: postgres``)."""

    dsn: str = Field(
        default="postgresql://127.0.0.1:5432/clientevents",
        min_length=1,
        description="libpq connection string or URL; put the password in `${env:...}` (or in "
        "the environment libpq reads, PGPASSWORD) rather than in the file.",
    )
    schema_: str = Field(
        default="clientevents",
        alias="schema",
        min_length=1,
        max_length=63,
        pattern=r"^[a-z_][a-z0-9_]*$",
        description="The schema holding every table (created when missing).",
    )
    pool_min: int = Field(default=1, ge=0, le=100, description="Read connections kept open.")
    pool_max: int = Field(
        default=8, ge=1, le=200, description="Most read connections one process opens."
    )
    connect_timeout: float = Field(
        default=5.0, gt=0, le=300,
        description="Seconds a connection attempt (or a wait for a pooled connection) may take.",
    )

    @property
    def schema_name(self) -> str:
        return self.schema_


class JetStreamSettings(ConfigModel):
    """The NATS JetStream event log (``log: jetstream``)."""

    servers: list[str] = Field(
        default_factory=lambda: ["nats://127.0.0.1:4222"], min_length=1,
        description="NATS server URLs.",
    )
    stream_prefix: str = Field(
        default="clientevents",
        min_length=1,
        max_length=32,
        pattern=r"^[A-Za-z0-9_\-]+$",
        description="Prefix of the stream names (one stream per bus).",
    )
    replicas: int = Field(default=1, ge=1, le=5, description="Stream replicas (3 in a cluster).")
    storage: Literal["file", "memory"] = Field(default="file", description="Stream storage.")
    max_age: float = Field(
        default=0, ge=0,
        description="Seconds a message is kept (0: no age limit; retention trims consumed ones).",
    )
    duplicate_window: str = Field(
        default="2m",
        pattern=r"^\d+(ms|s|m|h)$",
        description="JetStream's de-duplication window, keyed by event id (e.g. 2m, 30s).",
    )
    sync: Literal["default", "always"] = Field(
        default="default",
        description="`always`: the server fsyncs before acknowledging (needs a server with "
        "sync_interval: always); `default`: the server's own interval (replication makes it "
        "durable in a cluster).",
    )


class StorageSettings(ConfigModel):
    """Which implementation holds the state and which holds the event log."""

    store: Literal["sqlite", "postgres"] = Field(
        default="sqlite",
        description="`sqlite`: one file, `<data_dir>/clientevents.db` (the embedded default); "
        "`postgres`: the `postgres:` server, shared by any number of processes.",
    )
    log: Literal["sqlite", "postgres", "jetstream"] | None = Field(
        default=None,
        description="Where the event log lives: the same as `store` when omitted, or "
        "`jetstream` (the `jetstream:` servers).",
    )
    postgres: PostgresSettings = Field(
        default_factory=PostgresSettings, description="The PostgreSQL server."
    )
    jetstream: JetStreamSettings = Field(
        default_factory=JetStreamSettings, description="The NATS JetStream servers."
    )

    @model_validator(mode="after")
    def _log_on_store(self) -> StorageSettings:
        if self.log in ("sqlite", "postgres") and self.log != self.store:
            raise ValueError(
                f"log: {self.log} keeps the event log in the state store, which is {self.store}: "
                f"write log: {self.store}, log: jetstream, or leave log out."
            )
        return self

    @property
    def log_backend(self) -> str:
        """The event log's implementation (``log``, or the store's when omitted)."""
        return self.log or self.store
