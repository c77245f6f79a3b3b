"""``clientevents dlq``: list, show, redrive and purge dead-lettered deliveries.

Every subcommand takes ``--data-dir DIR`` (the folder holding ``clientevents.db``; default: the
configuration's ``data_dir``, ``./data``) and ``--config FILE``. With ``--config``, ``redrive``
also leaves alone the entries of targets the configuration does not have. The commands work
while the service runs (the database serialises writers).

::

    clientevents dlq list --rule client_events_to_lake --limit 20
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

from clientevents.cli import output
from clientevents.cli.options import common_options, open_database
from clientevents.targets.dlq import DeadLetterEntry, DeadLetterQueue, RedriveResult

__all__ = ["dlq"]

F = TypeVar("F", bound=Callable[..., Any])


def _filters(fn: F) -> F:
    fn = click.option("--target", default=None,
                      help="Only this target: its id, or bus/rule/target.")(fn)
    fn = click.option("--rule", default=None, help="Only entries of this rule.")(fn)
    fn = click.option("--bus", default=None, help="Only entries of this bus.")(fn)
    return fn


@contextmanager
def _open(data_dir: Path | None, config_file: Path | None) -> Iterator[DeadLetterQueue]:
    with open_database(data_dir, config_file) as (db, settings):
        yield DeadLetterQueue(db, settings if config_file else None)


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _table(entries: Sequence[DeadLetterEntry], caption: str) -> None:
    output.table(
        ("ID", "FAILED AT", "TARGET", "EXHAUSTED", "ATTEMPTS", "ERROR"),
        ((e.id, _when(e.failed_at), e.target_key, e.exhausted, e.attempts,
          _clip(f"{e.error_code}: {e.error_message}", 100)) for e in entries),
        caption=caption, empty="No dead-lettered deliveries.",
    )


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
    """Inspect and recover dead-lettered deliveries.

    \b
    Example:
      clientevents dlq list --rule client_events_to_lake
      clientevents dlq show 42
      clientevents dlq redrive --all --target lake
    """


@dlq.command("list")
@common_options
@_filters
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Most entries to show.")
@click.option("--after-id", type=click.IntRange(min=0), default=0,
              help="Show entries with larger ids (paging).")
@output.json_option(legacy_format=True)
def list_entries(
    data_dir: Path | None, config_file: Path | None, bus: str | None, rule: str | None,
    target: str | None, limit: int, after_id: int, as_json: bool,
) -> None:
    """List entries, oldest first.

    \b
    Example:
      clientevents dlq list --rule client_events_to_lake --limit 20 --json
    """
    with _open(data_dir, config_file) as queue:
        entries = queue.list(bus=bus, rule=rule, target=target, limit=limit, after_id=after_id)
        total = queue.count(bus=bus, rule=rule, target=target)
    if as_json:
        output.echo_json([e.to_dict() for e in entries])
        return
    _table(entries, f"{len(entries)} shown of {total}.")


@dlq.command("show")
@common_options
@click.argument("entry_ids", type=int, nargs=-1, required=True)
@output.json_option()
def show(data_dir: Path | None, config_file: Path | None, entry_ids: tuple[int, ...],
         as_json: bool) -> None:
    """Show entries in full, payload included (JSON, highlighted on a terminal).

    \b
    Example:
      clientevents dlq show 42 43
    """
    with _open(data_dir, config_file) as queue:
        found = {i: queue.get(i) for i in entry_ids}
    missing = [str(i) for i, entry in found.items() if entry is None]
    entries = [entry.to_dict() for entry in found.values() if entry is not None]
    if entries:
        document = entries[0] if len(entry_ids) == 1 else entries
        if as_json:
            output.echo_json(document)
        else:
            output.pretty_json(document)
    if missing:
        raise click.ClickException(f"No dead-letter entry with id {', '.join(missing)}.")


@dlq.command("redrive")
@common_options
@_filters
@click.argument("entry_ids", type=int, nargs=-1)
@click.option("--all", "select_all", is_flag=True, help="Every entry matching the filters.")
@click.option("--include-transform-errors", is_flag=True,
              help="Redrive TransformError entries too (their payload is the unshaped event).")
@output.json_option(legacy_format=True)
def redrive(
    data_dir: Path | None, config_file: Path | None, bus: str | None, rule: str | None,
    target: str | None, entry_ids: tuple[int, ...], select_all: bool,
    include_transform_errors: bool, as_json: bool,
) -> None:
    """Put entries back on their targets' queues as fresh deliveries.

    \b
    Example:
      clientevents dlq redrive 42 43
      clientevents dlq redrive --all --target lake
    """
    ids = _selection(entry_ids, select_all, "redrive")
    with _open(data_dir, config_file) as queue:
        result = queue.redrive(ids, bus=bus, rule=rule, target=target,
                               include_transform_errors=include_transform_errors)
    _report(result, as_json)


def _report(result: RedriveResult, as_json: bool) -> None:
    if as_json:
        output.echo_json({"redriven": result.redriven,
                          "skipped": {str(k): v for k, v in result.skipped.items()}})
        return
    count = len(result.redriven)
    output.success(f"Redrove {count} {'entry' if count == 1 else 'entries'}"
                   + (f": {', '.join(map(str, result.redriven))}." if count else "."))
    for entry_id, reason in result.skipped.items():
        output.console().print(f"Left {entry_id}: {reason}.", markup=False)


@dlq.command("purge")
@common_options
@_filters
@click.argument("entry_ids", type=int, nargs=-1)
@click.option("--all", "select_all", is_flag=True, help="Every entry matching the filters.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@output.json_option()
def purge(
    data_dir: Path | None, config_file: Path | None, bus: str | None, rule: str | None,
    target: str | None, entry_ids: tuple[int, ...], select_all: bool, yes: bool,
    as_json: bool,
) -> None:
    """Delete entries for good.

    \b
    Example:
      clientevents dlq purge 42
      clientevents dlq purge --all --rule client_events_to_lake --yes
    """
    ids = _selection(entry_ids, select_all, "purge")
    deleted = 0
    with _open(data_dir, config_file) as queue:
        count = queue.count(bus=bus, rule=rule, target=target) if ids is None else len(ids)
        if count and ids is None and not yes:
            click.confirm(f"Delete {count} dead-letter entries for good?", abort=True)
        if count:
            deleted = queue.purge(ids, bus=bus, rule=rule, target=target)
    if as_json:
        output.echo_json({"purged": deleted})
    else:
        output.success(f"Purged {deleted} {'entry' if deleted == 1 else 'entries'}.")
