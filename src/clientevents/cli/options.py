"""What the commands that open the service's database share: options and opening it."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from clientevents.config import Settings, default_settings, load_config
from clientevents.errors import ConfigError, StoreError
from clientevents.store.datadir import secure_data_dir
from clientevents.store.factory import open_store
from clientevents.store.port import StateStore

__all__ = ["DB_FILE", "common_options", "echo_json", "open_database", "setup_logging"]

DB_FILE = "clientevents.db"

F = TypeVar("F", bound=Callable[..., Any])


def common_options(fn: F) -> F:
    """``--data-dir`` and ``--config``, as every command on the service's database takes them."""
    fn = click.option(
        "--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
        default=None, help="Configuration file [default: the embedded blueprint].",
    )(fn)
    fn = click.option(
        "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="Folder of the database [default: data_dir of the configuration, ./data].",
    )(fn)
    return fn


@contextmanager
def open_database(
    data_dir: Path | None, config_file: Path | None
) -> Iterator[tuple[StateStore, Settings]]:
    """The configuration and the service's database (which must exist)."""
    try:
        settings = load_config(config_file) if config_file else default_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    folder = data_dir if data_dir is not None else Path(settings.data_dir)
    if settings.storage.store == "sqlite":
        path = folder / DB_FILE
        if not path.is_file():
            raise click.ClickException(
                f"There is no database at {path}. Pass --data-dir with the folder the service "
                "uses (the one holding clientevents.db)."
            )
        secure_data_dir(folder)
    try:
        db = open_store(settings, folder)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield db, settings
    finally:
        db.close()


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (kept for callers of this module; new code uses
    :func:`clientevents.cli.output.echo_json` with :func:`~clientevents.cli.output.json_option`)."""
    from clientevents.cli.output import echo_json as print_json

    print_json(data)


def setup_logging() -> None:
    """Log to standard error at ``CLIENTEVENTS_LOG_LEVEL`` (default INFO), once per process."""
    level = os.environ.get("CLIENTEVENTS_LOG_LEVEL", "INFO").upper()
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
