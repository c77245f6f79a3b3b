"""``clientevents replay``: start, watch, cancel and list replays of archived events.

Every subcommand takes ``--data-dir DIR`` (the folder holding ``clientevents.db``; default: the
configuration's ``data_dir``) and ``--config FILE`` (archives and rules are checked against it;
default: the embedded blueprint). ``start`` only records the replay; the workers
(``clientevents worker`` or ``serve``) run it. Output is a table for people, or with ``--json``
JSON in EventBridge's field names (``DescribeReplay``, ``ListReplays``); an error exits with
status 1 and names its EventBridge error code.

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

from clientevents.archive import REPLAY_STATES, Replays
from clientevents.cli import output
from clientevents.cli.options import common_options, open_database
from clientevents.errors import ClientEventsError
from clientevents.events.envelope import parse_time

__all__ = ["replay"]

def _fail(exc: ClientEventsError) -> click.ClickException:
    code = getattr(exc, "code", type(exc).__name__)
    return click.ClickException(f"{code}: {exc}")


def _time(value: str, option: str) -> float:
    try:
        return parse_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def _show(replay: dict[str, Any], as_json: bool) -> None:
    if as_json:
        output.echo_json(replay)
    else:
        output.record(replay)


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
@common_options
@output.json_option()
def start(name: str, archive: str, start: str, end: str, rules: tuple[str, ...],
          description: str, data_dir: Path | None, config_file: Path | None,
          as_json: bool) -> None:
    """Record a replay; the workers run it. Prints the replay (State STARTING).

    \b
    Example:
      clientevents replay start --name fix-42 --archive client_event_archive \\
          --from 2026-11-27T05:00:00Z --to 2026-11-27T06:00:00Z \\
          --rule client_events_to_lake
    """
    start_secs = _time(start, "--from")
    end_secs = _time(end, "--to")
    with open_database(data_dir, config_file) as (db, settings):
        try:
            started = Replays(db, settings).start_replay(
                name, archive, start_secs, end_secs, rules=list(rules) or None,
                description=description,
            )
        except ClientEventsError as exc:
            raise _fail(exc) from None
        _show(started.to_dict(), as_json)


@replay.command("status")
@click.argument("name")
@common_options
@output.json_option()
def status(name: str, data_dir: Path | None, config_file: Path | None, as_json: bool) -> None:
    """Print replay NAME (DescribeReplay): state, window and progress.

    \b
    Example:
      clientevents replay status fix-42 --json
    """
    with open_database(data_dir, config_file) as (db, settings):
        try:
            _show(Replays(db, settings).describe(name).to_dict(), as_json)
        except ClientEventsError as exc:
            raise _fail(exc) from None


@replay.command("cancel")
@click.argument("name")
@common_options
@output.json_option()
def cancel(name: str, data_dir: Path | None, config_file: Path | None, as_json: bool) -> None:
    """Cancel replay NAME (STARTING or RUNNING); prints it, State CANCELLING.

    \b
    Example:
      clientevents replay cancel fix-42
    """
    with open_database(data_dir, config_file) as (db, settings):
        try:
            _show(Replays(db, settings).cancel(name).to_dict(), as_json)
        except ClientEventsError as exc:
            raise _fail(exc) from None


@replay.command("list")
@click.option("--state", type=click.Choice(REPLAY_STATES), default=None,
              help="Only replays in this state.")
@click.option("--archive", default=None, help="Only replays of this archive (name or ARN).")
@click.option("--name-prefix", default=None, help="Only replays whose name starts so.")
@common_options
@output.json_option()
def list_replays(state: str | None, archive: str | None, name_prefix: str | None,
                 data_dir: Path | None, config_file: Path | None, as_json: bool) -> None:
    """List replays, newest first (ListReplays; --json: {"Replays": [...]}).

    \b
    Example:
      clientevents replay list --state RUNNING
    """
    with open_database(data_dir, config_file) as (db, settings):
        try:
            found = Replays(db, settings).list(state, archive=archive, name_prefix=name_prefix)
        except ClientEventsError as exc:
            raise _fail(exc) from None
    replays = [r.to_dict() for r in found]
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
