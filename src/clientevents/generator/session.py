"""One simulated client's sign-in: tokens refreshed before they expire, one re-login on 401.

A :class:`Session` signs in with ``USER_PASSWORD_AUTH``, hands out the current access token,
refreshes it with the refresh token (``REFRESH_TOKEN_AUTH``) when it is within
``refresh_margin_secs`` of expiring, and signs in again with the password when asked after a
401 — once per token: a 401 on a token already replaced does not sign in again. Concurrent
requests of one client share one refresh or sign-in (a lock).
"""

from __future__ import annotations

import asyncio

from clientevents.client import AuthTokens, ClientError, CognitoClient
from clientevents.generator.stats import Stats

__all__ = ["Session", "SignInFailed"]


class SignInFailed(Exception):
    """The client could not sign in (wrong password, unconfirmed or disabled user...)."""


class Session:
    """The tokens of one user."""

    def __init__(self, idp: CognitoClient, username: str, password: str, stats: Stats, *,
                 refresh_margin_secs: float = 60.0) -> None:
        self.idp = idp
        self.username = username
        self._password = password
        self.stats = stats
        self.refresh_margin_secs = refresh_margin_secs
        self.tokens: AuthTokens | None = None
        self.failed: str | None = None
        self._lock = asyncio.Lock()

    async def sign_in(self) -> AuthTokens:
        """Sign in with the password (raises :class:`SignInFailed`)."""
        try:
            tokens = await self.idp.password_auth(self.username, self._password)
        except ClientError as exc:
            self.failed = f"{self.username}: {exc}"
            self.stats.sign_in_failures += 1
            raise SignInFailed(self.failed) from None
        self.failed = None
        self.tokens = tokens
        return tokens

    def _margin(self, tokens: AuthTokens) -> float:
        return min(self.refresh_margin_secs, tokens.expires_in / 10)

    async def access_token(self) -> str:
        """A token valid for at least the margin; refreshed (or signed in again) if needed."""
        tokens = self.tokens
        if tokens is not None and not tokens.expires_within(self._margin(tokens)):
            return tokens.access_token
        async with self._lock:
            tokens = self.tokens
            if tokens is None:
                tokens = await self.sign_in()
            elif tokens.expires_within(self._margin(tokens)):
                tokens = await self._refresh(tokens)
            return tokens.access_token

    async def _refresh(self, tokens: AuthTokens) -> AuthTokens:
        if tokens.refresh_token:
            try:
                self.tokens = await self.idp.refresh_auth(tokens.refresh_token)
                self.stats.token_refreshes += 1
                return self.tokens
            except ClientError:
                pass  # revoked or expired: the password still works
        self.stats.relogins += 1
        return await self.sign_in()

    async def after_unauthorized(self, token: str) -> str:
        """The server refused ``token`` (401): sign in again unless another request already
        did since ``token`` was handed out; return the token to retry with."""
        async with self._lock:
            if self.tokens is not None and self.tokens.access_token != token:
                return self.tokens.access_token
            self.stats.relogins += 1
            return (await self.sign_in()).access_token
