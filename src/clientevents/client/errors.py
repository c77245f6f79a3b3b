"""What a client of a clientevents server (or of AWS) can run into."""

from __future__ import annotations

from clientevents.errors import ClientEventsError

__all__ = ["ClientError", "CognitoClientError", "EndpointUnreachable"]


class ClientError(ClientEventsError):
    """A call to a server failed; the message says which and what to do."""


class EndpointUnreachable(ClientError):
    """No HTTP answer at all: connection refused, timeout, DNS failure."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(
            f"Cannot reach {url} ({reason}). Is `clientevents serve` running there? Pass "
            "--endpoint-url (or set CLIENTEVENTS_ENDPOINT_URL) with the server's address."
        )


class CognitoClientError(ClientError):
    """The Cognito JSON API answered an error (``__type`` and ``message``)."""

    def __init__(self, code: str, message: str, *, status: int) -> None:
        self.code = code
        self.status = status
        self.detail = message
        super().__init__(f"{code}: {message}" if message else code)
