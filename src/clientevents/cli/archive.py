"""``clientevents archive``: list and describe archives (event count and size) as JSON.

::

    clientevents archive list
    clientevents archive describe client_event_archive

Both take ``--data-dir`` and ``--config`` like ``clientevents replay``. Output uses
EventBridge's field names (``ListArchives``, ``DescribeArchive``).
"""

from __future__ import annotations

from pathlib import Path

import click

from clientevents.archive import Archives
from clientevents.cli.options import common_options, echo_json, open_database
from clientevents.errors import ClientEventsError

__all__ = ["archive"]


@click.group("archive")
def archive() -> None:
    """Inspect the archives the configuration defines."""


@archive.command("list")
@click.option("--bus", default=None, help="Only archives of this bus.")
@click.option("--name-prefix", default=None, help="Only archives whose name starts so.")
@common_options
def list_archives(bus: str | None, name_prefix: str | None, data_dir: Path | None,
                  config_file: Path | None) -> None:
    """List archives with their event count and size: {"Archives": [...]}."""
    with open_database(data_dir, config_file) as (db, settings):
        found = Archives(db, settings).list(bus=bus, name_prefix=name_prefix)
        echo_json({"Archives": [info.to_dict() for info in found]})


@archive.command("describe")
@click.argument("name")
@common_options
def describe(name: str, data_dir: Path | None, config_file: Path | None) -> None:
    """Print archive NAME (DescribeArchive)."""
    with open_database(data_dir, config_file) as (db, settings):
        try:
            echo_json(Archives(db, settings).describe(name).to_dict())
        except ClientEventsError as exc:
            code = getattr(exc, "code", type(exc).__name__)
            raise click.ClickException(f"{code}: {exc}") from None
