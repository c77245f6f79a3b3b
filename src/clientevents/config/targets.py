"""Rule targets: the settings every target shares and one model per target type.

A target is chosen by its ``type`` key (a discriminated union). To add a target type, define its
model here (a subclass of :class:`TargetBase` with ``type: Literal["<name>"]``) and add it to
:data:`TargetConfig`; :data:`TARGET_MODELS` and :data:`TARGET_TYPES` follow from that one line.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from clientevents.config.base import ConfigModel, ConfigProblems, Name
from clientevents.config.rulelang import (
    check_constant_input,
    check_input_path,
    check_input_transformer,
)

__all__ = [
    "TARGET_MODELS",
    "TARGET_TYPES",
    "BusTargetConfig",
    "InputTransformerConfig",
    "LogTargetConfig",
    "RetryPolicy",
    "StreamTargetConfig",
    "TargetBase",
    "TargetConfig",
]


class RetryPolicy(ConfigModel):
    """How long and how often a failed delivery is retried before it is dead-lettered."""

    maximum_event_age_secs: int = Field(
        default=86_400,
        ge=60,
        le=86_400,
        description="Give up on an event this many seconds after it was first enqueued "
        "(60 to 86400; EventBridge's default is 24 hours).",
    )
    maximum_retry_attempts: int = Field(
        default=185,
        ge=0,
        le=185,
        description="Retries after the first attempt (0 to 185; 0 = a single attempt).",
    )


class InputTransformerConfig(ConfigModel):
    """An EventBridge input transformer: JSON paths into variables, and a template using them."""

    input_paths_map: dict[str, str] = Field(
        default_factory=dict,
        max_length=100,
        description="Variable name -> JSON path into the event ($.detail.eventType). "
        "At most 100 entries.",
    )
    input_template: str = Field(
        max_length=8192,
        description="Text with <variable> placeholders; the predefined variables "
        "<aws.events.event>, <aws.events.event.json>, <aws.events.rule-name>, "
        "<aws.events.rule-arn> and <aws.events.event.ingestion-time> are available too.",
    )

    @model_validator(mode="after")
    def _check(self) -> InputTransformerConfig:
        problem = check_input_transformer(dict(self.input_paths_map), self.input_template)
        if problem:
            field = "input_paths_map" if problem.startswith("InputPathsMap") else "input_template"
            raise ConfigProblems([((field,), problem)])
        return self


class TargetBase(ConfigModel):
    """Settings every target has: its id, input shaping, retry policy and dead-lettering."""

    id: Name = Field(description="Unique within the rule; names the target's delivery queue.")
    input: str | None = Field(
        default=None,
        description="JSON text sent instead of the event (a constant). "
        "At most one of input, input_path, input_transformer.",
    )
    input_path: str | None = Field(
        default=None,
        min_length=1,
        description="JSON path of the part of the event to send, e.g. $.detail.",
    )
    input_transformer: InputTransformerConfig | None = Field(
        default=None, description="Build the target input from event values and a template."
    )
    retry_policy: RetryPolicy = Field(
        default_factory=RetryPolicy, description="Retry limits for failed deliveries."
    )
    dead_letter: bool = Field(
        default=True,
        description="Keep deliveries that exhausted their retries in the dead-letter queue "
        "(false drops them, counted in the metrics).",
    )

    @field_validator("input")
    @classmethod
    def _input_is_json(cls, value: str | None) -> str | None:
        if value is not None:
            problem = check_constant_input(value)
            if problem is None:
                try:  # the same check when the rule language is not available
                    json.loads(value)
                except ValueError as exc:
                    problem = f"input must be JSON text, for example '{{}}': {exc}"
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("input_path")
    @classmethod
    def _input_path_is_valid(cls, value: str | None) -> str | None:
        if value is not None:
            problem = check_input_path(value)
            if problem:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _one_input_shape(self) -> TargetBase:
        given = [
            name
            for name in ("input", "input_path", "input_transformer")
            if getattr(self, name) is not None
        ]
        if len(given) > 1:
            raise ConfigProblems(
                [
                    (
                        (given[1],),
                        f"a target takes at most one of input, input_path and "
                        f"input_transformer, but {' and '.join(given)} are set; keep one.",
                    )
                ]
            )
        return self


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


TargetConfig = Annotated[
    LogTargetConfig | BusTargetConfig | StreamTargetConfig,
    Field(discriminator="type"),
]
"""Any target, chosen by its ``type``. The one place that lists the target models."""

TARGET_MODELS: tuple[type[TargetBase], ...] = get_args(get_args(TargetConfig)[0])
"""The target models, in the order of :data:`TargetConfig`."""


def _type_of(model: type[TargetBase]) -> str:
    literal: Any = model.model_fields["type"].annotation
    return str(get_args(literal)[0])


TARGET_TYPES: tuple[str, ...] = tuple(_type_of(model) for model in TARGET_MODELS)
"""The ``type`` values, e.g. ``("log", "bus", "stream")``."""
