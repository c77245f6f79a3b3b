"""``clientevents secrets``: the encrypted secret store (set, get, list, delete).

The store is write-only from the command line: ``get`` and ``list`` describe a secret (JSON or
text, its keys, its size, when it changed, the fingerprint of the key that sealed it) and never
print its value. A value enters through a file, an environment variable, standard input or a
hidden prompt, never through an argument (arguments show in ``ps`` and shell history).

::

    clientevents secrets set proto/zendesk --from-file zendesk.json
    printf '%s' "$TOKEN" | clientevents secrets set webhooks/token
    clientevents secrets get proto/zendesk
    clientevents secrets list --format json
    clientevents secrets delete proto/zendesk

Every subcommand takes ``--data-dir`` and ``--config`` (for ``data_dir``), like ``dlq``. The
master key comes from ``CLIENTEVENTS_SECRETS_KEY``, ``CLIENTEVENTS_SECRETS_KEY_FILE`` or
``<data dir>/secrets.key`` (created with mode 0600 by the first ``set``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from clientevents.cli.options import DB_FILE, common_options, echo_json
from clientevents.config import default_settings, load_config
from clientevents.errors import ConfigError
from clientevents.secrets import (
    MasterKeyError,
    SecretError,
    SecretInfo,
    SecretStore,
    check_name,
    load_master_key,
)
from clientevents.store.engine import Database

__all__ = ["secrets"]

F = TypeVar("F", bound=Callable[..., Any])


def _format(fn: F) -> F:
    return click.option(
        "--format", "output", type=click.Choice(["table", "json"]), default="table",
        show_default=True, help="Output format.",
    )(fn)


@contextmanager
def open_store(
    data_dir: Path | None, config_file: Path | None, *, need_key: bool, create_key: bool = False
) -> Iterator[SecretStore]:
    """The secret store of the service's data dir (the database is created when missing)."""
    try:
        settings = load_config(config_file) if config_file else default_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    folder = data_dir if data_dir is not None else Path(settings.data_dir)
    try:
        key = load_master_key(folder, create=create_key)
    except MasterKeyError as exc:
        if need_key:
            raise click.ClickException(str(exc)) from None
        key = None
    db = Database(folder / DB_FILE)
    try:
        yield SecretStore(db, key)
    finally:
        db.close()


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _summary(info: SecretInfo) -> str:
    shape = f"JSON, keys: {', '.join(info.keys) or 'none'}" if info.kind == "json" else "text"
    return f"{shape}; {info.size} bytes"


def _read_value(name: str, from_file: Path | None, from_env: str | None) -> str:
    if from_file is not None and from_env is not None:
        raise click.UsageError("Give --from-file or --from-env, not both.")
    if from_file is not None:
        try:
            return from_file.read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise click.ClickException(f"Cannot read {from_file}: {exc.strerror}.") from None
    if from_env is not None:
        if from_env not in os.environ:
            raise click.ClickException(f"Environment variable {from_env!r} is not set.")
        return os.environ[from_env]
    if not sys.stdin.isatty():
        return sys.stdin.read().rstrip("\n")
    value: str = click.prompt(f"Value of {name}", hide_input=True, confirmation_prompt=True)
    return value


@click.group("secrets")
def secrets() -> None:
    """Store credentials encrypted in the data dir (values are never printed)."""


@secrets.command("set")
@common_options
@click.argument("name")
@click.option("--from-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Read the value from this file (one trailing newline is dropped).")
@click.option("--from-env", default=None, metavar="VAR",
              help="Read the value from this environment variable.")
def set_secret(data_dir: Path | None, config_file: Path | None, name: str,
               from_file: Path | None, from_env: str | None) -> None:
    """Store NAME's value (from --from-file, --from-env, standard input or a hidden prompt).

    A JSON object value can be read by key (connections' username_key, password_key, ...).
    """
    try:
        check_name(name)
    except SecretError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    value = _read_value(name, from_file, from_env)
    with open_store(data_dir, config_file, need_key=True, create_key=True) as store:
        try:
            replaced = store.set(name, value)
        except SecretError as exc:
            raise click.ClickException(str(exc)) from None
        info = store.describe(name)
    assert info is not None
    verb = "Replaced" if replaced else "Stored"
    click.echo(f"{verb} secret {name!r} ({_summary(info)}; key id {info.key_id}).")


@secrets.command("get")
@common_options
@click.argument("name")
@_format
def get_secret(data_dir: Path | None, config_file: Path | None, name: str, output: str) -> None:
    """Describe NAME: JSON or text, its keys, size and times. The value is never printed."""
    with open_store(data_dir, config_file, need_key=False) as store:
        info = store.describe(name)
    if info is None:
        raise click.ClickException(f"There is no secret {name!r}.")
    if output == "json":
        echo_json(info.to_dict())
        return
    click.echo(f"name       {info.name}")
    click.echo(f"value      {_summary(info)} (not shown: the store is write-only)")
    click.echo(f"key id     {info.key_id}")
    click.echo(f"created    {_when(info.created_at)}")
    click.echo(f"updated    {_when(info.updated_at)}")


@secrets.command("list")
@common_options
@_format
def list_secrets(data_dir: Path | None, config_file: Path | None, output: str) -> None:
    """List the stored secrets (names and shapes, never values)."""
    with open_store(data_dir, config_file, need_key=False) as store:
        infos = store.list()
    if output == "json":
        echo_json([info.to_dict() for info in infos])
        return
    if not infos:
        click.echo("No secrets.")
        return
    width = max(len("NAME"), *(len(i.name) for i in infos))
    click.echo(f"{'NAME'.ljust(width)}  {'UPDATED'.ljust(20)}  VALUE")
    for info in infos:
        click.echo(f"{info.name.ljust(width)}  {_when(info.updated_at).ljust(20)}  "
                   f"{_summary(info)}")


@secrets.command("delete")
@common_options
@click.argument("name")
def delete_secret(data_dir: Path | None, config_file: Path | None, name: str) -> None:
    """Delete NAME for good."""
    with open_store(data_dir, config_file, need_key=False) as store:
        deleted = store.delete(name)
    if not deleted:
        raise click.ClickException(f"There is no secret {name!r}.")
    click.echo(f"Deleted secret {name!r}.")
