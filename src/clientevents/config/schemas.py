"""JSON Schemas that the gateway checks entries against, per ``detail.eventType``.

A schema is given inline (``schema:``) or in a file (``schema_file:``, JSON or YAML, relative to
the configuration file's folder). The file is read and checked when the configuration loads, so
``schema`` always holds the schema afterwards and consumers never open ``schema_file``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import yaml
from jsonschema.exceptions import SchemaError
from jsonschema.validators import Draft202012Validator, validator_for
from pydantic import Field, ValidationInfo, model_validator

from clientevents.config.base import ConfigModel, ConfigProblems

__all__ = ["SchemaConfig"]


def _read_schema_file(name: str, base_dir: Path) -> tuple[Path, Any]:
    path = Path(name)
    if not path.is_absolute():
        path = base_dir / path
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigProblems(
            [(("schema_file",), f"cannot read schema file {str(path)!r}: {exc}")]
        ) from None
    try:
        loaded = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigProblems(
            [(("schema_file",), f"schema file {str(path)!r} does not parse: {exc}")]
        ) from None
    return path, loaded


with warnings.catch_warnings():
    # The YAML key is "schema", which shadows pydantic's deprecated BaseModel.schema();
    # instance attribute access returns the field, as for every other key.
    warnings.filterwarnings("ignore", message='Field name "schema"', category=UserWarning)

    class SchemaConfig(ConfigModel):
        """A JSON Schema for the ``detail`` of events of one type (and optionally one version)."""

        event_type: str = Field(min_length=1, description="The entry's eventType it applies to.")
        schema_version: int | None = Field(
            default=None,
            description="The entry's schemaVersion it applies to; none = every version.",
        )
        schema: dict[str, Any] | None = Field(
            # type: ignore[assignment]
            default=None,
            description="The JSON Schema (any draft; 2020-12 when $schema is absent).",
        )
        schema_file: Path | None = Field(
            default=None,
            description="A JSON or YAML file holding the schema, relative to the "
            "configuration file's folder.",
        )

        @model_validator(mode="before")
        @classmethod
        def _load_file(cls, data: Any, info: ValidationInfo) -> Any:
            if not isinstance(data, dict) or not isinstance(data.get("schema_file"), str | Path):
                return data  # absent, or a wrong type the field itself reports
            if data.get("schema") is not None:
                raise ConfigProblems(
                    [(("schema_file",), "give either schema or schema_file, not both.")]
                )
            context = info.context if isinstance(info.context, dict) else {}
            base_dir = Path(context.get("base_dir") or ".")
            path, schema = _read_schema_file(str(data["schema_file"]), base_dir)
            return {**data, "schema": schema, "schema_file": path}

        @model_validator(mode="after")
        def _check_schema(self) -> SchemaConfig:
            if self.schema is None:
                raise ConfigProblems([(("schema",), "give a schema or a schema_file.")])
            where = "schema_file" if self.schema_file is not None else "schema"
            try:
                # An explicit default: an unknown $schema falls back to 2020-12 without a warning.
                validator_for(self.schema, Draft202012Validator).check_schema(self.schema)
            except SchemaError as exc:
                at = "/".join(str(part) for part in exc.path)
                raise ConfigProblems(
                    [
                        (
                            (where,),
                            f"not a valid JSON Schema{' at ' + at if at else ''}: {exc.message}",
                        )
                    ]
                ) from None
            return self
