"""ListUsers' filter language and pagination tokens.

A filter is ``AttributeName Operator "Value"`` with operator ``=`` (exact) or ``^=`` (prefix),
over Cognito's searchable attributes: ``username``, ``email``, ``phone_number``, ``name``,
``given_name``, ``family_name``, ``preferred_username``, ``cognito:user_status``, ``status``
(``Enabled`` / ``Disabled``) and ``sub``. An empty filter matches every user.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from clientevents.identity.errors import CognitoError
from clientevents.identity.usernames import username_key
from clientevents.identity.users import UserRecord

__all__ = ["SEARCHABLE", "UserFilter", "decode_page_token", "encode_page_token"]

SEARCHABLE = frozenset(
    {
        "username", "email", "phone_number", "name", "given_name", "family_name",
        "preferred_username", "cognito:user_status", "status", "sub",
    }
)

_FILTER = re.compile(r'^\s*([A-Za-z_:]+)\s*(\^=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')


@dataclass(frozen=True, slots=True)
class UserFilter:
    """A parsed filter; ``attribute`` is empty for "match everything"."""

    attribute: str = ""
    prefix: bool = False
    value: str = ""

    @classmethod
    def parse(cls, text: str | None) -> UserFilter:
        """Parse ``text``; raise ``InvalidParameterException`` naming the problem."""
        if text is None or not text.strip():
            return cls()
        match = _FILTER.match(text)
        if match is None:
            raise CognitoError(
                "InvalidParameterException",
                f"Invalid search filter {text!r}: expected attribute = \"value\" or "
                'attribute ^= "prefix".',
            )
        attribute, operator, raw = match.groups()
        if attribute not in SEARCHABLE:
            raise CognitoError(
                "InvalidParameterException",
                f"Invalid search attribute {attribute!r}; searchable: "
                f"{', '.join(sorted(SEARCHABLE))}.",
            )
        value = re.sub(r"\\(.)", r"\1", raw)
        return cls(attribute, operator == "^=", value)

    def _field(self, user: UserRecord) -> str | None:
        if self.attribute == "username":
            return user.username
        if self.attribute == "sub":
            return user.sub
        if self.attribute == "cognito:user_status":
            return user.status
        if self.attribute == "status":
            return "Enabled" if user.enabled else "Disabled"
        return user.attributes.get(self.attribute)

    def matches(self, user: UserRecord) -> bool:
        """Whether ``user`` passes the filter."""
        if not self.attribute:
            return True
        field = self._field(user)
        if field is None:
            return False
        if self.attribute == "username":  # usernames compare by key, as lookups do
            field, value = username_key(field), username_key(self.value)
        else:
            value = self.value
        return field.startswith(value) if self.prefix else field == value


def encode_page_token(last_username: str) -> str:
    """The opaque token that continues a listing after ``last_username``."""
    return base64.urlsafe_b64encode(last_username.encode("utf-8")).decode("ascii")


def decode_page_token(token: str) -> str:
    """The username a pagination token continues after."""
    try:
        name = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True)
        if not name:
            raise ValueError("empty")
        return name.decode("utf-8")
    except (ValueError, binascii.Error, UnicodeError):
        raise CognitoError(
            "InvalidParameterException", "The pagination token is not valid."
        ) from None
