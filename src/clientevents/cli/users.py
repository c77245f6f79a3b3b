"""``clientevents users``: the user pool from the command line.

``sign-up``, ``confirm`` and ``login`` talk to a running server over HTTP, exactly as
``aws cognito-idp`` would; ``list``, ``show``, ``disable``, ``enable`` and ``delete`` are the
admin operations (``ListUsers``, ``AdminGetUser``...), SigV4-signed with the admin key from the
data folder or the environment. The server is ``--endpoint-url`` (default
``$CLIENTEVENTS_ENDPOINT_URL``, then ``http://127.0.0.1:8080``). ``code``, ``admin-key`` and
``rotate-keys`` read the data folder (``--data-dir``) directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from clientevents.cli import output
from clientevents.cli.remote import (
    admin_key,
    client_id_option,
    endpoint_option,
    key_options,
    load_settings,
    run_async,
)
from clientevents.client import CognitoClient
from clientevents.errors import ConfigError

__all__ = ["users"]

F = TypeVar("F", bound=Callable[..., Any])


def _folder(config_file: Path | None, data_dir: Path | None) -> Path:
    settings = load_settings(config_file)
    return data_dir if data_dir is not None else Path(settings.data_dir)


def _when(epoch: Any) -> str | None:
    if not isinstance(epoch, int | float):
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def _attributes(user: dict[str, Any]) -> dict[str, str]:
    items = user.get("Attributes") or user.get("UserAttributes") or []
    return {str(a.get("Name")): str(a.get("Value")) for a in items if isinstance(a, dict)}


@click.group("users")
def users() -> None:
    """Sign users up, confirm and sign them in; list, show, disable, enable and delete them.

    \b
    Example:
      clientevents users sign-up alice --email alice@example.com --password 'Passw0rd!'
      clientevents users confirm alice "$(clientevents users code alice)"
      clientevents users login alice --password 'Passw0rd!' --access-token-only
      clientevents users list
    """


# -- the data folder ---------------------------------------------------------------------------


@users.command("code")
@click.argument("username")
@click.option("--purpose", type=click.Choice(["sign_up", "forgot_password"]), default=None,
              help="Only codes of this kind [default: the latest of either].")
@key_options
@output.json_option()
def code(username: str, purpose: str | None, data_dir: Path | None,
         config_file: Path | None, as_json: bool) -> None:
    """Print the latest confirmation code the server wrote for USERNAME.

    \b
    Example:
      clientevents users confirm alice "$(clientevents users code alice)"
    """
    from clientevents.identity.notifier import CODES_FILE, latest_code

    folder = _folder(config_file, data_dir)
    record = latest_code(folder, username, purpose)
    if record is None:
        raise click.ClickException(
            f"No confirmation code for user {username!r} in {folder / CODES_FILE}. The server "
            "writes codes there (notifier type 'file') when a user signs up, asks for a new "
            "code or forgets the password; pass --data-dir with the server's data folder."
        )
    if as_json:
        output.echo_json(record)
    else:
        click.echo(record["code"])


@users.command("admin-key")
@key_options
@output.json_option()
def admin_key_command(data_dir: Path | None, config_file: Path | None, as_json: bool) -> None:
    """Print the admin key pair (it signs ListUsers, AdminGetUser...); generates it if the
    data folder has none yet.

    \b
    Example:
      clientevents users admin-key --data-dir data
      eval "$(clientevents users admin-key --data-dir data | sed 's/^/export /')"
    """
    from clientevents.identity.admin import admin_credentials

    settings = load_settings(config_file)
    folder = data_dir if data_dir is not None else Path(settings.data_dir)
    try:
        creds, generated = admin_credentials(settings.identity, folder)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if generated:
        output.note(f"Generated a new admin key pair in {folder}.")
    if as_json:
        output.echo_json({"access_key_id": creds.access_key_id,
                          "secret_access_key": creds.secret_access_key})
        return
    click.echo(f"AWS_ACCESS_KEY_ID={creds.access_key_id}")
    click.echo(f"AWS_SECRET_ACCESS_KEY={creds.secret_access_key}")


@users.command("rotate-keys")
@key_options
@output.json_option()
def rotate_keys(data_dir: Path | None, config_file: Path | None, as_json: bool) -> None:
    """Start signing tokens with a new key; the old one stays published until its tokens
    expire.

    \b
    Example:
      clientevents users rotate-keys --data-dir data
    """
    from clientevents.identity.keys import KeyRing
    from clientevents.identity.schema import IDENTITY_DDL
    from clientevents.store.datadir import secure_data_dir
    from clientevents.store.factory import open_store

    settings = load_settings(config_file)
    folder = data_dir if data_dir is not None else Path(settings.data_dir)
    path = folder / "clientevents.db"
    if settings.storage.store == "sqlite" and not path.is_file():
        raise click.ClickException(
            f"There is no database at {path}; pass --data-dir with the server's data folder."
        )
    pool = settings.identity.user_pool
    retention = max(pool.access_token_ttl_secs, pool.id_token_ttl_secs) + 300
    if settings.storage.store == "sqlite":
        secure_data_dir(folder)
    db = open_store(settings, folder)
    try:
        db.ensure_schema(IDENTITY_DDL)
        ring = KeyRing(db, retention_secs=retention)
        old = ring.current().kid
        new = ring.rotate().kid
    finally:
        db.close()
    if as_json:
        output.echo_json({"current": new, "previous": old, "previous_kept_secs": retention})
        return
    output.success(f"Signing key {new} is now current; {old} stays in the JWKS for "
                   f"{retention} s.")


# -- public operations over HTTP ---------------------------------------------------------------


def _client(endpoint_url: str, client_id: str) -> CognitoClient:
    return CognitoClient(endpoint_url, client_id=client_id)


@users.command("sign-up")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="The new user's password (asked for when not given).")
@click.option("--email", default=None, help="The user's e-mail address.")
@endpoint_option
@client_id_option
@output.json_option()
def sign_up(username: str, password: str, email: str | None, endpoint_url: str,
            client_id: str, as_json: bool) -> None:
    """Create user USERNAME (SignUp); the server sends or writes the confirmation code.

    \b
    Example:
      clientevents users sign-up alice --email alice@example.com --password 'Passw0rd!'
    """

    async def call() -> dict[str, Any]:
        async with _client(endpoint_url, client_id) as idp:
            return await idp.sign_up(username, password, email=email)

    answer = run_async(call())
    if as_json:
        output.echo_json(answer)
        return
    status = "confirmed" if answer.get("UserConfirmed") else "waiting for confirmation"
    output.success(f"User {username} signed up ({status}).")
    if not answer.get("UserConfirmed"):
        click.echo(f'Confirm it with: clientevents users confirm {username} '
                   f'"$(clientevents users code {username})"')


@users.command("confirm")
@click.argument("username")
@click.argument("confirmation_code")
@endpoint_option
@client_id_option
@output.json_option()
def confirm(username: str, confirmation_code: str, endpoint_url: str, client_id: str,
            as_json: bool) -> None:
    """Confirm USERNAME with CONFIRMATION_CODE (ConfirmSignUp).

    \b
    Example:
      clientevents users confirm alice 327268
    """

    async def call() -> None:
        async with _client(endpoint_url, client_id) as idp:
            await idp.confirm_sign_up(username, confirmation_code)

    run_async(call())
    if as_json:
        output.echo_json({"Username": username, "UserStatus": "CONFIRMED"})
    else:
        output.success(f"User {username} is confirmed.")


@users.command("login")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True,
              help="The user's password (asked for when not given).")
@click.option("--access-token-only", is_flag=True,
              help="Print only the access token (for an Authorization header).")
@endpoint_option
@client_id_option
@output.json_option()
def login(username: str, password: str, access_token_only: bool, endpoint_url: str,
          client_id: str, as_json: bool) -> None:
    """Sign USERNAME in (InitiateAuth USER_PASSWORD_AUTH) and print the tokens.

    \b
    Example:
      TOKEN=$(clientevents users login alice --password 'Passw0rd!' --access-token-only)
    """

    async def call() -> dict[str, Any]:
        async with _client(endpoint_url, client_id) as idp:
            return (await idp.password_auth(username, password)).to_dict()

    result = run_async(call())
    if access_token_only:
        click.echo(result["AccessToken"])
    elif as_json:
        output.echo_json(result)
    else:
        output.fields(result.items(), title=f"Tokens of {username}")


# -- admin operations over HTTP (signed) -------------------------------------------------------


def _admin_options(fn: F) -> F:
    fn = click.option("--user-pool-id", default=None,
                      help="The pool's id [default: the configuration's].")(fn)
    fn = key_options(fn)
    return endpoint_option(fn)


def _admin_client(endpoint_url: str, config_file: Path | None, data_dir: Path | None,
                  user_pool_id: str | None) -> CognitoClient:
    settings = load_settings(config_file)
    pool = settings.identity.user_pool
    return CognitoClient(
        endpoint_url, client_id=pool.client_id, user_pool_id=user_pool_id or pool.id,
        credentials=admin_key(settings, data_dir), region=settings.region,
    )


def _user_row(user: dict[str, Any]) -> list[Any]:
    attributes = _attributes(user)
    return [user.get("Username"), user.get("UserStatus"),
            "yes" if user.get("Enabled") else "no", attributes.get("email"),
            attributes.get("custom:clientId"), _when(user.get("UserCreateDate"))]


@users.command("list")
@click.option("--filter", "filter_text", default=None, metavar="EXPR",
              help='Cognito filter, e.g. \'username ^= "gen"\' or \'status = "Enabled"\'.')
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Most users to show.")
@_admin_options
@output.json_option()
def list_users(filter_text: str | None, limit: int | None, endpoint_url: str,
               data_dir: Path | None, config_file: Path | None, user_pool_id: str | None,
               as_json: bool) -> None:
    """List the pool's users (ListUsers), in username order.

    \b
    Example:
      clientevents users list --data-dir data --filter 'username ^= "gen"'
    """
    idp = _admin_client(endpoint_url, config_file, data_dir, user_pool_id)

    async def call() -> list[dict[str, Any]]:
        async with idp:
            return [u async for u in idp.list_users(filter_text=filter_text, limit=limit)]

    found = run_async(call())
    if as_json:
        output.echo_json({"Users": found})
        return
    output.table(["USERNAME", "STATUS", "ENABLED", "EMAIL", "CLIENT ID", "CREATED (UTC)"],
                 (_user_row(u) for u in found), empty="No users.",
                 caption=f"{len(found)} user{'s' if len(found) != 1 else ''}.")


@users.command("show")
@click.argument("username")
@_admin_options
@output.json_option()
def show(username: str, endpoint_url: str, data_dir: Path | None, config_file: Path | None,
         user_pool_id: str | None, as_json: bool) -> None:
    """Show USERNAME's status and attributes (AdminGetUser).

    \b
    Example:
      clientevents users show alice --data-dir data
    """
    idp = _admin_client(endpoint_url, config_file, data_dir, user_pool_id)

    async def call() -> dict[str, Any]:
        async with idp:
            return await idp.admin("AdminGetUser", username)

    user = run_async(call())
    if as_json:
        output.echo_json(user)
        return
    pairs: list[tuple[str, Any]] = [
        ("Username", user.get("Username")),
        ("Status", user.get("UserStatus")),
        ("Enabled", "yes" if user.get("Enabled") else "no"),
        ("Created (UTC)", _when(user.get("UserCreateDate"))),
        ("Modified (UTC)", _when(user.get("UserLastModifiedDate"))),
    ]
    pairs += sorted(_attributes(user).items())
    output.fields(pairs)


def _admin_action(name: str, operation: str, summary: str, done: str, example: str
                  ) -> click.Command:
    @click.argument("username")
    @_admin_options
    @output.json_option()
    def action(username: str, endpoint_url: str, data_dir: Path | None,
               config_file: Path | None, user_pool_id: str | None, as_json: bool,
               **extra: Any) -> None:
        idp = _admin_client(endpoint_url, config_file, data_dir, user_pool_id)
        if operation == "AdminDeleteUser" and not extra.get("yes"):
            click.confirm(f"Delete user {username} for good?", abort=True)

        async def call() -> None:
            async with idp:
                await idp.admin(operation, username)

        run_async(call())
        if as_json:
            output.echo_json({"Username": username, "Operation": operation, "Done": True})
        else:
            output.success(f"User {username} {done}.")

    action.__doc__ = (
        f"{summary} ({operation}).\n\n    \b\n    Example:\n      {example}\n"
    )
    if operation == "AdminDeleteUser":
        action = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")(action)
    return users.command(name)(action)


disable = _admin_action(
    "disable", "AdminDisableUser", "Disable USERNAME: it cannot sign in, its tokens stop working",
    "is disabled; its tokens stop working at once",
    "clientevents users disable alice --data-dir data",
)
enable = _admin_action(
    "enable", "AdminEnableUser", "Enable USERNAME again",
    "is enabled; it signs in again to get tokens",
    "clientevents users enable alice --data-dir data",
)
delete = _admin_action(
    "delete", "AdminDeleteUser", "Delete USERNAME with its sessions and codes", "is deleted",
    "clientevents users delete alice --data-dir data --yes",
)
