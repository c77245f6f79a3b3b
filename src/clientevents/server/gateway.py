"""The gateway's per-app state: stages, limits, validators, metrics and the components it calls.

:class:`Gateway` is built once by :func:`clientevents.server.app.create_app` from the settings and
the runtime; routes receive it at construction, so nothing is global.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clientevents.ratelimit import KeyedLimiter
from clientevents.ratelimit.shared import SharedKeyedLimiter, StoreRunner, shared_limits_wanted
from clientevents.server.metrics import GatewayMetrics
from clientevents.server.validation import EntryValidator, SchemaRule

if TYPE_CHECKING:
    from clientevents.admin import AdminService
    from clientevents.config import Settings
    from clientevents.identity import IdentityService
    from clientevents.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Stage:
    """One API stage as the ingest route uses it."""

    name: str
    bus: str
    environment: str
    allowed_issuers: frozenset[str] | None
    limiter: KeyedLimiter | None
    #: The per-client limit shared with the other gateway processes (then ``limiter`` is None).
    shared_limiter: SharedKeyedLimiter | None = None


class Gateway:
    """What every route of one app shares."""

    def __init__(
        self,
        settings: Settings,
        *,
        data_dir: Path,
        runtime: Runtime,
        identity: IdentityService,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.runtime = runtime
        self.identity = identity
        self.authenticator = identity.authenticator
        self.publisher: Any = runtime.publisher
        self.metrics = metrics or GatewayMetrics()
        limits = settings.limits
        self.max_entries = limits.max_entries_per_request
        self.max_body_bytes = limits.max_body_bytes
        self.validator = EntryValidator(
            max_entry_bytes=limits.max_entry_bytes,
            max_depth=limits.max_json_depth,
            schemas=[
                SchemaRule(s.event_type, s.schema_version, s.schema or {})
                for s in settings.schemas
            ],
        )
        self.stages: dict[str, Stage] = {}
        for cfg in settings.stages:
            rate = cfg.rate_limit
            shared = rate is not None and (
                rate.shared if rate.shared is not None else shared_limits_wanted(False)
            )
            self.stages[cfg.name] = Stage(
                name=cfg.name,
                bus=cfg.bus,
                environment=cfg.environment,
                allowed_issuers=(
                    None if cfg.allowed_issuers is None else frozenset(cfg.allowed_issuers)
                ),
                limiter=(
                    None if rate is None or shared
                    else KeyedLimiter(rate.requests_per_sec, rate.burst)
                ),
                shared_limiter=(
                    SharedKeyedLimiter(StoreRunner(runtime.db), cfg.name,
                                       rate.requests_per_sec, rate.burst)
                    if rate is not None and shared else None
                ),
            )
        self.stream_keys: dict[str, tuple[str, ...]] = {
            s.name: tuple(k for k in s.api_keys if k) for s in settings.streams
        }
        self.admin: AdminService | None = None
        if settings.console.enabled:
            from clientevents.admin import AdminService

            self.admin = AdminService(
                settings, runtime.db, pool=identity.user_pool, registry=self.metrics.registry,
                log=runtime.log,
            )
