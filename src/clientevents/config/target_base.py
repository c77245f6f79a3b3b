"""What every rule target has: an id, input shaping, a retry policy and dead-lettering.

Target kinds subclass :class:`TargetBase` (in ``targets.py``, or in a module of their own
next to it when their settings are many) and join the union in ``targets.py``.
"""

from __future__ import annotations

import json

from pydantic import Field, field_validator, model_validator

from clientevents.config.base import ConfigModel, ConfigProblems, Name
from clientevents.config.rulelang import (
    check_constant_input,
    check_input_path,
    check_input_transformer,
)

__all__ = ["InputTransformerConfig", "RetryPolicy", "TargetBase"]


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
