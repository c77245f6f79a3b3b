"""``clientevents dlq``: list, show, redrive and purge dead-lettered deliveries.

The commands call a running deployment's admin API (``/admin/api/dead-letters...``), signed
with the admin key, so they work against a remote one as well as this machine's:
``--endpoint-url`` (default ``$CLIENTEVENTS_ENDPOINT_URL``, then ``http://127.0.0.1:8080``),
and the key from ``--data-dir`` / ``--config`` or the ``CLIENTEVENTS_ADMIN_*`` variables.
The server redrives only entries of targets its configuration has.

::

    clientevents dlq list --rule client_events_to_lake --limit 20
    clientevents dlq show 42
    clientevents dlq redrive 42 43
    clientevents dlq redrive --all --target lake
    clientevents dlq purge --all --yes
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from clientevents.admin.client import AdminClient, AdminClientError
from clientevents.cli import output
from clientevents.cli.remote import admin_client, admin_options

__all__ = ["dlq"]

F = TypeVar("F", bound=Callable[..., Any])

PAGE = 500
"""The admin API's largest page of dead letters."""


def _filters(fn: F) -> F:
    fn = click.option("--target", default=None,
                      help="Only this target: its id, or bus/rule/target.")(fn)
    fn = click.option("--rule", default=None, help="Only entries of this rule.")(fn)
    fn = click.option("--bus", default=None, help="Only entries of this bus.")(fn)
    return fn


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _table(entries: Sequence[dict[str, Any]], caption: str) -> None:
    output.table(
        ("ID", "FAILED AT", "TARGET", "EXHAUSTED", "ATTEMPTS", "ERROR"),
        ((e["id"], _when(e["failed_at"]), e["target_key"], e["exhausted"], e["attempts"],
          _clip(f"{e['error_code']}: {e['error_message']}", 100)) for e in entries),
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


def _body(ids: list[int] | None, bus: str | None, rule: str | None,
          target: str | None) -> dict[str, Any]:
    if ids is not None:
        return {"ids": ids}
    return {"all": True, **{k: v for k, v in (("bus", bus), ("rule", rule),
                                               ("target", target)) if v}}


def _page(admin: AdminClient, *, bus: str | None, rule: str | None, target: str | None,
          limit: int, after_id: int) -> tuple[list[dict[str, Any]], int]:
    """Up to ``limit`` entries after ``after_id`` (several API pages when needed), and the
    total matching the filters."""
    entries: list[dict[str, Any]] = []
    total = 0
    while len(entries) < limit:
        answer = admin.get("/dead-letters", bus=bus, rule=rule, target=target,
                           limit=min(PAGE, limit - len(entries)), after_id=after_id)
        entries += answer["entries"]
        total = answer["total"]
        if "next_after_id" not in answer:
            break
        after_id = answer["next_after_id"]
    return entries, total


@click.group("dlq")
def dlq() -> None:
    """Inspect and recover dead-lettered deliveries (through the admin API).

    \b
    Example:
      clientevents dlq list --rule client_events_to_lake
      clientevents dlq show 42
      clientevents dlq redrive --all --target lake
    """


@dlq.command("list")
@admin_options
@_filters
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Most entries to show.")
@click.option("--after-id", type=click.IntRange(min=0), default=0,
              help="Show entries with larger ids (paging).")
@output.json_option(legacy_format=True)
def list_entries(
    endpoint_url: str, data_dir: Path | None, config_file: Path | None, bus: str | None,
    rule: str | None, target: str | None, limit: int, after_id: int, as_json: bool,
) -> None:
    """List entries, oldest first.

    \b
    Example:
      clientevents dlq list --rule client_events_to_lake --limit 20 --json
    """
    with admin_client(endpoint_url, config_file, data_dir) as admin:
        entries, total = _page(admin, bus=bus, rule=rule, target=target, limit=limit,
                               after_id=after_id)
    if as_json:
        output.echo_json(entries)
        return
    _table(entries, f"{len(entries)} shown of {total}.")


@dlq.command("show")
@admin_options
@click.argument("entry_ids", type=int, nargs=-1, required=True)
@output.json_option()
def show(endpoint_url: str, data_dir: Path | None, config_file: Path | None,
         entry_ids: tuple[int, ...], as_json: bool) -> None:
    """Show entries in full, payload included (JSON, highlighted on a terminal).

    \b
    Example:
      clientevents dlq show 42 43
    """
    found: list[dict[str, Any]] = []
    missing: list[str] = []
    with admin_client(endpoint_url, config_file, data_dir) as admin:
        for entry_id in entry_ids:
            try:
                found.append(admin.get(f"/dead-letters/{entry_id}"))
            except AdminClientError as exc:
                if exc.status != 404:
                    raise
                missing.append(str(entry_id))
    if found:
        document: Any = found[0] if len(entry_ids) == 1 else found
        if as_json:
            output.echo_json(document)
        else:
            output.pretty_json(document)
    if missing:
        raise click.ClickException(f"No dead-letter entry with id {', '.join(missing)}.")


@dlq.command("redrive")
@admin_options
@_filters
@click.argument("entry_ids", type=int, nargs=-1)
@click.option("--all", "select_all", is_flag=True, help="Every entry matching the filters.")
@click.option("--include-transform-errors", is_flag=True,
              help="Redrive TransformError entries too (their payload is the unshaped event).")
@output.json_option(legacy_format=True)
def redrive(
    endpoint_url: str, data_dir: Path | None, config_file: Path | None, bus: str | None,
    rule: str | None, target: str | None, entry_ids: tuple[int, ...], select_all: bool,
    include_transform_errors: bool, as_json: bool,
) -> None:
    """Put entries back on their targets' queues as fresh deliveries.

    \b
    Example:
      clientevents dlq redrive 42 43
      clientevents dlq redrive --all --target lake
    """
    ids = _selection(entry_ids, select_all, "redrive")
    body = {**_body(ids, bus, rule, target), "include_transform_errors": include_transform_errors}
    with admin_client(endpoint_url, config_file, data_dir) as admin:
        result = admin.post("/dead-letters/redrive", body)
    if as_json:
        output.echo_json(result)
        return
    count = len(result["redriven"])
    output.success(f"Redrove {count} {'entry' if count == 1 else 'entries'}"
                   + (f": {', '.join(map(str, result['redriven']))}." if count else "."))
    for entry_id, reason in result["skipped"].items():
        output.console().print(f"Left {entry_id}: {reason}.", markup=False)


@dlq.command("purge")
@admin_options
@_filters
@click.argument("entry_ids", type=int, nargs=-1)
@click.option("--all", "select_all", is_flag=True, help="Every entry matching the filters.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@output.json_option()
def purge(
    endpoint_url: str, data_dir: Path | None, config_file: Path | None, bus: str | None,
    rule: str | None, target: str | None, entry_ids: tuple[int, ...], select_all: bool,
    yes: bool, as_json: bool,
) -> None:
    """Delete entries for good.

    \b
    Example:
      clientevents dlq purge 42
      clientevents dlq purge --all --rule client_events_to_lake --yes
    """
    ids = _selection(entry_ids, select_all, "purge")
    with admin_client(endpoint_url, config_file, data_dir) as admin:
        if ids is None and not yes:
            _, count = _page(admin, bus=bus, rule=rule, target=target, limit=1, after_id=0)
            if count:
                click.confirm(f"Delete {count} dead-letter entries for good?", abort=True)
        deleted = admin.post("/dead-letters/purge", _body(ids, bus, rule, target))["purged"]
    if as_json:
        output.echo_json({"purged": deleted})
    else:
        output.success(f"Purged {deleted} {'entry' if deleted == 1 else 'entries'}.")
