"""``clientevents config``: facts about the configuration format."""

from __future__ import annotations

import json

import click

from clientevents.config import Settings

__all__ = ["config"]


@click.group("config")
def config() -> None:
    """The configuration file format (see docs/configuration.md)."""


@config.command("schema")
def schema() -> None:
    """Print the JSON Schema of a configuration file (for editors and CI checks)."""
    document = Settings.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "clientevents configuration"
    click.echo(json.dumps(document, indent=2, sort_keys=True))
