"""An async client of Cognito's JSON API, as clientevents serves it (and as AWS does).

Public operations (``SignUp``, ``ConfirmSignUp``, ``InitiateAuth``) are unsigned; admin
operations (``AdminConfirmSignUp``, ``AdminGetUser``, ``ListUsers``...) are SigV4-signed with
the admin key pair given as ``credentials``.

Example::

    async with CognitoClient(url, client_id="clientevents-local-app") as idp:
        await idp.sign_up("alice", "Passw0rd!", email="alice@example.com")
        tokens = await idp.password_auth("alice", "Passw0rd!")
        tokens = await idp.refresh_auth(tokens.refresh_token)
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
import orjson

from clientevents.client.errors import CognitoClientError, EndpointUnreachable
from clientevents.client.sigv4 import sign
from clientevents.config.identity import DEFAULT_CLIENT_ID, DEFAULT_USER_POOL_ID
from clientevents.identity.sigv4 import Credentials

__all__ = ["CONTENT_TYPE", "TARGET_PREFIX", "AuthTokens", "CognitoClient"]

TARGET_PREFIX = "AWSCognitoIdentityProviderService."
CONTENT_TYPE = "application/x-amz-json-1.1"
SERVICE = "cognito-idp"


@dataclass(frozen=True, slots=True)
class AuthTokens:
    """What ``InitiateAuth`` returns; ``obtained_at`` is ``time.monotonic()`` at the answer."""

    access_token: str = field(repr=False)
    id_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: int
    obtained_at: float

    def expires_within(self, secs: float, now: float | None = None) -> bool:
        """Whether the access token expires within ``secs`` seconds from ``now``."""
        current = time.monotonic() if now is None else now
        return current + secs >= self.obtained_at + self.expires_in

    def to_dict(self) -> dict[str, Any]:
        """Cognito's ``AuthenticationResult`` shape."""
        result: dict[str, Any] = {
            "AccessToken": self.access_token,
            "ExpiresIn": self.expires_in,
            "TokenType": "Bearer",
            "IdToken": self.id_token,
        }
        if self.refresh_token is not None:
            result["RefreshToken"] = self.refresh_token
        return result


class CognitoClient:
    """Cognito's JSON API at ``endpoint`` (``POST /`` with ``X-Amz-Target``).

    Args:
        endpoint: the server, e.g. ``http://127.0.0.1:8080`` or
            ``https://cognito-idp.eu-west-1.amazonaws.com``.
        client_id: the app client id public operations send.
        user_pool_id: the pool id admin operations send.
        credentials: the admin key pair (needed by admin operations only).
        region: the SigV4 scope's region.
        http: an httpx client to share (its connections); one is made (and closed) otherwise.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        user_pool_id: str = DEFAULT_USER_POOL_ID,
        credentials: Credentials | None = None,
        region: str = "local",
        timeout_secs: float = 30.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = httpx.URL(endpoint.rstrip("/") + "/")
        self.client_id = client_id
        self.user_pool_id = user_pool_id
        self.credentials = credentials
        self.region = region
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout_secs)

    async def __aenter__(self) -> CognitoClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._own_http:
            await self._http.aclose()

    # -- the wire ---------------------------------------------------------------------------

    async def call(self, operation: str, body: dict[str, Any], *, signed: bool = False
                   ) -> dict[str, Any]:
        """Run ``operation`` with ``body``; return the answer or raise :class:`CognitoClientError`.

        Raises:
            EndpointUnreachable: no HTTP answer.
            CognitoClientError: an error answer (its ``code`` is Cognito's ``__type``).
        """
        content = orjson.dumps(body)
        headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET_PREFIX + operation}
        if signed:
            if self.credentials is None:
                raise CognitoClientError(
                    "MissingAuthenticationTokenException",
                    f"{operation} needs the admin key; run `clientevents users admin-key` on "
                    "the server's data folder or set CLIENTEVENTS_ADMIN_ACCESS_KEY_ID and "
                    "CLIENTEVENTS_ADMIN_SECRET_ACCESS_KEY.",
                    status=0,
                )
            headers = sign(
                self.credentials, method="POST", host=self.url.netloc.decode("ascii"),
                path=self.url.path, headers=headers, body=content, region=self.region,
                service=SERVICE,
            )
        try:
            response = await self._http.post(self.url, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise EndpointUnreachable(str(self.url), str(exc) or type(exc).__name__) from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise CognitoClientError(
                f"HTTP {response.status_code}",
                f"{self.url} did not answer a JSON object; is it a clientevents server or "
                "Cognito?",
                status=response.status_code,
            )
        if response.status_code != 200:
            code = str(data.get("__type") or f"HTTP {response.status_code}").rsplit("#", 1)[-1]
            message = data.get("message") or data.get("Message") or ""
            raise CognitoClientError(code, str(message), status=response.status_code)
        return data

    # -- public operations ------------------------------------------------------------------

    async def sign_up(self, username: str, password: str, *, email: str | None = None
                      ) -> dict[str, Any]:
        """``SignUp``; the server sends (or writes) the confirmation code."""
        body: dict[str, Any] = {
            "ClientId": self.client_id, "Username": username, "Password": password,
        }
        if email:
            body["UserAttributes"] = [{"Name": "email", "Value": email}]
        return await self.call("SignUp", body)

    async def confirm_sign_up(self, username: str, code: str) -> None:
        """``ConfirmSignUp`` with the code the user received."""
        await self.call("ConfirmSignUp", {
            "ClientId": self.client_id, "Username": username, "ConfirmationCode": code,
        })

    async def password_auth(self, username: str, password: str) -> AuthTokens:
        """``InitiateAuth`` with ``USER_PASSWORD_AUTH``."""
        answer = await self.call("InitiateAuth", {
            "ClientId": self.client_id,
            "AuthFlow": "USER_PASSWORD_AUTH",
            "AuthParameters": {"USERNAME": username, "PASSWORD": password},
        })
        return _tokens(answer, None)

    async def refresh_auth(self, refresh_token: str) -> AuthTokens:
        """``InitiateAuth`` with ``REFRESH_TOKEN_AUTH``; the refresh token stays the same."""
        answer = await self.call("InitiateAuth", {
            "ClientId": self.client_id,
            "AuthFlow": "REFRESH_TOKEN_AUTH",
            "AuthParameters": {"REFRESH_TOKEN": refresh_token},
        })
        return _tokens(answer, refresh_token)

    # -- admin operations (signed) ----------------------------------------------------------

    async def admin(self, operation: str, username: str) -> dict[str, Any]:
        """``Admin<...>`` operations that take a pool id and a user name."""
        return await self.call(
            operation, {"UserPoolId": self.user_pool_id, "Username": username}, signed=True
        )

    async def list_users(self, *, filter_text: str | None = None, limit: int | None = None
                         ) -> AsyncIterator[dict[str, Any]]:
        """Every user (``ListUsers``, following pagination), at most ``limit``."""
        token: str | None = None
        seen = 0
        while True:
            body: dict[str, Any] = {"UserPoolId": self.user_pool_id, "Limit": 60}
            if filter_text:
                body["Filter"] = filter_text
            if token:
                body["PaginationToken"] = token
            page = await self.call("ListUsers", body, signed=True)
            for user in page.get("Users", []):
                yield user
                seen += 1
                if limit is not None and seen >= limit:
                    return
            token = page.get("PaginationToken")
            if not token:
                return


def _tokens(answer: dict[str, Any], refresh_token: str | None) -> AuthTokens:
    result = answer.get("AuthenticationResult")
    if not isinstance(result, dict) or not isinstance(result.get("AccessToken"), str):
        challenge = answer.get("ChallengeName")
        raise CognitoClientError(
            "UnsupportedChallenge",
            f"Sign-in asked for challenge {challenge!r}, which this client does not answer."
            if challenge else "The answer to InitiateAuth holds no tokens.",
            status=200,
        )
    return AuthTokens(
        access_token=result["AccessToken"],
        id_token=str(result.get("IdToken", "")),
        refresh_token=result.get("RefreshToken") or refresh_token,
        expires_in=int(result.get("ExpiresIn", 3600)),
        obtained_at=time.monotonic(),
    )
