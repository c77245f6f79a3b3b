"""Password hashing (Argon2id) and Cognito's password policy.

Parameters: Argon2id, time cost 2, memory 19 MiB, parallelism 1 — the first of the OWASP Password
Storage Cheat Sheet's recommended Argon2id settings. On the 2-core machine the project is
developed on one verification takes about 16 ms, so a login stays well under 50 ms while an
offline guess costs 19 MiB of memory each. Hashes carry their parameters, so raising them later
re-hashes each password at its owner's next login (:meth:`PasswordHasher.needs_rehash`).
"""

from __future__ import annotations

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from clientevents.config.identity import PasswordPolicy
from clientevents.identity.errors import CognitoError

__all__ = [
    "ARGON2_MEMORY_KIB",
    "ARGON2_PARALLELISM",
    "ARGON2_TIME_COST",
    "SYMBOLS",
    "PasswordHasher",
    "check_password_policy",
]

ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PARALLELISM = 1

SYMBOLS = frozenset("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ")
"""The characters Cognito counts as symbols (the space counts when not leading or trailing)."""

MAX_PASSWORD_CHARS = 256


class PasswordHasher:
    """Argon2id hashing with the parameters above; ``verify`` never raises on a mismatch."""

    def __init__(
        self,
        *,
        time_cost: int = ARGON2_TIME_COST,
        memory_kib: int = ARGON2_MEMORY_KIB,
        parallelism: int = ARGON2_PARALLELISM,
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        # Verified against when a user does not exist, so the answer takes as long either way.
        self._decoy = self._hasher.hash("decoy password, never valid")

    def hash(self, password: str) -> str:
        """The encoded Argon2id hash of ``password`` (salt and parameters included)."""
        return self._hasher.hash(password)

    def verify(self, encoded: str | None, password: str) -> bool:
        """Whether ``password`` matches ``encoded``; ``None`` burns the same time and fails."""
        try:
            if encoded is None:
                self._hasher.verify(self._decoy, password)
                return False
            return self._hasher.verify(encoded, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        """Whether ``encoded`` was made with other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(encoded)
        except InvalidHashError:
            return True


def check_password_policy(policy: PasswordPolicy, password: str) -> None:
    """Raise ``InvalidPasswordException`` (Cognito's wording) if ``password`` breaks ``policy``."""
    problem = _policy_problem(policy, password)
    if problem is not None:
        raise CognitoError(
            "InvalidPasswordException", f"Password did not conform with policy: {problem}"
        )


def _policy_problem(policy: PasswordPolicy, password: str) -> str | None:
    if len(password) < policy.minimum_length:
        return "Password not long enough"
    if len(password) > MAX_PASSWORD_CHARS:
        return f"Password longer than {MAX_PASSWORD_CHARS} characters"
    if password != password.strip():
        return "Password must not begin or end with a space"
    if policy.require_lowercase and not any(c.islower() for c in password):
        return "Password must have lowercase characters"
    if policy.require_uppercase and not any(c.isupper() for c in password):
        return "Password must have uppercase characters"
    if policy.require_numbers and not any(c.isdigit() for c in password):
        return "Password must have numeric characters"
    if policy.require_symbols and not any(c in SYMBOLS for c in password):
        return "Password must have symbol characters"
    return None
