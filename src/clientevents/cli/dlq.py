"""``clientevents dlq``: list, show, redrive and purge dead-lettered deliveries.

Every subcommand takes ``--data-dir DIR`` (the folder holding ``clientevents.db``; default: the
configuration's ``data_dir``, ``./data``) and ``--config FILE``. With ``--config``, ``redrive``
also leaves alone the entries of targets the configuration does not have. The commands work
while the service runs (the database serialises writers).

::

    clientevents dlq list --rule to_lake --limit 20
    clientevents dlq show 42
    clientevents dlq redrive 42 43
    clientevents dlq redrive --all --target lake
    clientevents dlq purge --all --yes
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from clientevents.cli.options import common_options, echo_json, open_database
from clientevents.targets.dlq import DeadLetterEntry, DeadLetterQueue, RedriveResult

__all__ = ["dlq"]

F = TypeVar("F", bound=Callable[..., Any])


def _filters(fn: F) -> F:
    fn = click.option("--target", default=None,
                      help="Only this target: its id, or bus/rule/target.")(fn)
    fn = click.option("--rule", default=None, help="Only entries of this rule.")(fn)
    fn = click.option("--bus", default=None, help="Only entries of this bus.")(fn)
    return fn


def _format(default: str) -> Callable[[F], F]:
    return click.option(
        "--format", "output", type=click.Choice(["table", "json"]), default=default,
        show_default=True, help="Output format.",
    )


@contextmanager
def _open(data_dir: Path | None, config_file: Path | None) -> Iterator[DeadLetterQueue]:
    with open_database(data_dir, config_file) as (db, settings):
        yield DeadLetterQueue(db, settings if config_file else None)


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _table(entries: Sequence[DeadLetterEntry]) -> None:
    header = ("ID", "FAILED AT", "TARGET", "EXHAUSTED", "ATTEMPTS", "ERROR")
    lines = [
        (str(e.id), _when(e.failed_at), e.target_key, e.exhausted, str(e.attempts),
         f"{e.error_code}: {e.error_message}")
        for e in entries
    ]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header) - 1)]
    for row in [header, *lines]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, _clip(row[-1], 100)]).rstrip())


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _selection(ids: Sequence[int], select_all: bool, verb: str) -> list[int] | None:
    if ids and select_all:
        raise click.UsageError(f"Give entry ids or --all, not both, to {verb}.")
    if not ids and not select_all:
        raise click.UsageError(
            f"Name the entries to {verb} by id, or pass --all (narrowed by --bus, --rule, "
            "--target)."
        )
    return None if select_all else list(ids)


@click.group("dlq")
def dlq() -> None:
    """Inspect and recover dead-lettered deliveries."""


@dlq.command("list")
@common_options
@_filters
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Most entries to show.")
@click.option("--after-id", type=click.IntRange(min=0), default=0,
              help="Show entries with larger ids (paging).")
@_format("table")
def list_entries(
    data_dir: Path | None, config_file: Path | None, bus: str | None, rule: str | None,
    target: str | None, limit: int, after_id: int, output: str,
) -> None:
    """List entries, oldest first."""
    with _open(data_dir, config_file) as queue:
        entries = queue.list(bus=bus, rule=rule, target=target, limit=limit, after_id=after_id)
        total = queue.count(bus=bus, rule=rule, target=target)
    if output == "json":
        echo_json([e.to_dict() for e in entries])
        return
    if not entries:
        click.echo("No dead-lettered deliveries.")
        return
    _table(entries)
    click.echo(f"{len(entries)} shown of {total}.")


@dlq.command("show")
@common_options
@click.argument("entry_ids", type=int, nargs=-1, required=True)
def show(data_dir: Path | None, config_file: Path | None, entry_ids: tuple[int, ...]) -> None:
    """Show entries in full (JSON), payload included."""
    with _open(data_dir, config_file) as queue:
        found = {i: queue.get(i) for i in entry_ids}
    missing = [str(i) for i, entry in found.items() if entry is None]
    entries = [entry.to_dict() for entry in found.values() if entry is not None]
    if entries:
        echo_json(entries[0] if len(entry_ids) == 1 else entries)
    if missing:
        raise click.ClickException(f"No dead-letter entry with id {', '.join(missing)}.")


@dlq.command("redrive")
@common_options
@_filters
@click.argument("entry_ids", type=int, nargs=-1)
@click.option("--all", "select_all", is_flag=True, help="Every entry matching the filters.")
@click.option("--include-transform-errors", is_flag=True,
              help="Redrive TransformError entries too (their payload is the unshaped event).")
@_format("table")
def redrive(
    data_dir: Path | None, config_file: Path | None, bus: str | None, rule: str | None,
    target: str | None, entry_ids: tuple[int, ...], select_all: bool,
    include_transform_errors: bool, output: str,
) -> None:
    """Put entries back on their targets' queues as fresh deliveries."""
    ids = _selection(entry_ids, select_all, "redrive")
    with _open(data_dir, config_file) as queue:
        result = queue.redrive(ids, bus=bus, rule=rule, target=target,
                               include_transform_errors=include_transform_errors)
    _report(result, output)


def _report(result: RedriveResult, output: str) -> None:
    if output == "json":
        echo_json({"redriven": result.redriven,
               "skipped": {str(k): v for k, v in result.skipped.items()}})
        return
    count = len(result.redriven)
    click.echo(f"Redrove {count} {'entry' if count == 1 else 'entries'}"
               + (f": {', '.join(map(str, result.redriven))}." if count else "."))
    for entry_id, reason in result.skipped.items():
        click.echo(f"Left {entry_id}: {reason}.")


@dlq.command("purge")
@common_options
@_filters
@click.argument("entry_ids", type=int, nargs=-1)
@click.option("--all", "select_all", is_flag=True, help="Every entry matching the filters.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge(
    data_dir: Path | None, config_file: Path | None, bus: str | None, rule: str | None,
    target: str | None, entry_ids: tuple[int, ...], select_all: bool, yes: bool,
) -> None:
    """Delete entries for good."""
    ids = _selection(entry_ids, select_all, "purge")
    with _open(data_dir, config_file) as queue:
        if ids is None and not yes:
            count = queue.count(bus=bus, rule=rule, target=target)
            if count == 0:
                click.echo("Purged 0 entries.")
                return
            click.confirm(f"Delete {count} dead-letter entries for good?", abort=True)
        deleted = queue.purge(ids, bus=bus, rule=rule, target=target)
    click.echo(f"Purged {deleted} {'entry' if deleted == 1 else 'entries'}.")
