"""``clientevents connections``: the configured connections and their states.

``list`` shows each connection's authorization type and state (``AUTHORIZED``,
``DEAUTHORIZED`` with the reason, ``AUTHORIZING``) as the workers last recorded it;
``describe NAME`` adds where its credentials come from, its invocation parameters and the API
destinations that use it. Credentials and secret parameter values are never printed: a value
shows as ``***``, with its source (a secret store entry and key, or the configuration).

::

    clientevents connections list [--json]
    clientevents connections describe zendesk [--json]
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from clientevents.cli import output
from clientevents.cli.options import DB_FILE, common_options
from clientevents.config import Settings, default_settings, load_config
from clientevents.config.api_destinations import (
    ConnectionConfig,
    ConnectionHttpParameters,
    ParameterConfig,
)
from clientevents.errors import ConfigError, StoreError
from clientevents.store.factory import open_store
from clientevents.targets.api_destination.state import (
    AUTHORIZING,
    ConnectionState,
    read_states,
)

__all__ = ["connections"]

NOT_CHECKED = "Not checked yet: the workers authorize the connection at its first delivery."


def _load(data_dir: Path | None, config_file: Path | None) -> tuple[Settings,
                                                                        dict[str, ConnectionState]]:
    try:
        settings = load_config(config_file) if config_file else default_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    folder = data_dir if data_dir is not None else Path(settings.data_dir)
    if settings.storage.store == "sqlite" and not (folder / DB_FILE).is_file():
        return settings, {}
    try:
        db = open_store(settings, folder)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        return settings, read_states(db)
    finally:
        db.close()


def _state(connection: ConnectionConfig, states: dict[str, ConnectionState]) -> dict[str, Any]:
    found = states.get(connection.name)
    if found is None or found.authorization_type != connection.authorization_type:
        return {"state": AUTHORIZING, "reason": NOT_CHECKED, "changed_at": None}
    return {"state": found.state, "reason": found.reason, "changed_at": found.changed_at}


def _source(secret: str | None, key: str | None) -> str:
    if secret is None:
        return "configuration"
    return f"secret {secret}" + (f", key {key}" if key else "")


def _credentials(connection: ConnectionConfig) -> dict[str, str]:
    if connection.basic is not None:
        b = connection.basic
        return {"username": "***", "username_source": _source(b.secret, b.username_key),
                "password": "***", "password_source": _source(b.secret, b.password_key)}
    if connection.api_key is not None:
        k = connection.api_key
        return {"header": k.name, "value": "***", "value_source": _source(k.secret, k.value_key)}
    assert connection.oauth is not None
    o = connection.oauth
    return {"authorization_endpoint": o.authorization_endpoint, "http_method": o.http_method,
            "client_id": o.client_id if o.secret is None and o.client_id else "***",
            "client_id_source": _source(o.secret, o.client_id_key),
            "client_secret": "***",
            "client_secret_source": _source(o.secret, o.client_secret_key)}


def _param(param: ParameterConfig) -> dict[str, Any]:
    shown = "***" if param.secret_value or param.value is None else param.value.get_secret_value()
    return {"key": param.key, "value": shown, "secret": param.secret_value,
            "source": _source(param.secret, param.secret_key)}


def _params(params: ConnectionHttpParameters) -> dict[str, list[dict[str, Any]]]:
    return {
        "header_parameters": [_param(p) for p in params.header_parameters],
        "query_string_parameters": [_param(p) for p in params.query_string_parameters],
        "body_parameters": [_param(p) for p in params.body_parameters],
    }


def _when(epoch: float | None) -> str:
    return "-" if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@click.group("connections")
def connections() -> None:
    """API destination connections: authorization and state (never credentials).

    \b
    Example:
      clientevents connections list
      clientevents connections describe zendesk --json
    """


@connections.command("list")
@common_options
@output.json_option(legacy_format=True)
def list_connections(data_dir: Path | None, config_file: Path | None, as_json: bool) -> None:
    """List the configured connections with their states.

    \b
    Example:
      clientevents connections list --data-dir data
    """
    settings, states = _load(data_dir, config_file)
    rows = [{"name": c.name, "authorization_type": c.authorization_type, **_state(c, states)}
            for c in settings.connections]
    if as_json:
        output.echo_json(rows)
        return
    output.table(("NAME", "TYPE", "STATE", "SINCE", "REASON"),
                 ((r["name"], r["authorization_type"], r["state"], _when(r["changed_at"]),
                   r["reason"] or None) for r in rows),
                 empty="No connections are configured.")


@connections.command("describe")
@common_options
@click.argument("name")
@output.json_option(legacy_format=True)
def describe_connection(data_dir: Path | None, config_file: Path | None, name: str,
                        as_json: bool) -> None:
    """Show NAME: state, credential sources, parameters, API destinations using it.

    \b
    Example:
      clientevents connections describe zendesk --data-dir data
    """
    settings, states = _load(data_dir, config_file)
    try:
        connection = settings.connection(name)
    except KeyError:
        known = ", ".join(c.name for c in settings.connections) or "none"
        raise click.ClickException(
            f"There is no connection {name!r} (configured: {known})."
        ) from None
    destinations = [
        {"name": d.name, "invocation_endpoint": d.invocation_endpoint,
         "http_method": d.http_method,
         "invocation_rate_limit_per_sec": d.invocation_rate_limit_per_sec}
        for d in settings.api_destinations if d.connection == name
    ]
    doc = {"name": connection.name, "description": connection.description,
           "authorization_type": connection.authorization_type,
           **_state(connection, states),
           "credentials": _credentials(connection),
           "invocation_http_parameters": _params(connection.invocation_http_parameters),
           "api_destinations": destinations}
    if as_json:
        output.echo_json(doc)
        return
    pairs: list[tuple[str, Any]] = [("name", doc["name"])]
    if connection.description:
        pairs.append(("description", connection.description))
    pairs += [("authorization", doc["authorization_type"]),
              ("state", f"{doc['state']} (since {_when(doc['changed_at'])})")]
    if doc["reason"]:
        pairs.append(("reason", doc["reason"]))
    for key, value in doc["credentials"].items():
        if not key.endswith("_source"):
            source = doc["credentials"].get(f"{key}_source")
            pairs.append((key, f"{value}" + (f" (from {source})" if source else "")))
    for kind, params in doc["invocation_http_parameters"].items():
        for p in params:
            pairs.append((kind[:-1].replace("_", " "), f"{p['key']} = {p['value']}"))
    for d in destinations:
        limit = d["invocation_rate_limit_per_sec"]
        pairs.append(("used by", f"{d['name']}: {d['http_method']} {d['invocation_endpoint']}"
                      + (f" (at most {limit}/s)" if limit else "")))
    output.fields(pairs)
