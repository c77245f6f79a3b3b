"""The user pool's tokens: Cognito-shaped RS256 access and ID tokens, opaque refresh tokens.

Claims follow Cognito's. The access token: ``sub``, ``iss``, ``client_id``, ``origin_jti``,
``event_id``, ``token_use="access"``, ``scope``, ``auth_time``, ``exp``, ``iat``, ``jti``,
``username`` — plus ``custom:clientId`` (what a Cognito pre-token-generation trigger can add),
so a verifier gets the clientId without a lookup. The ID token: ``sub``, ``iss``, ``aud``,
``cognito:username``, ``origin_jti``, ``event_id``, ``token_use="id"``, ``auth_time``, ``exp``,
``iat``, ``jti``, ``custom:clientId`` and ``email`` / ``email_verified`` when the user has one.

Issuer: ``<base>/<userPoolId>``, where ``<base>`` is the configured ``issuer_base_url`` when
there is one, else the scheme and host the client used to reach the API (so discovery and JWKS
URLs work from any host name). Without a configured base, a token is accepted from any
``http(s)://<host>/<userPoolId>`` issuer, since only this pool's own keys can have signed it.

Refresh tokens are 256-bit random strings; the store keeps only their SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from clientevents.identity.jwtcheck import UnverifiedToken, check_algorithm, verify
from clientevents.identity.keys import ALGORITHM, KeyRing
from clientevents.identity.principal import AuthError

__all__ = ["ACCESS_SCOPE", "MintedTokens", "PoolTokens", "hash_refresh_token", "new_refresh_token"]

ACCESS_SCOPE = "aws.cognito.signin.user.admin"
REFRESH_PREFIX = "cer1."


def new_refresh_token() -> str:
    """A fresh opaque refresh token (URL-safe, fits Cognito's token pattern)."""
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """What the store keeps of a refresh token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenSubject:
    """What the tokens say about the user."""

    sub: str
    username: str
    client_id: str | None
    email: str | None
    email_verified: bool


@dataclass(frozen=True, slots=True)
class MintedTokens:
    """An access and an ID token of one session, and their lifetime in seconds."""

    access_token: str
    id_token: str
    expires_in: int


class PoolTokens:
    """Mints and verifies the user pool's JWTs."""

    def __init__(
        self,
        keys: KeyRing,
        *,
        pool_id: str,
        app_client_id: str,
        access_ttl_secs: int,
        id_ttl_secs: int,
        issuer_base_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.pool_id = pool_id
        self.app_client_id = app_client_id
        self.access_ttl = access_ttl_secs
        self.id_ttl = id_ttl_secs
        self.issuer_base_url = issuer_base_url.rstrip("/") if issuer_base_url else None
        self._clock = clock

    # -- issuer ----------------------------------------------------------------------------

    def issuer(self, request_base_url: str | None = None) -> str:
        """The ``iss`` for tokens minted for a request that reached us at ``request_base_url``."""
        base = self.issuer_base_url or (request_base_url or "http://127.0.0.1:8080").rstrip("/")
        return f"{base}/{self.pool_id}"

    def accepts_issuer(self, iss: str | None) -> bool:
        """Whether ``iss`` names this pool (see the module docstring)."""
        if not iss:
            return False
        if self.issuer_base_url is not None:
            return iss == f"{self.issuer_base_url}/{self.pool_id}"
        parts = urlsplit(iss)
        return (
            parts.scheme in ("http", "https")
            and bool(parts.netloc)
            and parts.path == f"/{self.pool_id}"
            and not parts.query
            and not parts.fragment
        )

    # -- minting ---------------------------------------------------------------------------

    def mint(
        self, who: TokenSubject, *, origin_jti: str, auth_time: int, issuer: str
    ) -> MintedTokens:
        """An access and an ID token for ``who`` in session ``origin_jti``."""
        now = int(self._clock())
        event_id = str(uuid.uuid4())
        access: dict[str, Any] = {
            "sub": who.sub,
            "iss": issuer,
            "client_id": self.app_client_id,
            "origin_jti": origin_jti,
            "event_id": event_id,
            "token_use": "access",
            "scope": ACCESS_SCOPE,
            "auth_time": auth_time,
            "exp": now + self.access_ttl,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "username": who.username,
        }
        ident: dict[str, Any] = {
            "sub": who.sub,
            "iss": issuer,
            "cognito:username": who.username,
            "origin_jti": origin_jti,
            "aud": self.app_client_id,
            "event_id": event_id,
            "token_use": "id",
            "auth_time": auth_time,
            "exp": now + self.id_ttl,
            "iat": now,
            "jti": str(uuid.uuid4()),
        }
        if who.client_id is not None:
            access["custom:clientId"] = who.client_id
            ident["custom:clientId"] = who.client_id
        if who.email is not None:
            ident["email"] = who.email
            ident["email_verified"] = who.email_verified
        return MintedTokens(self.keys.sign(access), self.keys.sign(ident), self.access_ttl)

    # -- verifying -------------------------------------------------------------------------

    def verify(self, parsed: UnverifiedToken) -> dict[str, Any]:
        """Check a token that names this pool: algorithm, key, signature, times, issuer.

        Audience and ``token_use`` are the caller's to check (:meth:`check_use`).
        """
        alg = check_algorithm(parsed, (ALGORITHM,))
        kid = parsed.kid
        if kid is None:
            raise AuthError.refuse("unknown_kid", "The token's header has no 'kid'.")
        key = self.keys.verification_key(kid)
        if key is None:
            raise AuthError.refuse(
                "unknown_kid", "The token was signed by a key this pool does not publish."
            )
        claims = verify(
            parsed, key, alg, now=self._clock(), require=("exp", "iat", "sub", "token_use")
        )
        if not self.accepts_issuer(claims.get("iss")):
            raise AuthError.refuse("wrong_issuer", "The token was not issued by this user pool.")
        return claims

    def check_use(self, claims: dict[str, Any], *, accept_id_tokens: bool) -> str:
        """Check ``token_use`` and the app client; return the token use."""
        use = claims.get("token_use")
        other_client = "The token was issued to another app client."
        if use == "access":
            if claims.get("client_id") != self.app_client_id:
                raise AuthError.refuse("wrong_audience", other_client)
        elif use == "id":
            if not accept_id_tokens:
                raise AuthError.refuse(
                    "wrong_token_use", "An ID token was sent where an access token is required."
                )
            if claims.get("aud") != self.app_client_id:
                raise AuthError.refuse("wrong_audience", other_client)
        else:
            raise AuthError.refuse(
                "wrong_token_use", "The token's token_use is neither 'access' nor 'id'."
            )
        if not isinstance(claims.get("origin_jti"), str):
            raise AuthError.refuse("malformed", "The token lacks the 'origin_jti' claim.")
        return str(use)
