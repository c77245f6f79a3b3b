"""When two usernames name the same user: one key per user, whatever case or Unicode form is typed.

Cognito pools are case-insensitive by default today ("users can sign in using username,
USERNAME, or UserName", in Cognito's words); Cognito documents the rule with ASCII examples
only. clientevents applies it to all of Unicode as Unicode recommends for caseless matching of
identifiers: the key of a username is ``NFKC(casefold(NFKC(name)))``. So ``ÜNÏCØDÉ``,
``ünïcødé`` and ``ünïcødé`` typed with combining accents are one user, as are the full-width
``ＡＬＩＣＥ`` and ``alice``, or ``Straße`` and ``STRASSE``.

A user keeps the name as it was signed up: answers and tokens show that spelling, and every
lookup (sign-in, codes, admin operations, lockout) goes through the key.
"""

from __future__ import annotations

import unicodedata

__all__ = ["username_key"]


def username_key(name: str) -> str:
    """The key two usernames share exactly when they name the same user."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
