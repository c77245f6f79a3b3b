"""``clientevents console``: the operators' console accounts and sign-in links.

::

    clientevents console add-user ops --role admin          # asks for the password
    clientevents console add-user ops --role viewer --update
    clientevents console list-users
    clientevents console remove-user ops
    clientevents console sign-in-link                       # a one-time link, 15 minutes

They open the service's database (``--data-dir``, ``--config``) and work while it runs. A
password is hashed with Argon2id exactly as the user pool hashes its users' passwords.
"""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path

import click

from clientevents.cli import output
from clientevents.cli.options import common_options, open_database

__all__ = ["console", "is_loopback", "sign_in_url"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def sign_in_url(base_url: str, token: str) -> str:
    """The console URL that signs in with ``token`` (the token rides in the fragment, which
    browsers never send to a server or write in an access log)."""
    return f"{base_url.rstrip('/')}/console/#signin={token}"


@click.group("console")
def console() -> None:
    """Console accounts (operators) and one-time sign-in links.

    \b
    Example:
      clientevents console add-user ops --role admin
      clientevents console sign-in-link
    """


@console.command("add-user")
@click.argument("username")
@click.option("--role", type=click.Choice(["viewer", "admin"]), default="viewer",
              show_default=True, help="viewer reads everything; admin may also change things.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="The password (asked for when not given); at least 10 characters.")
@click.option("--update", is_flag=True, help="Set a new password and role for an existing user.")
@common_options
@output.json_option()
def add_user(username: str, role: str, password: str, update: bool, data_dir: Path | None,
             config_file: Path | None, as_json: bool) -> None:
    """Create console account USERNAME (or, with --update, change it).

    \b
    Example:
      clientevents console add-user ops --role admin     # asks for the password
    """
    from clientevents.admin.accounts import ConsoleAccounts
    from clientevents.admin.errors import AdminError

    with open_database(data_dir, config_file) as (db, _):
        try:
            ConsoleAccounts(db).add_user(username, password, role, replace=update)
        except AdminError as exc:
            raise click.ClickException(exc.message) from None
    if as_json:
        output.echo_json({"username": username, "role": role, "updated": update})
    else:
        output.success(f"Console user {username} ({role}) is ready.")


@console.command("remove-user")
@click.argument("username")
@common_options
@output.json_option()
def remove_user(username: str, data_dir: Path | None, config_file: Path | None,
                as_json: bool) -> None:
    """Delete console account USERNAME and end its sessions.

    \b
    Example:
      clientevents console remove-user ops
    """
    from clientevents.admin.accounts import ConsoleAccounts

    with open_database(data_dir, config_file) as (db, _):
        if not ConsoleAccounts(db).remove_user(username):
            raise click.ClickException(
                f"There is no console user named {username!r}; `clientevents console "
                "list-users` shows them."
            )
    if as_json:
        output.echo_json({"removed": username})
    else:
        output.success(f"Console user {username} is removed.")


@console.command("list-users")
@common_options
@output.json_option()
def list_users(data_dir: Path | None, config_file: Path | None, as_json: bool) -> None:
    """List the console accounts.

    \b
    Example:
      clientevents console list-users --json
    """
    from clientevents.admin.accounts import ConsoleAccounts

    with open_database(data_dir, config_file) as (db, _):
        found = ConsoleAccounts(db).list_users()
    if as_json:
        output.echo_json([{"username": u.username, "role": u.role, "created_at": u.created_at,
                           "locked_until": u.locked_until} for u in found])
        return
    output.table(("USERNAME", "ROLE", "CREATED (UTC)", "LOCKED UNTIL (UTC)"),
                 ((u.username, u.role, _when(u.created_at),
                   _when(u.locked_until) if (u.locked_until or 0) > time.time() else None)
                  for u in found),
                 empty="No console users yet: `clientevents console add-user NAME` adds one.")


def _when(epoch: float | None) -> str | None:
    if not epoch:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


@console.command("sign-in-link")
@click.option("--url", "base_url", default=None,
              help="The gateway's base URL [default: http://<server.host>:<server.port>].")
@common_options
@output.json_option()
def sign_in_link(base_url: str | None, data_dir: Path | None, config_file: Path | None,
                 as_json: bool) -> None:
    """Print a one-time console sign-in link (an admin session; usable once, for
    console.sign_in_link_ttl_secs).

    \b
    Example:
      clientevents console sign-in-link --url http://127.0.0.1:8080
    """
    from clientevents.admin.accounts import ConsoleAccounts

    with open_database(data_dir, config_file) as (db, settings):
        ttl = settings.console.sign_in_link_ttl_secs
        token = ConsoleAccounts(db).create_link(ttl)
    url = base_url or f"http://{settings.server.host}:{settings.server.port}"
    expires_at = time.time() + ttl
    if as_json:
        output.echo_json({"url": sign_in_url(url, token), "expires_at": expires_at})
        return
    click.echo(sign_in_url(url, token))
    expires = time.strftime("%H:%M:%S", time.localtime(expires_at))
    output.note(f"Usable once, until {expires}.")
