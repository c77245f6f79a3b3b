"""``clientevents archive``: list and describe archives (event count and size) as JSON.

::

    clientevents archive list
    clientevents archive describe client_event_archive

Both call a running deployment's admin API, like ``clientevents replay`` (``--endpoint-url``,
the admin key from ``--data-dir`` / ``--config`` or the environment). Output is a table, or
with ``--json`` JSON in EventBridge's field names (``ListArchives``, ``DescribeArchive``).
"""

from __future__ import annotations

from pathlib import Path

import click

from clientevents.cli import output
from clientevents.cli.remote import admin_client, admin_options

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
@admin_options
@output.json_option()
def list_archives(bus: str | None, name_prefix: str | None, endpoint_url: str,
                  data_dir: Path | None, config_file: Path | None, as_json: bool) -> None:
    """List archives with their event count and size (--json: {"Archives": [...]}).

    \b
    Example:
      clientevents archive list --bus client_event_bus
    """
    with admin_client(endpoint_url, config_file, data_dir) as admin:
        answer = admin.get("/archives", bus=bus, name_prefix=name_prefix)
    found = [a["aws"] for a in answer["archives"]]
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
@admin_options
@output.json_option()
def describe(name: str, endpoint_url: str, data_dir: Path | None, config_file: Path | None,
             as_json: bool) -> None:
    """Print archive NAME (DescribeArchive).

    \b
    Example:
      clientevents archive describe client_event_archive
    """
    with admin_client(endpoint_url, config_file, data_dir) as admin:
        info = admin.get(f"/archives/{name}")["aws"]
    if as_json:
        output.echo_json(info)
    else:
        output.record(info)
