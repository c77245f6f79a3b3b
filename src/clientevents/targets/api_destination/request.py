"""One delivery as an HTTP request: URL, headers and body, as EventBridge composes them.

- **URL**: the endpoint, each ``*`` in its path replaced by the next path parameter value
  (percent-encoded, so a value stays inside its path segment), then the query string: the
  endpoint's own, the target's ``query_string_parameters``, the connection's (a connection
  parameter wins over a target parameter of the same name, as in EventBridge).
- **Headers**: ``User-Agent: clientevents/<version>``, ``Content-Type: application/json;
  charset=utf-8``, then the target's ``header_parameters``, then the connection's invocation
  headers and its authorization (each later one wins, case-insensitively), and always
  :data:`EVENT_ID_HEADER` with the event's id, so a receiver can recognise a delivery it has
  already had (delivery is at least once).
- **Body**: the delivery's payload (its rendered input), except for GET and HEAD, which carry
  none. The connection's body parameters are added to a payload that is a JSON object (the
  connection's keys win); any other payload is sent as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import orjson

from clientevents import __version__
from clientevents.targets.api_destination.auth import Credentials
from clientevents.targets.api_destination.params import HttpParameters

__all__ = ["EVENT_ID_HEADER", "USER_AGENT", "PreparedRequest", "compose", "fill_path"]

EVENT_ID_HEADER = "X-Clientevents-Event-Id"
"""The header that carries the event's id on every call."""

USER_AGENT = f"clientevents/{__version__}"
"""The ``User-Agent`` of every call."""

DEFAULT_CONTENT_TYPE = "application/json; charset=utf-8"

_NO_BODY = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """What to send (before redirects)."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    connection_headers: frozenset[str]
    """Lower-case names of headers that came from the connection (dropped on a redirect to
    another origin, with the connection's query parameters)."""
    connection_query: frozenset[str]


def fill_path(endpoint: str, values: list[str]) -> str:
    """``endpoint`` with each ``*`` of its path replaced by the next value, percent-encoded.

    Raises:
        ValueError: the number of values differs from the number of ``*``.
    """
    parts = urlsplit(endpoint)
    pieces = parts.path.split("*")
    if len(pieces) - 1 != len(values):
        raise ValueError(
            f"The endpoint has {len(pieces) - 1} '*' path parameter(s) but the delivery has "
            f"{len(values)} value(s)."
        )
    path = pieces[0]
    for value, rest in zip(values, pieces[1:], strict=True):
        path += quote(value, safe="") + rest
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _with_query(url: str, extra: dict[str, str]) -> str:
    if not extra:
        return url
    parts = urlsplit(url)
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in extra]
    pairs += list(extra.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(pairs), ""))


def _merge_headers(*layers: dict[str, str]) -> dict[str, str]:
    merged: dict[str, tuple[str, str]] = {}
    for layer in layers:
        for name, value in layer.items():
            merged[name.lower()] = (name, value)
    return dict(merged.values())


def _body(payload: str, extra: dict[str, str]) -> bytes:
    if extra:
        try:
            parsed = orjson.loads(payload)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            parsed.update(extra)
            return orjson.dumps(parsed)
    return payload.encode("utf-8")


def compose(
    *,
    endpoint: str,
    method: str,
    payload: str,
    event_id: str,
    params: HttpParameters,
    credentials: Credentials,
) -> PreparedRequest:
    """The request of one delivery (see the module docstring).

    Raises:
        ValueError: the path parameters do not fit the endpoint.
    """
    url = fill_path(endpoint, params.path)
    url = _with_query(url, {**params.query, **credentials.query})
    headers = _merge_headers(
        {"User-Agent": USER_AGENT, "Content-Type": DEFAULT_CONTENT_TYPE},
        params.headers,
        credentials.headers,
        {EVENT_ID_HEADER: event_id},
    )
    body = None if method in _NO_BODY else _body(payload, credentials.body)
    return PreparedRequest(
        method=method,
        url=url,
        headers=headers,
        body=body,
        connection_headers=frozenset(name.lower() for name in credentials.headers),
        connection_query=frozenset(credentials.query),
    )
