"""The JWT checks every issuer shares: parsing, signature, time claims, mapped to reasons.

A token is split and decoded once (:func:`parse_unverified`): each segment must be canonical
base64url (optionally padded, as PyJWT accepts), the header and the payload JSON objects
(orjson); a header with ``crit`` or ``b64`` (extensions this service does not implement) is
refused. The signature is then checked over those same bytes by PyJWT's algorithm classes,
which call the ``cryptography`` package (:func:`verify`): PyJWT's own ``decode`` would decode
the token twice more and walk its text character by character in Python, which made a first
verification cost ten times the RSA check itself. The rules, in one place:

- the ``alg`` of the header must be one the issuer allows (so ``none`` and HS256-with-a-public-key
  are refused before any key is touched);
- ``exp`` is required; ``exp``, ``nbf`` and ``iat`` are checked with :data:`LEEWAY_SECS`, and
  each must be a finite number of seconds between 0 and :data:`MAX_TIME_CLAIM` (the end of the
  year 9999): a huge integer, ``1e400`` (infinity) or ``NaN`` is refused as ``malformed``, never
  compared (``NaN`` compares false, so it would make a token that never expires);
- the caller checks issuer, audience and ``token_use`` (they differ per issuer).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection, Sequence
from typing import Any

import jwt
import orjson
from jwt.algorithms import Algorithm
from jwt.api_jwk import PyJWK
from jwt.exceptions import InvalidKeyError, PyJWKError

from clientevents.identity.principal import AuthError

__all__ = [
    "LEEWAY_SECS",
    "MAX_TIME_CLAIM",
    "MAX_TOKEN_CHARS",
    "UnverifiedToken",
    "check_algorithm",
    "check_times",
    "parse_unverified",
    "verify",
]

LEEWAY_SECS = 5.0
"""Clock skew tolerated on ``exp``, ``nbf`` and ``iat``."""

MAX_TOKEN_CHARS = 16 * 1024
"""Longer tokens are refused before any parsing (``too_large``)."""

MAX_TIME_CLAIM = 253_402_300_799
"""The largest ``exp`` / ``nbf`` / ``iat`` accepted: 9999-12-31T23:59:59Z in epoch seconds."""


class UnverifiedToken:
    """A token's header and claims, decoded but NOT verified: only for choosing the verifier.

    ``signing_input`` (the header and payload segments as sent) and ``signature`` (decoded)
    are what :func:`verify` checks.
    """

    __slots__ = ("claims", "header", "signature", "signing_input", "token")

    def __init__(
        self,
        token: str,
        header: dict[str, Any],
        claims: dict[str, Any],
        signing_input: bytes = b"",
        signature: bytes = b"",
    ) -> None:
        self.token = token
        self.header = header
        self.claims = claims
        self.signing_input = signing_input
        self.signature = signature

    @property
    def alg(self) -> str:
        value = self.header.get("alg")
        return value if isinstance(value, str) else ""

    @property
    def kid(self) -> str | None:
        value = self.header.get("kid")
        return value if isinstance(value, str) else None

    @property
    def issuer(self) -> str | None:
        value = self.claims.get("iss")
        return value if isinstance(value, str) else None


_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


def _segment(text: str, name: str) -> bytes:
    """Decode one base64url segment, refusing anything but its canonical encoding."""
    stripped = text.rstrip("=")
    padding = len(text) - len(stripped)
    if (
        padding > 2
        or (padding and len(text) % 4)
        or len(stripped) % 4 == 1
        or _SEGMENT.fullmatch(stripped) is None
    ):
        raise AuthError.refuse("malformed", f"The token's {name} is not base64url.")
    try:
        raw = base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - the pattern admits only valid text
        raise AuthError.refuse("malformed", f"The token's {name} is not base64url.") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != stripped.encode("ascii"):
        raise AuthError.refuse("malformed", f"The token's {name} is not canonical base64url.")
    return raw


def _json_object(raw: bytes, name: str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # orjson refuses numbers beyond a double and NaN; the standard parser reads them, so
        # the claim checks can name the claim that is not a sane time (a refusal either way).
        try:
            value = json.loads(raw)
        except ValueError:
            raise AuthError.refuse("malformed", f"The token's {name} is not JSON: {exc}.") from None
    if not isinstance(value, dict):
        raise AuthError.refuse("malformed", f"The token's {name} is not a JSON object.")
    return value


def parse_unverified(token: str) -> UnverifiedToken:
    """Split and decode ``token`` without checking it; raise ``malformed`` / ``too_large``."""
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthError.refuse(
            "too_large", f"The token is longer than {MAX_TOKEN_CHARS} characters."
        )
    parts = token.split(".")
    if len(parts) != 3 or not token.isascii():
        raise AuthError.refuse(
            "malformed", "The token is not a JSON Web Token (3 dot-separated parts)."
        )
    header = _json_object(_segment(parts[0], "header"), "header")
    if "crit" in header or "b64" in header:
        raise AuthError.refuse(
            "malformed", "The token's header asks for JWS extensions (crit, b64) this service "
            "does not implement."
        )
    if "kid" in header and not isinstance(header["kid"], str):
        raise AuthError.refuse("malformed", "The token's 'kid' header is not a string.")
    claims = _json_object(_segment(parts[1], "payload"), "payload")
    signature = _segment(parts[2], "signature")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    return UnverifiedToken(token, header, claims, signing_input, signature)


_ALGORITHMS: dict[str, Algorithm] = {}


def _algorithm(name: str) -> Algorithm:
    algorithm = _ALGORITHMS.get(name)
    if algorithm is None:
        try:
            algorithm = jwt.get_algorithm_by_name(name)
        except NotImplementedError:
            raise AuthError.refuse(
                "alg_not_allowed", "The token's algorithm is not supported."
            ) from None
        _ALGORITHMS[name] = algorithm
    return algorithm


def check_algorithm(parsed: UnverifiedToken, allowed: Collection[str]) -> str:
    """The header's ``alg`` when ``allowed`` has it, else ``alg_not_allowed``."""
    alg = parsed.alg
    if alg not in allowed:
        shown = alg if len(alg) <= 20 else alg[:20] + "..."
        raise AuthError.refuse(
            "alg_not_allowed",
            f"The token's algorithm {shown!r} is not accepted; "
            f"allowed: {', '.join(sorted(allowed))}.",
        )
    return alg


def verify(
    parsed: UnverifiedToken,
    key: Any,
    algorithm: str,
    *,
    now: float,
    require: Sequence[str] = ("exp",),
    leeway: float = LEEWAY_SECS,
) -> dict[str, Any]:
    """Check the signature with ``key``, then the time claims against ``now``; return the claims.

    ``algorithm`` is the one the caller allowed (:func:`check_algorithm`); the header must name
    it. The time claims are checked here so that the clock is the caller's.
    """
    if parsed.alg != algorithm:
        raise AuthError.refuse("alg_not_allowed", "The token's algorithm is refused.")
    if isinstance(key, PyJWK):  # a published key is bound to its algorithm
        if key.algorithm_name != algorithm:
            raise AuthError.refuse("alg_not_allowed", "The token's algorithm is refused.")
        verifier, key = key.Algorithm, key.key
    else:
        verifier = _algorithm(algorithm)
    try:
        prepared = verifier.prepare_key(key)
        valid = verifier.verify(parsed.signing_input, prepared, parsed.signature)
    except (InvalidKeyError, PyJWKError, TypeError, ValueError):
        raise AuthError.refuse(
            "bad_signature", "The token's key does not fit its algorithm."
        ) from None
    if not valid:
        raise AuthError.refuse("bad_signature", "The token's signature is wrong.")
    claims = parsed.claims
    for name in require:
        if claims.get(name) is None:
            raise AuthError.refuse("malformed", f"The token lacks the {name!r} claim.")
    check_times(claims, now=now, leeway=leeway)
    return claims


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthError.refuse("malformed", f"The token's {name!r} claim is not a number.")
    # Compared before any conversion: float() of a 400-digit integer raises OverflowError, and
    # NaN fails every comparison (so `not 0 <= NaN` refuses it).
    if not 0 <= value <= MAX_TIME_CLAIM:
        raise AuthError.refuse(
            "malformed",
            f"The token's {name!r} claim is not a time in seconds between 0 and "
            f"{MAX_TIME_CLAIM}.",
        )
    return float(value)


def check_times(claims: dict[str, Any], *, now: float, leeway: float = LEEWAY_SECS) -> None:
    """Refuse a token past ``exp`` or before ``nbf`` / ``iat`` (with ``leeway`` seconds)."""
    exp = _number(claims, "exp")
    if exp is not None and now >= exp + leeway:
        raise AuthError.refuse("expired", "The token has expired.")
    for name in ("nbf", "iat"):
        start = _number(claims, name)
        if start is not None and start > now + leeway:
            raise AuthError.refuse("not_yet_valid", f"The token is not valid yet ({name}).")
