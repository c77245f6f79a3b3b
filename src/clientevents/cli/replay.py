"""``clientevents replay``: start, watch, cancel and list replays of archived events.

The commands call a running deployment's admin API (``/admin/api/replays...``), signed with
the admin key, so they work against a remote one as well as this machine's: ``--endpoint-url``
(default ``$CLIENTEVENTS_ENDPOINT_URL``, then ``http://127.0.0.1:8080``), and the key from
``--data-dir`` / ``--config`` or the ``CLIENTEVENTS_ADMIN_*`` variables. The server checks
archives and rules against its configuration. ``start`` only records the replay; the workers
run it. Output is a table for people, or with ``--json`` JSON in EventBridge's field names
(``DescribeReplay``, ``ListReplays``); an error exits with status 1 and says what was wrong.

::

    clientevents replay start --name fix-42 --archive client_event_archive \\
        --from 2026-11-27T05:00:00Z --to 2026-11-27T06:00:00Z --rule client_events_to_lake
    clientevents replay status fix-42
    clientevents replay cancel fix-42
    clientevents replay list --state RUNNING
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from clientevents.archive import REPLAY_STATES
from clientevents.cli import output
from clientevents.cli.remote import admin_client, admin_options
from clientevents.events.envelope import parse_time

__all__ = ["replay"]


def _time(value: str, option: str) -> str:
    try:
        parse_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None
    return value


def _show(replay: dict[str, Any], as_json: bool) -> None:
    """A replay of the admin API in ``DescribeReplay``'s fields."""
    if as_json:
        output.echo_json(replay["aws"])
    else:
        output.record(replay["aws"])


@click.group("replay")
def replay() -> None:
    """Replay archived events back onto their bus (EventBridge StartReplay).

    \b
    Example:
      clientevents replay start --name fix-42 --archive client_event_archive \\
          --from 2026-11-27T05:00:00Z --to 2026-11-27T06:00:00Z
      clientevents replay status fix-42
    """


@replay.command("start")
@click.option("--name", required=True, help="Replay name: 1-64 of A-Z a-z 0-9 . - _; unique.")
@click.option("--archive", required=True, help="Archive name or ARN; its bus gets the events.")
@click.option("--from", "start", required=True,
              help="EventStartTime, RFC 3339 (2026-11-27T05:00:00Z), inclusive.")
@click.option("--to", "end", required=True,
              help="EventEndTime, RFC 3339, exclusive.")
@click.option("--rule", "rules", multiple=True,
              help="Replay only to this rule (name or ARN); repeat for several [default: all].")
@click.option("--description", default="", help="Free text, at most 512 characters.")
@admin_options
@output.json_option()
def start(name: str, archive: str, start: str, end: str, rules: tuple[str, ...],
          description: str, endpoint_url: str, data_dir: Path | None, config_file: Path | None,
          as_json: bool) -> None:
    """Record a replay; the workers run it. Prints the replay (State STARTING).

    \b
    Example:
      clientevents replay start --name fix-42 --archive client_event_archive \\
          --from 2026-11-27T05:00:00Z --to 2026-11-27T06:00:00Z \\
          --rule client_events_to_lake
    """
    body = {"name": name, "archive": archive, "start": _time(start, "--from"),
            "end": _time(end, "--to"), "rules": list(rules) or None,
            "description": description}
    with admin_client(endpoint_url, config_file, data_dir) as admin:
        _show(admin.post("/replays", body), as_json)


@replay.command("status")
@click.argument("name")
@admin_options
@output.json_option()
def status(name: str, endpoint_url: str, data_dir: Path | None, config_file: Path | None,
           as_json: bool) -> None:
    """Print replay NAME (DescribeReplay): state, window and progress.

    \b
    Example:
      clientevents replay status fix-42 --json
    """
    with admin_client(endpoint_url, config_file, data_dir) as admin:
        _show(admin.get(f"/replays/{name}"), as_json)


@replay.command("cancel")
@click.argument("name")
@admin_options
@output.json_option()
def cancel(name: str, endpoint_url: str, data_dir: Path | None, config_file: Path | None,
           as_json: bool) -> None:
    """Cancel replay NAME (STARTING or RUNNING); prints it, State CANCELLING.

    \b
    Example:
      clientevents replay cancel fix-42
    """
    with admin_client(endpoint_url, config_file, data_dir) as admin:
        _show(admin.post(f"/replays/{name}/cancel"), as_json)


@replay.command("list")
@click.option("--state", type=click.Choice(REPLAY_STATES), default=None,
              help="Only replays in this state.")
@click.option("--archive", default=None, help="Only replays of this archive (name or ARN).")
@click.option("--name-prefix", default=None, help="Only replays whose name starts so.")
@admin_options
@output.json_option()
def list_replays(state: str | None, archive: str | None, name_prefix: str | None,
                 endpoint_url: str, data_dir: Path | None, config_file: Path | None,
                 as_json: bool) -> None:
    """List replays, newest first (ListReplays; --json: {"Replays": [...]}).

    \b
    Example:
      clientevents replay list --state RUNNING
    """
    with admin_client(endpoint_url, config_file, data_dir) as admin:
        found = admin.get("/replays", state=state, archive=archive, name_prefix=name_prefix)
    replays = [r["aws"] for r in found["replays"]]
    if as_json:
        output.echo_json({"Replays": replays})
        return
    output.table(
        ("NAME", "STATE", "ARCHIVE", "FROM", "TO", "LAST REPLAYED", "EVENTS"),
        ((r["ReplayName"], r["State"], r["EventSourceArn"].rsplit("/", 1)[-1],
          r["EventStartTime"], r["EventEndTime"], r["EventLastReplayedTime"],
          r["EventsReplayed"]) for r in replays),
        empty="No replays.",
    )
