"""The user pool's users as the admin API lists and changes them.

Listing and disabling go through :class:`UserPool`'s own operations (the ones ``ListUsers``,
``AdminDisableUser`` and ``AdminEnableUser`` run); "sign out everywhere" revokes every session
of the user with the identity component's :func:`revoke_sessions`, as ``GlobalSignOut`` does,
so the user's tokens stop working at the next request in every process. Blocking.
"""

from __future__ import annotations

import time
from typing import Any

from clientevents.admin.errors import BadRequest, ConflictError, NotFoundError
from clientevents.identity.errors import CognitoError
from clientevents.identity.sessions import revoke_sessions
from clientevents.identity.userpool import UserPool
from clientevents.identity.users import CLIENT_ID_ATTRIBUTE

__all__ = ["PoolUsers"]

MAX_PAGE = 60


def _user(data: dict[str, Any]) -> dict[str, Any]:
    attributes = {a["Name"]: a["Value"] for a in data.get("Attributes", [])}
    return {
        "username": data["Username"],
        "status": data["UserStatus"],
        "enabled": data["Enabled"],
        "email": attributes.get("email"),
        "client_id": attributes.get(CLIENT_ID_ATTRIBUTE),
        "sub": attributes.get("sub"),
        "created_at": data["UserCreateDate"],
        "modified_at": data["UserLastModifiedDate"],
    }


def _translate(exc: CognitoError, username: str = "") -> Exception:
    if exc.error_type == "UserNotFoundException":
        return NotFoundError(f"There is no user named {username[:128]!r} in the user pool.")
    if exc.error_type == "InvalidParameterException":
        return BadRequest(exc.message)
    return ConflictError(exc.message)


class PoolUsers:
    """The built-in user pool's users (``pool`` is ``None`` when the pool is disabled)."""

    def __init__(self, pool: UserPool | None, *, clock: Any = time.time) -> None:
        self.pool = pool
        self.clock = clock

    def _pool(self) -> UserPool:
        if self.pool is None:
            raise ConflictError(
                "The built-in user pool is disabled (identity.user_pool.enabled is false); "
                "users live with the external identity provider."
            )
        return self.pool

    def list(
        self, *, limit: int = MAX_PAGE, page_token: str | None = None, filter_text: str = ""
    ) -> dict[str, Any]:
        """A page of users in username order; ``filter_text`` uses ListUsers' filter syntax
        (``username ^= "al"``) or is a plain username prefix."""
        pool = self._pool()
        if not 1 <= limit <= MAX_PAGE:
            raise BadRequest(f"limit must be from 1 to {MAX_PAGE}, not {limit}.")
        text = filter_text.strip()
        if text and "=" not in text:
            text = 'username ^= "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        try:
            answer = pool.list_users(limit=limit, pagination_token=page_token or None,
                                     filter_text=text or None)
        except CognitoError as exc:
            raise _translate(exc) from None
        page: dict[str, Any] = {"users": [_user(u) for u in answer["Users"]]}
        if "PaginationToken" in answer:
            page["next_page_token"] = answer["PaginationToken"]
        return page

    def disable(self, username: str) -> None:
        """Disable the user and end its sessions."""
        try:
            self._pool().admin_disable_user(username)
        except CognitoError as exc:
            raise _translate(exc, username) from None

    def enable(self, username: str) -> None:
        """Enable a disabled user (ended sessions stay ended)."""
        try:
            self._pool().admin_enable_user(username)
        except CognitoError as exc:
            raise _translate(exc, username) from None

    def sign_out(self, username: str) -> int:
        """End every session of the user; return how many were live."""
        pool = self._pool()
        user = pool.find_user(username)
        if user is None:
            raise NotFoundError(f"There is no user named {username!r} in the user pool.")
        now = self.clock()
        return int(pool.db.write(lambda conn: revoke_sessions(conn, user.sub, now)))
