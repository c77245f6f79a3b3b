"""Authenticates a request's ``Authorization`` header: the user pool's tokens and external issuers.

The header is ``<jwt>`` or ``Bearer <jwt>``. Steps:

1. size and shape (``too_large``, ``malformed``) before any decoding work;
2. the unverified ``iss`` picks the verifier: a configured external issuer (exact match) or this
   user pool; anything else is ``wrong_issuer``;
3. the verifier checks algorithm, key, signature, times, audience and ``token_use``;
4. for the user pool, every request (cached or not) checks the user and the session through
   :class:`~clientevents.identity.userstate.UserStateCache`, which re-reads them as soon as any
   process changed a user's state, so GlobalSignOut, AdminDisableUser and AdminDeleteUser take
   effect on the very next request in every process.

Verified tokens are cached until they expire, within a memory budget (oldest dropped first):
a first verification costs about one RSA signature check (some 35 µs), so a cache that is full
costs little.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from clientevents.config.identity import IssuerConfig
from clientevents.identity.jwtcheck import (
    MAX_TOKEN_CHARS,
    UnverifiedToken,
    check_algorithm,
    parse_unverified,
    verify,
)
from clientevents.identity.principal import USER_POOL_ISSUER, AuthError, Principal
from clientevents.identity.remote import RemoteKeySet
from clientevents.identity.sessions import SessionState
from clientevents.identity.userpool import UserPool
from clientevents.identity.userstate import UserStateCache

__all__ = ["DEFAULT_CACHE_BYTES", "DEFAULT_CACHE_SIZE", "Authenticator"]

DEFAULT_CACHE_SIZE = 100_000
"""Most verified tokens cached at once."""

DEFAULT_CACHE_BYTES = 64 * 1024 * 1024
"""The verified-token cache's memory budget (estimated as :func:`_entry_bytes` adds up)."""


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    expires_at: float
    origin_jti: str | None  # set for user-pool tokens: checked on every request
    size: int  # estimated bytes this entry keeps alive, its token included


def _entry_bytes(token: str) -> int:
    """What caching a verification of ``token`` costs in memory, estimated from its length.

    Measured on this pool's access tokens (``sys.getsizeof`` over the key, the claims and
    their values, the principal): about 2.4 times the token's length plus 600 bytes.
    """
    return 3 * len(token) + 1024


class Authenticator:
    """Turns an ``Authorization`` header into a :class:`Principal` or raises :class:`AuthError`.

    Example::

        principal = await authenticator.authenticate(request.headers.get("authorization"))
        principal.client_id      # the clientId events are attributed to
    """

    def __init__(
        self,
        *,
        user_pool: UserPool | None,
        issuers: Sequence[IssuerConfig] = (),
        accept_id_tokens: bool = False,
        cache_size: int = DEFAULT_CACHE_SIZE,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        jwks_min_refresh_secs: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.user_pool = user_pool
        self.accept_id_tokens = accept_id_tokens
        self._clock = clock
        self._cache: dict[str, _Verified] = {}
        self._cache_size = cache_size
        self._cache_budget = cache_bytes
        self.cache_bytes = 0  # the estimated memory the cached verifications hold
        self.user_states = UserStateCache(user_pool.db) if user_pool is not None else None
        self.issuers: dict[str, RemoteKeySet] = {
            issuer.issuer: RemoteKeySet(issuer, min_refresh_secs=jwks_min_refresh_secs, clock=clock)
            for issuer in issuers
        }

    async def authenticate(self, authorization_header: str | None) -> Principal:
        """The principal of a valid token; raise :class:`AuthError` otherwise."""
        token = _token_from_header(authorization_header)
        now = self._clock()
        verified = self._cache.get(token)
        if verified is None or verified.expires_at <= now:
            verified = await self._verify(token)
            self._remember(token, verified)
        if verified.origin_jti is not None and self.user_states is not None:
            state = await self.user_states.aget(verified.principal.subject, verified.origin_jti)
            return self._check_pool_user(verified, state)
        return verified.principal

    def forget(self) -> None:
        """Drop every cached verification and user state (tests; configuration changes)."""
        self._cache.clear()
        self.cache_bytes = 0
        if self.user_states is not None:
            self.user_states.forget()

    # -- verification ------------------------------------------------------------------------

    async def _verify(self, token: str) -> _Verified:
        parsed = parse_unverified(token)
        issuer = parsed.issuer
        remote = self.issuers.get(issuer) if issuer is not None else None
        if remote is not None:
            return await self._verify_external(parsed, remote)
        pool = self.user_pool
        if pool is not None and pool.tokens.accepts_issuer(issuer):
            return self._verify_pool(parsed, pool)
        raise AuthError.refuse("wrong_issuer", "The token's issuer is not accepted here.")

    def _verify_pool(self, parsed: UnverifiedToken, pool: UserPool) -> _Verified:
        claims = pool.tokens.verify(parsed)
        use = pool.tokens.check_use(claims, accept_id_tokens=self.accept_id_tokens)
        username = claims.get("username" if use == "access" else "cognito:username")
        client_id = claims.get("custom:clientId")
        principal = Principal(
            subject=str(claims["sub"]),
            username=str(username or claims["sub"]),
            client_id=str(client_id) if isinstance(client_id, str) else "",
            issuer_name=USER_POOL_ISSUER,
            token_use=use,
            claims=claims,
        )
        return _Verified(principal, float(claims["exp"]), str(claims["origin_jti"]),
                         _entry_bytes(parsed.token))

    async def _verify_external(self, parsed: UnverifiedToken, remote: RemoteKeySet) -> _Verified:
        config = remote.config
        alg = check_algorithm(parsed, config.algorithms)
        key = await remote.key_for(parsed.kid, alg)
        claims = verify(parsed, key, alg, now=self._clock())
        _check_audience(claims, config)
        use = claims.get("token_use")
        if config.token_use is not None:
            if use != config.token_use:
                raise AuthError.refuse(
                    "wrong_token_use", f"Issuer {config.name!r} tokens must have token_use "
                    f"{config.token_use!r}."
                )
        elif use == "id" and not self.accept_id_tokens:
            raise AuthError.refuse(
                "wrong_token_use", "An ID token was sent where an access token is required."
            )
        client_id = claims.get(config.client_id_claim)
        if isinstance(client_id, bool) or not isinstance(client_id, str | int) or client_id == "":
            raise AuthError.refuse(
                "malformed",
                f"The token has no usable {config.client_id_claim!r} claim (the clientId of "
                f"issuer {config.name!r}).",
            )
        sub = claims.get("sub")
        username = (
            claims.get("username") or claims.get("cognito:username")
            or claims.get("preferred_username") or sub or ""
        )
        principal = Principal(
            subject=str(sub or ""),
            username=str(username),
            client_id=str(client_id),
            issuer_name=config.name,
            token_use=use if isinstance(use, str) else "",
            claims=claims,
        )
        return _Verified(principal, float(claims["exp"]), None, _entry_bytes(parsed.token))

    def _check_pool_user(self, verified: _Verified, state: SessionState | None) -> Principal:
        principal = verified.principal
        if state is None:
            raise AuthError.refuse("user_not_found", "The token's user no longer exists.")
        if not state.enabled:
            raise AuthError.refuse("user_disabled", "The token's user is disabled.")
        if state.revoked:
            raise AuthError.refuse("revoked", "The token was revoked (the user signed out).")
        if principal.client_id:
            return principal
        if not state.client_id:
            raise AuthError.refuse("user_not_found", "The token's user has no clientId yet.")
        return Principal(
            subject=principal.subject,
            username=principal.username,
            client_id=state.client_id,
            issuer_name=principal.issuer_name,
            token_use=principal.token_use,
            claims=principal.claims,
        )

    def _remember(self, token: str, verified: _Verified) -> None:
        # Oldest first: tokens of one issuer live equally long, so the oldest entry is also
        # the first to expire; an expired entry met on a request is replaced there.
        cache = self._cache
        old = cache.pop(token, None)
        if old is not None:
            self.cache_bytes -= old.size
        size = verified.size
        if size > self._cache_budget or not self._cache_size:
            return
        while cache and (
            len(cache) >= self._cache_size or self.cache_bytes + size > self._cache_budget
        ):
            self.cache_bytes -= cache.pop(next(iter(cache))).size
        cache[token] = verified
        self.cache_bytes += size


def _token_from_header(header: str | None) -> str:
    if header is None or not header.strip():
        raise AuthError.refuse("missing", "The Authorization header is missing.")
    if len(header) > MAX_TOKEN_CHARS + 16:
        raise AuthError.refuse(
            "too_large", f"The Authorization header is longer than {MAX_TOKEN_CHARS} characters."
        )
    value = header.strip()
    scheme, _, rest = value.partition(" ")
    if rest and scheme.lower() == "bearer":
        value = rest.strip()
    if not value or len(value.split(None, 1)) > 1:  # any whitespace inside, at C speed
        raise AuthError.refuse(
            "malformed", "The Authorization header must be '<token>' or 'Bearer <token>'."
        )
    return value


def _check_audience(claims: dict[str, Any], config: IssuerConfig) -> None:
    allowed = set(config.audience)
    aud = claims.get("aud")
    if aud is not None:
        values = aud if isinstance(aud, list) else [aud]
        if any(isinstance(v, str) and v in allowed for v in values):
            return
    elif claims.get("client_id") in allowed:  # Cognito access tokens carry client_id, not aud
        return
    raise AuthError.refuse(
        "wrong_audience", f"The token was not issued for this service's audience ({config.name})."
    )
