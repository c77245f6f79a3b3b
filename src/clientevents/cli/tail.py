"""``clientevents tail``: follow a bus, a rule's matches or a stream, live.

It reads the service's storage (``--data-dir``, or the configuration's ``storage:``) while
the service runs, through the components' read APIs (``tail_source.py``): a bus or a rule from
the event log the configuration chose (the state store's SQL log, or JetStream), a stream from
the state store. It is not a consumer group and acknowledges nothing.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click

from clientevents.cli import output
from clientevents.cli.options import common_options, open_database
from clientevents.cli.tail_source import BusSource, Item, RuleSource, Source, StreamSource
from clientevents.cli.test_pattern import load_json_argument
from clientevents.config import Settings
from clientevents.errors import StoreError
from clientevents.log.factory import configured_log
from clientevents.log.port import EventLogPort
from clientevents.patterns import EventPattern, InvalidEventPattern
from clientevents.store.port import StateStore

__all__ = ["tail"]


@contextlib.contextmanager
def _event_log(db: StateStore, settings: Settings) -> Iterator[EventLogPort]:
    """The event log the configuration chose, opened on demand and closed afterwards."""
    try:
        log = configured_log(settings, db, reads_only=True)
    except StoreError as exc:
        raise click.ClickException(f"Cannot open the event log: {exc}") from None
    try:
        yield log
    finally:
        log.close()


def _choose(db: StateStore, settings: Settings, bus: str | None, rule: str | None,
            stream: str | None, logs: contextlib.ExitStack) -> Source:
    given = [name for name, value in (("--bus", bus), ("--rule", rule), ("--stream", stream))
             if value is not None]
    if len(given) > 1:
        raise click.UsageError(
            f"Give one of --bus, --rule and --stream, not {' and '.join(given)}.")
    if rule is not None:
        found = {r.name: r for r in settings.rules}
        if rule not in found:
            known = ", ".join(found) or "none"
            raise click.BadParameter(
                f"rule {rule!r} is not in the configuration (rules: {known}); pass --config "
                "with the service's configuration file.", param_hint="--rule")
        if found[rule].state == "disabled":
            output.warn(f"Rule {rule} is disabled: the router sends it nothing; showing what "
                        "its pattern matches.")
        return RuleSource(logs.enter_context(_event_log(db, settings)), found[rule])
    if stream is not None:
        names = [s.name for s in settings.streams]
        if stream not in names:
            raise click.BadParameter(
                f"stream {stream!r} is not in the configuration (streams: "
                f"{', '.join(names) or 'none'}); pass --config with the service's "
                "configuration file.", param_hint="--stream")
        return StreamSource(db, settings, stream)
    buses = settings.bus_names()
    if bus is None:
        if len(buses) != 1:
            raise click.UsageError(
                f"Name what to follow with --bus, --rule or --stream (buses: "
                f"{', '.join(buses) or 'none'}).")
        bus = buses[0]
    if bus not in buses:
        raise click.BadParameter(
            f"bus {bus!r} is not in the configuration (buses: {', '.join(buses) or 'none'}); "
            "pass --config with the service's configuration file.", param_hint="--bus")
    return BusSource(logs.enter_context(_event_log(db, settings)), bus)


def _summary_line(item: Item) -> str:
    data = item.data
    if isinstance(data, dict) and "detail-type" in data:
        detail = data.get("detail")
        if not isinstance(detail, dict):
            detail = {}
        resources = data.get("resources") or ["-"]
        return "  ".join(str(x) for x in (
            data.get("time", "-"), data.get("detail-type", "-"), detail.get("eventType", "-"),
            resources[0] if isinstance(resources, list) and resources else "-",
            data.get("id", "-"),
        ))
    when = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(item.appended_at))
            if item.appended_at is not None else "-")
    text = " ".join(item.text.split())
    return f"{when}  #{item.cursor}  {text[:200]}"


def _show(item: Item, mode: str) -> None:
    if mode == "json":
        output.echo_json_line(item.data)
    elif mode == "line":
        click.echo(_summary_line(item))
    else:
        if output.console().is_terminal:
            output.console().print(f"[dim]── {item.origin}[/dim]")
        output.pretty_json(item.data)
    sys.stdout.flush()


@click.command("tail")
@click.option("--bus", default=None, help="Follow every event of this bus [default: the only "
              "bus of the configuration].")
@click.option("--rule", default=None, help="Follow the events this rule matches.")
@click.option("--stream", default=None, help="Follow this stream's records.")
@click.option("--pattern", "pattern_arg", default=None, metavar="FILE|JSON",
              help="Show only what this event pattern matches.")
@click.option("--one-line", is_flag=True,
              help="One line per event (time, detail-type, eventType, clientId, id).")
@click.option("--from-start", is_flag=True,
              help="Start with everything still retained, not only what arrives from now on.")
@click.option("--no-follow", is_flag=True, help="Stop at the end instead of waiting for more.")
@click.option("--count", type=click.IntRange(min=1), default=None,
              help="Stop after this many.")
@click.option("--interval-secs", type=click.FloatRange(min=0.01), default=0.2,
              show_default=True, help="How often to look for new events.")
@common_options
@output.json_option()
def tail(bus: str | None, rule: str | None, stream: str | None, pattern_arg: str | None,
         one_line: bool, from_start: bool, no_follow: bool, count: int | None,
         interval_secs: float, data_dir: Path | None, config_file: Path | None,
         as_json: bool) -> None:
    """Follow a bus, a rule's matches or a stream as events arrive (Ctrl-C stops).

    Events print as indented JSON, or one line each with --one-line, or as JSON Lines with
    --json (for scripts). It reads the service's event log (SQL or JetStream, as the
    configuration says) or its streams, and acknowledges nothing.

    \b
    Example:
      clientevents tail --bus client_event_bus --one-line
      clientevents tail --rule loyalty_purchase_to_tickets
      clientevents tail --pattern '{"detail": {"eventType": ["purchase"]}}' --json
    """
    if as_json and one_line:
        raise click.UsageError("Give --json or --one-line, not both.")
    pattern = None
    if pattern_arg is not None:
        try:
            pattern = EventPattern(load_json_argument(pattern_arg, "pattern"))
        except InvalidEventPattern as exc:
            raise click.BadParameter(str(exc), param_hint="--pattern") from None
    mode = "json" if as_json else "line" if one_line else "pretty"
    with open_database(data_dir, config_file) as (db, settings), contextlib.ExitStack() as logs:
        source = _choose(db, settings, bus, rule, stream, logs)
        try:
            _follow(source, pattern, mode, from_start=from_start, no_follow=no_follow,
                    count=count, interval_secs=interval_secs, as_json=as_json)
        except StoreError as exc:
            raise click.ClickException(f"Cannot read {source.label}: {exc}") from None


def _follow(source: Source, pattern: EventPattern | None, mode: str, *, from_start: bool,
            no_follow: bool, count: int | None, interval_secs: float, as_json: bool) -> None:
    cursor = source.start(from_start)
    if not as_json:
        where = "from the start" if from_start else "from now on"
        output.note(f"Following {source.label} {where}"
                    + ("" if no_follow else "; Ctrl-C stops") + ".")
    shown = 0
    try:
        while True:
            before = cursor
            items, cursor = source.poll(cursor, pattern)
            for item in items:
                _show(item, mode)
                shown += 1
                if count is not None and shown >= count:
                    return
            if cursor == before:  # caught up
                if no_follow:
                    return
                time.sleep(interval_secs)
    except KeyboardInterrupt:
        return
