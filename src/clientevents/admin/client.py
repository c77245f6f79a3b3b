"""A Python client of the admin API for scripts and the command line, signed with the admin key.

::

    from clientevents.admin.client import AdminClient
    from clientevents.identity import Credentials

    with AdminClient("http://127.0.0.1:8080", Credentials(key_id, secret)) as admin:
        admin.get("/dead-letters", limit=20)["entries"]
        admin.post("/dead-letters/redrive", {"ids": [42]})
        admin.post("/replays", {"name": "fix-1", "archive": "client_event_archive",
                                "start": "2026-11-27T05:00:00Z", "end": "2026-11-27T06:00:00Z"})

Every call is one HTTP request to ``<endpoint>/admin/api<path>``; an error answer raises
:class:`AdminClientError` with the server's status, code and message, and no answer at all
raises :class:`~clientevents.client.errors.EndpointUnreachable`. The command line's ``dlq``,
``replay`` and ``archive`` commands are built on it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import orjson

from clientevents.client.errors import ClientError, EndpointUnreachable
from clientevents.client.sigv4 import sign
from clientevents.identity.sigv4 import Credentials

__all__ = ["API_PREFIX", "AdminClient", "AdminClientError"]

API_PREFIX = "/admin/api"


_KEY_HINT = (" Check the admin key: --data-dir with the server's data folder (it holds "
             "admin-credentials.json), or CLIENTEVENTS_ADMIN_ACCESS_KEY_ID and "
             "CLIENTEVENTS_ADMIN_SECRET_ACCESS_KEY as `clientevents users admin-key` prints "
             "them on the server.")


def _hint(code: str, message: str) -> str:
    refused_key = code == "NotSignedIn" or (code == "Forbidden" and "signature" in message)
    return _KEY_HINT if refused_key else ""


class AdminClientError(ClientError):
    """The admin API refused a call: the server's status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code} (HTTP {status}): {message}{_hint(code, message)}")
        self.status = status
        self.code = code
        self.message = message


class AdminClient:
    """Signed calls to one deployment's admin API.

    Args:
        endpoint: the gateway's base URL (``http://127.0.0.1:8080``).
        credentials: the admin key pair.
        region: the signature scope's region (any; ``local`` by convention).
        timeout_secs: per-request timeout.
    """

    def __init__(
        self,
        endpoint: str,
        credentials: Credentials,
        *,
        region: str = "local",
        timeout_secs: float = 30.0,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.host = urlsplit(self.endpoint).netloc
        self.credentials = credentials
        self.region = region
        self.http = httpx.Client(base_url=self.endpoint, timeout=timeout_secs)

    def request(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        """Call ``method`` on ``/admin/api<path>``; return the decoded JSON answer."""
        full = API_PREFIX + path
        params = {k: str(v) for k, v in query.items() if v is not None}
        text = urlencode(params)
        content = b"" if body is None else orjson.dumps(body)
        extra = {"Content-Type": "application/json"} if body is not None else {}
        headers = sign(self.credentials, method=method, host=self.host, path=full, query=text,
                       body=content, headers=extra, region=self.region)
        url = full + ("?" + text if text else "")
        try:
            response = self.http.request(method, url, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise EndpointUnreachable(self.endpoint, str(exc) or type(exc).__name__) from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200:
            if isinstance(data, dict) and "code" in data:
                raise AdminClientError(response.status_code, str(data.get("code", "")),
                                       str(data.get("message", "")))
            raise AdminClientError(
                response.status_code, "NoAdminApi",
                f"{self.endpoint}{API_PREFIX} does not answer as clientevents' admin API "
                f"({response.text[:120].strip() or 'an empty answer'}). Is --endpoint-url a "
                "clientevents gateway, with console.enabled (the admin API's switch)?"
            )
        return data

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, **query)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, {} if body is None else body)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
