"""What the commands that talk to a running server share: the endpoint and the admin key.

``--endpoint-url`` defaults to ``$CLIENTEVENTS_ENDPOINT_URL``, then ``http://127.0.0.1:8080``.
Admin operations sign with the admin key pair, found as the server finds it (``identity.admin``
in ``--config``, the ``CLIENTEVENTS_ADMIN_*`` variables, or ``admin-credentials.json`` in
``--data-dir``), except that a client never generates one. :func:`admin_options` and
:func:`admin_client` give a command the admin API (``dlq``, ``replay``, ``archive``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from clientevents.config import Settings, default_settings, load_config
from clientevents.config.identity import DEFAULT_CLIENT_ID
from clientevents.errors import ConfigError
from clientevents.identity.sigv4 import Credentials

if TYPE_CHECKING:
    from clientevents.admin.client import AdminClient

__all__ = [
    "DEFAULT_ENDPOINT",
    "ENDPOINT_ENV",
    "admin_client",
    "admin_key",
    "admin_options",
    "client_id_option",
    "endpoint_option",
    "key_options",
    "load_settings",
    "run_async",
]

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"
ENDPOINT_ENV = "CLIENTEVENTS_ENDPOINT_URL"

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def endpoint_option(fn: F) -> F:
    """``--endpoint-url`` (environment variable ``CLIENTEVENTS_ENDPOINT_URL``)."""
    return click.option(
        "--endpoint-url", default=DEFAULT_ENDPOINT, envvar=ENDPOINT_ENV, show_envvar=True,
        show_default=True, metavar="URL", help="The clientevents server (or Cognito's endpoint).",
    )(fn)


def client_id_option(fn: F) -> F:
    """``--client-id``: the user pool's app client id."""
    return click.option(
        "--client-id", default=DEFAULT_CLIENT_ID, show_default=True,
        help="The user pool's app client id.",
    )(fn)


def key_options(fn: F) -> F:
    """``--data-dir`` and ``--config``: where the server's data folder and configuration are
    (for the admin key and the confirmation codes)."""
    fn = click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                      default=None, help="Configuration file [default: the embedded one].")(fn)
    fn = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                      default=None, help="The server's data folder [default: ./data].")(fn)
    return fn


def admin_options(fn: F) -> F:
    """``--endpoint-url``, ``--data-dir`` and ``--config``: a command on the admin API."""
    return endpoint_option(key_options(fn))


def admin_client(endpoint_url: str, config_file: Path | None,
                 data_dir: Path | None) -> AdminClient:
    """A signed client of the admin API at ``endpoint_url``.

    Raises:
        click.ClickException: there is no admin key where the server would look.
    """
    from clientevents.admin.client import AdminClient

    settings = load_settings(config_file)
    return AdminClient(endpoint_url, admin_key(settings, data_dir), region=settings.region)


def load_settings(config_file: Path | None) -> Settings:
    """The configuration file's settings, or the embedded default; errors as usage errors."""
    try:
        return load_config(config_file) if config_file else default_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def admin_key(settings: Settings, data_dir: Path | None) -> Credentials:
    """The admin key pair, without generating one.

    Raises:
        click.ClickException: there is none where the server would look; the message says how
            to get one.
    """
    from clientevents.identity.admin import (
        ACCESS_KEY_ENV,
        ADMIN_CREDENTIALS_FILE,
        SECRET_KEY_ENV,
        admin_credentials,
    )

    folder = data_dir if data_dir is not None else Path(settings.data_dir)
    configured = settings.identity.admin is not None or os.environ.get(ACCESS_KEY_ENV) or \
        os.environ.get(SECRET_KEY_ENV)
    if not configured and not (folder / ADMIN_CREDENTIALS_FILE).is_file():
        raise click.ClickException(
            f"No admin key: {folder / ADMIN_CREDENTIALS_FILE} does not exist and "
            f"{ACCESS_KEY_ENV} / {SECRET_KEY_ENV} are not set. Pass --data-dir with the "
            "server's data folder (the server writes the key there at its first start), or "
            "set both variables (`clientevents users admin-key` on the server prints them)."
        )
    try:
        credentials, _ = admin_credentials(settings.identity, folder)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    return credentials


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine to completion."""
    return asyncio.run(coroutine)
