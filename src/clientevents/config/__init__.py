"""Configuration: the model, loading a YAML file, and the embedded default.

::

    from clientevents.config import load_config, default_settings

    settings = load_config("clientevents.yaml")   # or default_settings()
    settings = settings.with_data_dir("/var/lib/clientevents")
    lake = resolve_path(settings, settings.rules[0].targets[0].path)

See ``docs/configuration.md`` for every field.
"""

from __future__ import annotations

from clientevents.config.defaults import default_settings
from clientevents.config.errors import ConfigFileError, ConfigValidationError
from clientevents.config.loader import load_config, resolve_path, validate_settings
from clientevents.config.model import (
    TARGET_MODELS,
    TARGET_TYPES,
    ArchiveConfig,
    BusConfig,
    BusTargetConfig,
    DeliveryStreamConfig,
    DeliveryStreamTargetConfig,
    IdentitySettings,
    InputTransformerConfig,
    IssuerConfig,
    LimitsSettings,
    LogTargetConfig,
    RetryPolicy,
    RuleConfig,
    SchemaConfig,
    ServerSettings,
    Settings,
    StageConfig,
    StreamConfig,
    StreamTargetConfig,
    TargetConfig,
    UserPoolSettings,
)
from clientevents.errors import ConfigError

__all__ = [
    "TARGET_MODELS",
    "TARGET_TYPES",
    "ArchiveConfig",
    "BusConfig",
    "BusTargetConfig",
    "ConfigError",
    "ConfigFileError",
    "ConfigValidationError",
    "DeliveryStreamConfig",
    "DeliveryStreamTargetConfig",
    "IdentitySettings",
    "InputTransformerConfig",
    "IssuerConfig",
    "LimitsSettings",
    "LogTargetConfig",
    "RetryPolicy",
    "RuleConfig",
    "SchemaConfig",
    "ServerSettings",
    "Settings",
    "StageConfig",
    "StreamConfig",
    "StreamTargetConfig",
    "TargetConfig",
    "UserPoolSettings",
    "default_settings",
    "load_config",
    "resolve_path",
    "validate_settings",
]
