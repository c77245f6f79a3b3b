"""The operators' console and its admin API (``console:`` in the configuration)."""

from __future__ import annotations

from pydantic import Field

from clientevents.config.base import ConfigModel

__all__ = ["ConsoleSettings"]


class ConsoleSettings(ConfigModel):
    """Whether the gateway serves ``/console`` and ``/admin/api``, and how sessions last."""

    enabled: bool = Field(
        default=True,
        description="Serve the console and the admin API (both closed to anyone not signed "
        "in, or not signing with the admin key).",
    )
    sign_in_link: bool = Field(
        default=True,
        description="When the gateway listens on a loopback address, `serve` prints a "
        "one-time sign-in link at start.",
    )
    sign_in_link_ttl_secs: int = Field(
        default=900, ge=30, le=86_400, description="How long a sign-in link stays usable."
    )
    session_ttl_secs: int = Field(
        default=43_200, ge=60, le=2_592_000,
        description="How long a console session lasts after sign-in (12 hours).",
    )
