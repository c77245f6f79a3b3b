"""``clientevents validate FILE``: check a configuration file and name every problem."""

from __future__ import annotations

import sys

import click

from clientevents.config import ConfigFileError, ConfigValidationError, Settings, load_config
from clientevents.errors import ConfigError

__all__ = ["summary", "validate"]


def _count(number: int, singular: str, plural: str) -> str:
    return f"{number} {singular if number == 1 else plural}"


def summary(settings: Settings) -> str:
    """What a configuration defines, counted: "1 bus, 2 rules, 2 targets, ..."."""
    targets = sum(len(rule.targets) for rule in settings.rules)
    parts = [
        _count(len(settings.buses), "bus", "buses"),
        _count(len(settings.rules), "rule", "rules"),
        _count(targets, "target", "targets"),
        _count(len(settings.stages), "stage", "stages"),
        _count(len(settings.archives), "archive", "archives"),
        _count(len(settings.streams), "stream", "streams"),
        _count(len(settings.schemas), "schema", "schemas"),
        _count(len(settings.identity.issuers), "issuer", "issuers"),
    ]
    return ", ".join(parts)


@click.command("validate")
@click.argument("file", type=click.Path(dir_okay=True, path_type=str))
def validate(file: str) -> None:
    """Check the configuration FILE: exit 0 when valid, 1 with every problem listed, 2 when
    the file cannot be read."""
    try:
        settings = load_config(file)
    except ConfigFileError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    except ConfigValidationError as exc:
        click.echo(str(exc), err=True)
        count = _count(len(exc.problems), "problem", "problems")
        click.echo(f"{file} is not valid: {count}.", err=True)
        sys.exit(1)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        click.echo(f"{file} is not valid.", err=True)
        sys.exit(1)
    click.echo(f"{file} is valid: {summary(settings)}.")
