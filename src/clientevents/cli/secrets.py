"""``clientevents secrets``: the encrypted secret store (set, get, list, delete).

The store is write-only from the command line: ``get`` and ``list`` describe a secret (JSON or
text, its keys, its size, when it changed, the fingerprint of the key that sealed it) and never
print its value. A value enters through a file, an environment variable, standard input or a
hidden prompt, never through an argument (arguments show in ``ps`` and shell history).

::

    clientevents secrets set proto/zendesk --from-file zendesk.json
    printf '%s' "$TOKEN" | clientevents secrets set webhooks/token
    clientevents secrets get proto/zendesk
    clientevents secrets list --json
    clientevents secrets delete proto/zendesk

Every subcommand takes ``--data-dir`` and ``--config`` (for ``data_dir``), like ``dlq``. The
master key comes from ``CLIENTEVENTS_SECRETS_KEY``, ``CLIENTEVENTS_SECRETS_KEY_FILE`` or
``<data dir>/secrets.key`` (created with mode 0600 by the first ``set``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from clientevents.cli import output
from clientevents.cli.options import DB_FILE, common_options
from clientevents.config import default_settings, load_config
from clientevents.errors import ConfigError, StoreError
from clientevents.secrets import (
    MasterKeyError,
    SecretError,
    SecretInfo,
    SecretStore,
    check_name,
    load_master_key,
)
from clientevents.store.factory import open_store as open_state_store

__all__ = ["secrets"]

@contextmanager
def open_store(
    data_dir: Path | None, config_file: Path | None, *, need_key: bool, create_key: bool = False
) -> Iterator[SecretStore]:
    """The secret store of the service's data dir. ``set`` (``create_key``) creates the
    database when missing, so secrets can be stored before the first start; the other
    commands need an existing one."""
    try:
        settings = load_config(config_file) if config_file else default_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    folder = data_dir if data_dir is not None else Path(settings.data_dir)
    if (settings.storage.store == "sqlite" and not create_key
            and not (folder / DB_FILE).is_file()):
        raise click.ClickException(
            f"There is no database at {folder / DB_FILE}. Pass --data-dir with the folder the "
            "service uses (the one holding clientevents.db)."
        )
    try:
        key = load_master_key(folder, create=create_key)
    except MasterKeyError as exc:
        if need_key:
            raise click.ClickException(str(exc)) from None
        key = None
    try:
        db = open_state_store(settings, folder)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
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
    """Store credentials encrypted in the data dir (values are never printed).

    \b
    Example:
      clientevents secrets set proto/zendesk --from-file zendesk.json
      clientevents secrets list
    """


@secrets.command("set")
@common_options
@click.argument("name")
@click.option("--from-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Read the value from this file (one trailing newline is dropped).")
@click.option("--from-env", default=None, metavar="VAR",
              help="Read the value from this environment variable.")
@output.json_option()
def set_secret(data_dir: Path | None, config_file: Path | None, name: str,
               from_file: Path | None, from_env: str | None, as_json: bool) -> None:
    """Store NAME's value (from --from-file, --from-env, standard input or a hidden prompt).

    A JSON object value can be read by key (connections' username_key, password_key, ...).

    \b
    Example:
      clientevents secrets set proto/zendesk --from-file zendesk.json
      printf '%s' "$TOKEN" | clientevents secrets set webhooks/token
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
    if info is None:  # deleted by someone else in between
        raise click.ClickException(f"Secret {name!r} was deleted while it was being stored.")
    if as_json:
        output.echo_json({**info.to_dict(), "replaced": replaced})
        return
    verb = "Replaced" if replaced else "Stored"
    output.success(f"{verb} secret {name!r} ({_summary(info)}; key id {info.key_id}).")


@secrets.command("get")
@common_options
@click.argument("name")
@output.json_option(legacy_format=True)
def get_secret(data_dir: Path | None, config_file: Path | None, name: str,
               as_json: bool) -> None:
    """Describe NAME: JSON or text, its keys, size and times. The value is never printed.

    \b
    Example:
      clientevents secrets get proto/zendesk --json
    """
    with open_store(data_dir, config_file, need_key=False) as store:
        info = store.describe(name)
    if info is None:
        raise click.ClickException(
            f"There is no secret {name!r}; `clientevents secrets list` shows the stored ones."
        )
    if as_json:
        output.echo_json(info.to_dict())
        return
    output.fields([
        ("name", info.name),
        ("value", f"{_summary(info)} (not shown: the store is write-only)"),
        ("key id", info.key_id),
        ("created", _when(info.created_at)),
        ("updated", _when(info.updated_at)),
    ])


@secrets.command("list")
@common_options
@output.json_option(legacy_format=True)
def list_secrets(data_dir: Path | None, config_file: Path | None, as_json: bool) -> None:
    """List the stored secrets (names and shapes, never values).

    \b
    Example:
      clientevents secrets list --data-dir data
    """
    with open_store(data_dir, config_file, need_key=False) as store:
        infos = store.list()
    if as_json:
        output.echo_json([info.to_dict() for info in infos])
        return
    output.table(("NAME", "UPDATED", "VALUE"),
                 ((i.name, _when(i.updated_at), _summary(i)) for i in infos),
                 empty="No secrets.")


@secrets.command("delete")
@common_options
@click.argument("name")
@output.json_option()
def delete_secret(data_dir: Path | None, config_file: Path | None, name: str,
                  as_json: bool) -> None:
    """Delete NAME for good.

    \b
    Example:
      clientevents secrets delete proto/zendesk
    """
    with open_store(data_dir, config_file, need_key=False) as store:
        deleted = store.delete(name)
    if not deleted:
        raise click.ClickException(
            f"There is no secret {name!r}; `clientevents secrets list` shows the stored ones."
        )
    if as_json:
        output.echo_json({"deleted": name})
    else:
        output.success(f"Deleted secret {name!r}.")
