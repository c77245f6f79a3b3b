"""External OpenID Connect issuers: their signing keys, fetched and cached.

For each configured issuer the JWKS comes from ``jwks_url`` or, when that is not set, from the
``jwks_uri`` of ``<issuer>/.well-known/openid-configuration`` (whose ``issuer`` must equal the
configured one, as OpenID Connect Discovery requires).

Keys are cached. A token whose ``kid`` is not in the cache triggers a refetch — at most one
every ``min_refresh_secs`` (10 s) per issuer, so tokens with made-up ``kid`` values cannot make
us hammer the provider — and keys older than ``max_age_secs`` (1 h) are refetched on next use;
when a fetch fails, the keys we have stay in use. Symmetric (``oct``) keys and keys whose
``use`` is not ``sig`` are ignored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from jwt import PyJWK
from jwt.exceptions import InvalidKeyError, PyJWKError

from clientevents.config.identity import IssuerConfig
from clientevents.errors import ClientEventsError
from clientevents.identity.principal import AuthError

__all__ = ["JwksFetchError", "RemoteKeySet"]

logger = logging.getLogger("clientevents.identity")

MAX_DOCUMENT_BYTES = 512 * 1024


class JwksFetchError(ClientEventsError):
    """The discovery document or the JWKS could not be fetched or understood."""


class RemoteKeySet:
    """The cached signing keys of one external issuer."""

    def __init__(
        self,
        config: IssuerConfig,
        *,
        min_refresh_secs: float = 10.0,
        max_age_secs: float = 3600.0,
        timeout_secs: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.min_refresh = min_refresh_secs
        self.max_age = max_age_secs
        self.timeout = timeout_secs
        self._clock = clock
        self._jwks: dict[str, dict[str, Any]] = {}
        self._keys: dict[tuple[str, str], PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock: asyncio.Lock | None = None
        self._jwks_url = config.jwks_url
        self.fetches = 0

    # -- fetching -----------------------------------------------------------------------------

    async def _get_json(self, client: httpx.AsyncClient, url: str) -> dict[str, Any]:
        try:
            response = await client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise JwksFetchError(f"GET {url} failed: {exc}") from exc
        if response.status_code != 200:
            raise JwksFetchError(f"GET {url} answered HTTP {response.status_code}")
        if len(response.content) > MAX_DOCUMENT_BYTES:
            raise JwksFetchError(f"GET {url} answered more than {MAX_DOCUMENT_BYTES} bytes")
        try:
            data = response.json()
        except ValueError as exc:
            raise JwksFetchError(f"GET {url} did not answer JSON") from exc
        if not isinstance(data, dict):
            raise JwksFetchError(f"GET {url} did not answer a JSON object")
        return data

    async def _fetch(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=True) as client:
            url = self._jwks_url
            if url is None:
                discovery_url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
                discovery = await self._get_json(client, discovery_url)
                if discovery.get("issuer") != self.config.issuer:
                    raise JwksFetchError(
                        f"{discovery_url} names issuer {discovery.get('issuer')!r}, "
                        f"not {self.config.issuer!r}"
                    )
                jwks_uri = discovery.get("jwks_uri")
                if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("http://", "https://")):
                    raise JwksFetchError(f"{discovery_url} has no usable jwks_uri")
                url = jwks_uri
            document = await self._get_json(client, url)
        keys = document.get("keys")
        if not isinstance(keys, list):
            raise JwksFetchError(f"{url} has no 'keys' list")
        jwks: dict[str, dict[str, Any]] = {}
        for index, jwk in enumerate(keys):
            if not isinstance(jwk, dict) or jwk.get("kty") not in ("RSA", "EC", "OKP"):
                continue
            if jwk.get("use", "sig") != "sig":
                continue
            kid = jwk.get("kid")
            jwks[kid if isinstance(kid, str) else f"#{index}"] = jwk
        self._jwks_url = url
        self._jwks = jwks
        self._keys = {}
        self._fetched_at = self._clock()
        self.fetches += 1

    async def refresh(self, *, force: bool = False) -> bool:
        """Refetch the keys unless tried within ``min_refresh_secs``; ``True`` if fetched."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            now = self._clock()
            if (
                not force
                and self._attempted_at is not None
                and now - self._attempted_at < self.min_refresh
            ):
                return False
            self._attempted_at = now
            try:
                await self._fetch()
            except JwksFetchError as exc:
                logger.warning("Cannot refresh the keys of issuer %r: %s.", self.config.name, exc)
                return False
            return True

    # -- lookup -------------------------------------------------------------------------------

    def _select(self, kid: str | None) -> dict[str, Any] | None:
        if kid is not None:
            return self._jwks.get(kid)
        if len(self._jwks) == 1:
            return next(iter(self._jwks.values()))
        return None

    async def key_for(self, kid: str | None, alg: str) -> PyJWK:
        """The verification key for ``kid`` and ``alg``; raise ``unknown_kid`` if there is none."""
        stale = self._fetched_at is None or self._clock() - self._fetched_at > self.max_age
        jwk = None if stale else self._select(kid)
        if jwk is None:
            await self.refresh()
            jwk = self._select(kid)
        if jwk is None:
            if not self._jwks:
                raise AuthError.refuse(
                    "unknown_kid",
                    f"The signing keys of issuer {self.config.name!r} are not available.",
                )
            what = "its header has no 'kid'" if kid is None else "its 'kid' is not published"
            raise AuthError.refuse(
                "unknown_kid",
                f"The token cannot be matched to a key of issuer {self.config.name!r}: {what}.",
            )
        declared = jwk.get("alg")
        if isinstance(declared, str) and declared != alg:
            raise AuthError.refuse(
                "alg_not_allowed", f"The token's key is for {declared}, not {alg}."
            )
        cache_key = (str(jwk.get("kid", "")), alg)
        key = self._keys.get(cache_key)
        if key is None:
            try:
                key = PyJWK(jwk, algorithm=alg)
            except (InvalidKeyError, PyJWKError, ValueError, TypeError):
                raise AuthError.refuse(
                    "bad_signature", f"The published key does not fit algorithm {alg}."
                ) from None
            self._keys[cache_key] = key
        return key
