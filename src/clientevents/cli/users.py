"""``clientevents users``: the user pool from the command line.

::

    clientevents users sign-up alice --email alice@example.com      # asks for the password
    clientevents users code alice                                   # the code the server wrote
    clientevents users confirm alice "$(clientevents users code alice)"
    clientevents users login alice                                  # prints the tokens (JSON)
    clientevents users admin-key                                    # the admin key pair
    clientevents users rotate-keys                                  # new token signing key

``sign-up``, ``confirm`` and ``login`` talk to a running server over HTTP, exactly as
``aws cognito-idp`` would (``--endpoint-url``, default ``http://127.0.0.1:8080``). ``code``,
``admin-key`` and ``rotate-keys`` read the data folder (``--data-dir``) directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import httpx
import orjson

from clientevents.config import Settings, default_settings, load_config
from clientevents.config.identity import DEFAULT_CLIENT_ID
from clientevents.errors import ConfigError

__all__ = ["users"]

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"
TARGET_PREFIX = "AWSCognitoIdentityProviderService."


def _settings(config_file: Path | None, data_dir: Path | None) -> tuple[Settings, Path]:
    try:
        settings = load_config(config_file) if config_file else default_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    folder = data_dir if data_dir is not None else Path(settings.data_dir)
    return settings, folder


def _echo_json(data: Any) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def _call(endpoint: str, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """One unsigned Cognito JSON API call; errors become a readable ClickException."""
    url = endpoint.rstrip("/") + "/"
    try:
        response = httpx.post(
            url,
            content=orjson.dumps(body),
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": TARGET_PREFIX + operation,
            },
            timeout=30.0,
        )
    except httpx.HTTPError as exc:
        raise click.ClickException(
            f"Cannot reach {url} ({exc}). Is `clientevents serve` running there? "
            "Pass --endpoint-url otherwise."
        ) from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise click.ClickException(
            f"{url} answered HTTP {response.status_code} without a JSON object; is it a "
            "clientevents server?"
        )
    if response.status_code != 200:
        kind = data.get("__type", f"HTTP {response.status_code}")
        raise click.ClickException(f"{kind}: {data.get('message', '')}")
    return data


def _endpoint_options(fn: Any) -> Any:
    fn = click.option("--client-id", default=DEFAULT_CLIENT_ID, show_default=True,
                      help="The user pool's app client id.")(fn)
    fn = click.option("--endpoint-url", default=DEFAULT_ENDPOINT, show_default=True,
                      help="The clientevents server.")(fn)
    return fn


def _folder_options(fn: Any) -> Any:
    fn = click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                      default=None, help="Configuration file [default: the embedded one].")(fn)
    fn = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                      default=None, help="The server's data folder [default: ./data].")(fn)
    return fn


@click.group("users")
def users() -> None:
    """Sign users up, confirm them, sign in; read codes and the admin key."""


@users.command("code")
@click.argument("username")
@click.option("--purpose", type=click.Choice(["sign_up", "forgot_password"]), default=None,
              help="Only codes of this kind [default: the latest of either].")
@_folder_options
def code(username: str, purpose: str | None, data_dir: Path | None,
         config_file: Path | None) -> None:
    """Print the latest confirmation code the server wrote for USERNAME."""
    from clientevents.identity.notifier import CODES_FILE, latest_code

    _, folder = _settings(config_file, data_dir)
    record = latest_code(folder, username, purpose)
    if record is None:
        raise click.ClickException(
            f"No confirmation code for user {username!r} in {folder / CODES_FILE}. The server "
            "writes codes there (notifier type 'file') when a user signs up, asks for a new "
            "code or forgets the password; pass --data-dir with the server's data folder."
        )
    click.echo(record["code"])


@users.command("sign-up")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="The new user's password (asked for when not given).")
@click.option("--email", default=None, help="The user's e-mail address.")
@_endpoint_options
def sign_up(username: str, password: str, email: str | None, endpoint_url: str,
            client_id: str) -> None:
    """Create user USERNAME (SignUp); the server writes the confirmation code."""
    body: dict[str, Any] = {"ClientId": client_id, "Username": username, "Password": password}
    if email:
        body["UserAttributes"] = [{"Name": "email", "Value": email}]
    _echo_json(_call(endpoint_url, "SignUp", body))


@users.command("confirm")
@click.argument("username")
@click.argument("confirmation_code")
@_endpoint_options
def confirm(username: str, confirmation_code: str, endpoint_url: str, client_id: str) -> None:
    """Confirm USERNAME with CONFIRMATION_CODE (ConfirmSignUp)."""
    _call(endpoint_url, "ConfirmSignUp", {
        "ClientId": client_id, "Username": username, "ConfirmationCode": confirmation_code,
    })
    click.echo(f"User {username} is confirmed.")


@users.command("login")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True,
              help="The user's password (asked for when not given).")
@click.option("--access-token-only", is_flag=True,
              help="Print only the access token (for an Authorization header).")
@_endpoint_options
def login(username: str, password: str, access_token_only: bool, endpoint_url: str,
          client_id: str) -> None:
    """Sign USERNAME in (InitiateAuth USER_PASSWORD_AUTH) and print the tokens."""
    answer = _call(endpoint_url, "InitiateAuth", {
        "ClientId": client_id,
        "AuthFlow": "USER_PASSWORD_AUTH",
        "AuthParameters": {"USERNAME": username, "PASSWORD": password},
    })
    result = answer.get("AuthenticationResult", {})
    if access_token_only:
        click.echo(result.get("AccessToken", ""))
    else:
        _echo_json(result)


@users.command("admin-key")
@_folder_options
def admin_key(data_dir: Path | None, config_file: Path | None) -> None:
    """Print the admin key pair (for AdminGetUser, ListUsers... signed with SigV4)."""
    from clientevents.identity.admin import admin_credentials

    settings, folder = _settings(config_file, data_dir)
    try:
        creds, generated = admin_credentials(settings.identity, folder)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if generated:
        click.echo(f"Generated a new admin key pair in {folder}.", err=True)
    click.echo(f"AWS_ACCESS_KEY_ID={creds.access_key_id}")
    click.echo(f"AWS_SECRET_ACCESS_KEY={creds.secret_access_key}")


@users.command("rotate-keys")
@_folder_options
def rotate_keys(data_dir: Path | None, config_file: Path | None) -> None:
    """Start signing tokens with a new key; the old one stays published until its tokens expire."""
    from clientevents.identity.keys import KeyRing
    from clientevents.store.datadir import secure_data_dir
    from clientevents.store.engine import Database

    settings, folder = _settings(config_file, data_dir)
    path = folder / "clientevents.db"
    if not path.is_file():
        raise click.ClickException(
            f"There is no database at {path}; pass --data-dir with the server's data folder."
        )
    pool = settings.identity.user_pool
    retention = max(pool.access_token_ttl_secs, pool.id_token_ttl_secs) + 300
    secure_data_dir(folder)
    db = Database(path)
    try:
        from clientevents.identity.schema import IDENTITY_DDL

        db.ensure_schema(IDENTITY_DDL)
        ring = KeyRing(db, retention_secs=retention)
        old = ring.current().kid
        new = ring.rotate().kid
    finally:
        db.close()
    click.echo(f"Signing key {new} is now current; {old} stays in the JWKS for {retention} s.")
