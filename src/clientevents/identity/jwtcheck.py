"""The JWT checks every issuer shares: parsing, signature, time claims, mapped to reasons.

PyJWT does the cryptography; this module turns its exceptions into :class:`AuthError` reasons
and keeps the rules in one place:

- the ``alg`` of the header must be one the issuer allows (so ``none`` and HS256-with-a-public-key
  are refused before any key is touched);
- ``exp`` is required; ``exp``, ``nbf`` and ``iat`` are checked with :data:`LEEWAY_SECS`, and
  each must be a finite number of seconds between 0 and :data:`MAX_TIME_CLAIM` (the end of the
  year 9999): a huge integer, ``1e400`` (infinity) or ``NaN`` is refused as ``malformed``, never
  compared (``NaN`` compares false, so it would make a token that never expires);
- the caller checks issuer, audience and ``token_use`` (they differ per issuer).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import jwt
from jwt.exceptions import (
    DecodeError,
    InvalidAlgorithmError,
    InvalidKeyError,
    InvalidSignatureError,
    InvalidTokenError,
    MissingRequiredClaimError,
    PyJWKError,
)

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
    """A token's header and claims, decoded but NOT verified: only for choosing the verifier."""

    __slots__ = ("claims", "header", "token")

    def __init__(self, token: str, header: dict[str, Any], claims: dict[str, Any]) -> None:
        self.token = token
        self.header = header
        self.claims = claims

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


def parse_unverified(token: str) -> UnverifiedToken:
    """Split and decode ``token`` without checking it; raise ``malformed`` / ``too_large``."""
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthError.refuse(
            "too_large", f"The token is longer than {MAX_TOKEN_CHARS} characters."
        )
    if token.count(".") != 2:
        raise AuthError.refuse(
            "malformed", "The token is not a JSON Web Token (3 dot-separated parts)."
        )
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except (InvalidTokenError, ValueError, TypeError) as exc:
        raise AuthError.refuse("malformed", f"The token cannot be decoded: {exc}.") from None
    if not isinstance(claims, dict):
        raise AuthError.refuse("malformed", "The token's payload is not a JSON object.")
    return UnverifiedToken(token, header, claims)


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

    The time claims are checked here rather than by PyJWT so that the clock is the caller's.
    """
    try:
        claims = jwt.decode(
            parsed.token,
            key,
            algorithms=[algorithm],
            options={
                "require": list(require),
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
            },
        )
    except InvalidSignatureError:
        raise AuthError.refuse("bad_signature", "The token's signature is wrong.") from None
    except InvalidAlgorithmError:
        raise AuthError.refuse("alg_not_allowed", "The token's algorithm is refused.") from None
    except (InvalidKeyError, PyJWKError):
        raise AuthError.refuse(
            "bad_signature", "The token's key does not fit its algorithm."
        ) from None
    except MissingRequiredClaimError as exc:
        raise AuthError.refuse("malformed", f"The token lacks the {exc.claim!r} claim.") from None
    except DecodeError as exc:
        raise AuthError.refuse("malformed", f"The token cannot be decoded: {exc}.") from None
    except InvalidTokenError as exc:
        raise AuthError.refuse("malformed", f"The token is invalid: {exc}.") from None
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
