"""From a target's configuration to a running :class:`~clientevents.targets.base.Target`.

:data:`TARGET_TYPES` maps each configuration ``type`` to a factory
``(config, context) -> Target``. The built-in types are listed here explicitly, so what exists
never depends on import order. A new target type needs three things:

1. its configuration model in ``clientevents/config/targets.py`` (``type: Literal["<name>"]``,
   added to the ``TargetConfig`` union);
2. a :class:`~clientevents.targets.base.Target` (or ``LocalTarget``) subclass, in its own module
   or folder under ``clientevents/targets/``;
3. one line below mapping the type to its factory.

``docs/delivery.md`` walks through an example.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from clientevents.errors import ConfigError
from clientevents.targets.base import Target, TargetContext

if TYPE_CHECKING:
    from clientevents.config.model import TargetConfig

__all__ = ["TARGET_TYPES", "TargetFactory", "build_target"]

TargetFactory = Callable[[Any, TargetContext], Target]
"""Builds a target from its configuration model and the shared context."""


def _log(cfg: Any, ctx: TargetContext) -> Target:
    from clientevents.targets.log import LogTarget

    return LogTarget.from_config(cfg, ctx)


def _bus(cfg: Any, ctx: TargetContext) -> Target:
    from clientevents.targets.bus import BusTarget

    return BusTarget.from_config(cfg, ctx)


def _stream(cfg: Any, ctx: TargetContext) -> Target:
    from clientevents.targets.stream import StreamTarget

    return StreamTarget.from_config(cfg, ctx)


def _delivery_stream(cfg: Any, ctx: TargetContext) -> Target:
    from clientevents.targets.delivery_stream import DeliveryStreamTarget

    return DeliveryStreamTarget.from_config(cfg, ctx)


def _api_destination(cfg: Any, ctx: TargetContext) -> Target:
    from clientevents.targets.api_destination import ApiDestinationTarget

    return ApiDestinationTarget.from_config(cfg, ctx)


TARGET_TYPES: dict[str, TargetFactory] = {
    "log": _log,
    "bus": _bus,
    "stream": _stream,
    "delivery_stream": _delivery_stream,
    "api_destination": _api_destination,
}
"""Configuration ``type`` -> factory. The built-in types: ``log``, ``bus``, ``stream``,
``delivery_stream``, ``api_destination``."""


def build_target(
    cfg: TargetConfig,
    ctx: TargetContext,
    *,
    registry: Mapping[str, TargetFactory] | None = None,
    where: str = "",
) -> Target:
    """Build the target ``cfg`` describes.

    Args:
        cfg: one target's configuration (any model of the ``TargetConfig`` union).
        ctx: what factories may use.
        registry: the factories to choose from; :data:`TARGET_TYPES` by default.
        where: the target's place in the configuration, for error messages
            (``rules[0].targets[1]``).

    Raises:
        ConfigError: no factory for the type, or the factory refused the configuration.
    """
    factories = TARGET_TYPES if registry is None else registry
    kind = str(getattr(cfg, "type", ""))
    factory = factories.get(kind)
    if factory is None:
        known = ", ".join(sorted(factories))
        raise ConfigError(
            f"unknown target type {kind!r}; known types: {known}.", path=f"{where}.type"
        )
    return factory(cfg, ctx)
