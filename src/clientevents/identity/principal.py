"""Who a verified token speaks for (Principal) and why a token was refused (AuthError)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from clientevents.errors import RequestError

__all__ = ["AUTH_REASONS", "USER_POOL_ISSUER", "AuthError", "Principal"]

USER_POOL_ISSUER: Final = "user_pool"
"""``Principal.issuer_name`` of tokens issued by the built-in user pool."""

AUTH_REASONS: Final = frozenset(
    {
        "missing",
        "malformed",
        "too_large",
        "alg_not_allowed",
        "bad_signature",
        "unknown_kid",
        "expired",
        "not_yet_valid",
        "wrong_issuer",
        "wrong_audience",
        "wrong_token_use",
        "revoked",
        "user_disabled",
        "user_not_found",
    }
)
"""Every value :attr:`AuthError.reason` takes: a small, fixed set fit for a metric label."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller a verified token stands for.

    Attributes:
        subject: The token's ``sub``.
        username: ``username`` / ``cognito:username`` (or ``sub`` when the issuer sends neither).
        client_id: The stable clientId events are attributed to: the user pool's
            ``custom:clientId``, or an external issuer's configured ``client_id_claim``.
        issuer_name: ``"user_pool"`` for the built-in pool, else the configured issuer's name.
        token_use: ``"access"`` or ``"id"`` (``""`` when an external issuer does not say).
        claims: Every claim of the verified token.
    """

    subject: str
    username: str
    client_id: str
    issuer_name: str
    token_use: str
    claims: dict[str, Any] = field(repr=False, compare=False)


class AuthError(RequestError):
    """A request's credentials were refused.

    ``status`` is 401 for every reason but ``user_disabled`` (403); ``reason`` is one of
    :data:`AUTH_REASONS`; ``message`` is a sentence for the caller that never echoes the token.
    """

    def __init__(self, status: int, reason: str, message: str) -> None:
        if reason not in AUTH_REASONS:
            raise ValueError(f"Unknown authentication failure reason {reason!r}.")
        self.reason = reason
        self.message = message
        super().__init__(message, status=status)

    @classmethod
    def refuse(cls, reason: str, message: str) -> AuthError:
        """The error for ``reason`` with its status (403 for ``user_disabled``, else 401)."""
        return cls(403 if reason == "user_disabled" else 401, reason, message)

    def __repr__(self) -> str:
        return f"AuthError({self.status}, {self.reason!r}, {self.message!r})"
