"""Errors of the secret store. None of them ever carries a secret's value."""

from __future__ import annotations

from clientevents.errors import StoreError

__all__ = ["MasterKeyError", "SecretError", "SecretNotFound", "SecretUnreadable"]


class SecretError(StoreError):
    """The secret store could not give what was asked for."""


class MasterKeyError(SecretError):
    """The master key is missing, malformed, or its key file is unsafe."""


class SecretNotFound(SecretError):
    """No secret of that name, or no such key in a JSON secret."""


class SecretUnreadable(SecretError):
    """A stored secret does not decrypt with the master key (another key, or a damaged row)."""
