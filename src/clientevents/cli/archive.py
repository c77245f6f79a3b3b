"""``clientevents archive``: list and describe archives (event count and size) as JSON.

::

    clientevents archive list
    clientevents archive describe client_event_archive

Both take ``--data-dir`` and ``--config`` like ``clientevents replay``. Output is a table, or
with ``--json`` JSON in EventBridge's field names (``ListArchives``, ``DescribeArchive``).
"""

from __future__ import annotations

from pathlib import Path

import click

from clientevents.archive import Archives
from clientevents.cli import output
from clientevents.cli.options import common_options, open_database
from clientevents.errors import ClientEventsError

__all__ = ["archive"]


@click.group("archive")
def archive() -> None:
    """Inspect the archives the configuration defines.

    \b
    Example:
      clientevents archive list
      clientevents archive describe client_event_archive --json
    """


@archive.command("list")
@click.option("--bus", default=None, help="Only archives of this bus.")
@click.option("--name-prefix", default=None, help="Only archives whose name starts so.")
@common_options
@output.json_option()
def list_archives(bus: str | None, name_prefix: str | None, data_dir: Path | None,
                  config_file: Path | None, as_json: bool) -> None:
    """List archives with their event count and size (--json: {"Archives": [...]}).

    \b
    Example:
      clientevents archive list --bus client_event_bus
    """
    with open_database(data_dir, config_file) as (db, settings):
        found = [info.to_dict() for info in
                 Archives(db, settings).list(bus=bus, name_prefix=name_prefix)]
    if as_json:
        output.echo_json({"Archives": found})
        return
    output.table(
        ("NAME", "BUS", "STATE", "EVENTS", "BYTES", "RETENTION DAYS"),
        ((a["ArchiveName"], a["EventSourceArn"].rsplit("/", 1)[-1], a["State"],
          a["EventCount"], a["SizeBytes"], a["RetentionDays"] or "forever") for a in found),
        empty="No archives.",
    )


@archive.command("describe")
@click.argument("name")
@common_options
@output.json_option()
def describe(name: str, data_dir: Path | None, config_file: Path | None, as_json: bool) -> None:
    """Print archive NAME (DescribeArchive).

    \b
    Example:
      clientevents archive describe client_event_archive
    """
    with open_database(data_dir, config_file) as (db, settings):
        try:
            info = Archives(db, settings).describe(name).to_dict()
        except ClientEventsError as exc:
            code = getattr(exc, "code", type(exc).__name__)
            raise click.ClickException(f"{code}: {exc}") from None
    if as_json:
        output.echo_json(info)
    else:
        output.record(info)
