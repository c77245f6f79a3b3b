"""``clientevents config``: facts about the configuration format."""

from __future__ import annotations

import json

import click

from clientevents.cli import output
from clientevents.config import Settings

__all__ = ["config"]


@click.group("config")
def config() -> None:
    """The configuration file format (docs/configuration.md, docs/configuration-reference.md).

    \b
    Example:
      clientevents config schema > clientevents.schema.json
    """


@config.command("schema")
@output.json_option()
def schema(as_json: bool) -> None:
    """Print the JSON Schema of a configuration file (for editors and CI checks); it is JSON
    with or without --json.

    \b
    Example:
      clientevents config schema > clientevents.schema.json
    """
    document = Settings.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "clientevents configuration"
    click.echo(json.dumps(document, indent=2, sort_keys=True))
