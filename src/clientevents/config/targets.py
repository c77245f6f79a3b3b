"""Rule targets: one model per target kind, and the union that chooses one by ``type``.

To add a target kind, define its model (a subclass of :class:`TargetBase` with
``type: Literal["<name>"]``; here, or in its own module under ``config/`` when it has many
settings) and add it to :data:`TargetConfig`. :data:`TARGET_MODELS` and :data:`TARGET_TYPES`
follow from that one line; ``clientevents/targets/registry.py`` maps the type to its factory.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field

from clientevents.config.api_destinations import ApiDestinationTargetConfig
from clientevents.config.base import Name
from clientevents.config.target_base import InputTransformerConfig, RetryPolicy, TargetBase

__all__ = [
    "TARGET_MODELS",
    "TARGET_TYPES",
    "ApiDestinationTargetConfig",
    "BusTargetConfig",
    "DeliveryStreamTargetConfig",
    "InputTransformerConfig",
    "LogTargetConfig",
    "RetryPolicy",
    "StreamTargetConfig",
    "TargetBase",
    "TargetConfig",
]


class LogTargetConfig(TargetBase):
    """Append each delivery as one line to a file (or stdout)."""

    type: Literal["log"] = Field(description="Target type.")
    path: str = Field(
        min_length=1,
        description="File to append to, relative to data_dir unless absolute; '-' is stdout.",
    )


class BusTargetConfig(TargetBase):
    """Put each event on another bus (it keeps its id)."""

    type: Literal["bus"] = Field(description="Target type.")
    bus: Name = Field(description="Name of a bus under buses, other than the rule's own bus.")


class StreamTargetConfig(TargetBase):
    """Append each delivery to a named stream that consumer groups read."""

    type: Literal["stream"] = Field(description="Target type.")
    stream: Name = Field(description="Name of a stream under streams.")


class DeliveryStreamTargetConfig(TargetBase):
    """Hand each delivery to a delivery stream (buffered, processed, written as objects)."""

    type: Literal["delivery_stream"] = Field(description="Target type.")
    delivery_stream: Name = Field(description="Name of a stream under delivery_streams.")


TargetConfig = Annotated[
    LogTargetConfig
    | BusTargetConfig
    | StreamTargetConfig
    | DeliveryStreamTargetConfig
    | ApiDestinationTargetConfig,
    Field(discriminator="type"),
]
"""Any target, chosen by its ``type``. The one place that lists the target models."""

TARGET_MODELS: tuple[type[TargetBase], ...] = get_args(get_args(TargetConfig)[0])
"""The target models, in the order of :data:`TargetConfig`."""


def _type_of(model: type[TargetBase]) -> str:
    literal: Any = model.model_fields["type"].annotation
    return str(get_args(literal)[0])


TARGET_TYPES: tuple[str, ...] = tuple(_type_of(model) for model in TARGET_MODELS)
"""The ``type`` values, e.g. ``("log", "bus", "stream", "delivery_stream", "api_destination")``."""
