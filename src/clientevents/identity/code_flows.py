"""The user pool's operations around confirmation codes: confirm a sign-up, resend its code, and
reset a password with a code.

When the pool hides which users exist (``prevent_user_existence_errors``, Cognito's
``PreventUserExistenceErrors=ENABLED``), each of these answers an unknown username exactly as it
answers a real one, in the same time: Cognito documents the answers, and this module makes them
indistinguishable by doing the same work for every name —

- a code request (ResendConfirmationCode, ForgotPassword) always makes and hashes a code and
  stores it under the name (``codes.py``); it is sent only to a user who may have one (an
  unconfirmed, enabled user for a sign-up code; a confirmed, enabled user for a reset code).
  Everyone else — unknown names, disabled users, confirmed users asking for a sign-up code,
  unconfirmed users asking for a reset — gets the same answer with a simulated destination.
  Past the hourly limit no code is made, for anyone, and the answer is the same again (so the
  limit neither tells real users apart nor lets anyone lock a user out of resets: the last code
  sent stays valid). A code really sent goes out in the background when it is not written to
  the local file (``notifier.in_background``), so a slow mail server does not show;
- a code check (ConfirmSignUp, ConfirmForgotPassword) always counts the guess in one write and
  costs one Argon2id evaluation; only after a correct code does the user's state matter, and a
  name that cannot be confirmed or reset (unknown, already confirmed, disabled) then answers
  ``CodeMismatchException`` like any wrong code.

With hiding off, these operations say ``UserNotFoundException``, ``User is disabled.``, the
user's status and ``LimitExceededException`` as Cognito's legacy behaviour does.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from clientevents.identity import codes, lockout
from clientevents.identity.errors import CognitoError, Messages
from clientevents.identity.notifier import CodeMessage, delivery_details
from clientevents.identity.passwords import check_password_policy
from clientevents.identity.usernames import username_key
from clientevents.identity.users import CONFIRMED, UserRecord, update_user

if TYPE_CHECKING:
    from clientevents.identity.userpool import UserPool
    from clientevents.store.port import SqlConnection as Connection

__all__ = ["CodeFlows"]


def _mismatch() -> CognitoError:
    return CognitoError("CodeMismatchException", Messages.CODE_MISMATCH)


def _not_found() -> CognitoError:
    return CognitoError("UserNotFoundException", Messages.USER_NOT_FOUND)


class CodeFlows:
    """The code operations of one :class:`~clientevents.identity.userpool.UserPool`."""

    def __init__(self, pool: UserPool) -> None:
        self.pool = pool

    # -- sign-up confirmation --------------------------------------------------------------

    def confirm_sign_up(self, username: str, code: str) -> dict[str, Any]:
        """Confirm a user with the code sent at sign-up; assigns ``custom:clientId``."""
        pool = self.pool
        user = pool.find_user(username)
        if not pool.hide_users:
            if user is None:
                pool.hasher.verify(None, code)
                raise _not_found()
            if user.confirmed:
                raise _cannot_confirm(user)
        key = username_key(username)
        code_hash = self._check_code(key, codes.SIGN_UP, code)
        if user is None or user.confirmed:
            raise _mismatch()
        now = pool.clock()

        def confirm(conn: Connection) -> bool:
            if not codes.delete_code(conn, key, codes.SIGN_UP, code_hash):
                return False
            confirm_user(conn, user, now)
            return True

        if not pool.db.write(confirm):
            raise _mismatch()
        return {}

    def resend_confirmation_code(self, username: str) -> dict[str, Any]:
        """Send a new sign-up code (replacing the previous one)."""
        pool = self.pool
        user = pool.find_user(username)
        if not pool.hide_users:
            if user is None:
                raise _not_found()
            if user.confirmed:
                raise CognitoError("InvalidParameterException", "User is already confirmed.")
        may_have = user is not None and not user.confirmed and (user.enabled or not pool.hide_users)
        return self._request_code(username, codes.SIGN_UP, user if may_have else None)

    # -- password reset --------------------------------------------------------------------

    def forgot_password(self, username: str) -> dict[str, Any]:
        """Send a password-reset code to a confirmed, enabled user."""
        pool = self.pool
        user = pool.find_user(username)
        if not pool.hide_users:
            if user is None:
                raise _not_found()
            if not user.enabled:
                raise CognitoError("NotAuthorizedException", Messages.USER_DISABLED)
            if not user.confirmed:
                raise CognitoError(
                    "InvalidParameterException",
                    "Cannot reset password for the user as there is no registered/verified "
                    "email or phone_number",
                )
        may_have = user is not None and user.enabled and user.confirmed
        return self._request_code(username, codes.FORGOT_PASSWORD, user if may_have else None)

    def confirm_forgot_password(self, username: str, code: str, password: str) -> dict[str, Any]:
        """Set a new password with a reset code."""
        pool = self.pool
        check_password_policy(pool.settings.password_policy, password)
        user = pool.find_user(username)
        if not pool.hide_users:
            if user is None:
                pool.hasher.verify(None, code)
                raise _not_found()
            if not user.enabled:
                raise CognitoError("NotAuthorizedException", Messages.USER_DISABLED)
        key = username_key(username)
        code_hash = self._check_code(key, codes.FORGOT_PASSWORD, code)
        if user is None or not user.enabled:
            raise _mismatch()
        new_hash = pool.hasher.hash(password)
        now = pool.clock()

        def reset(conn: Connection) -> bool:
            if not codes.delete_code(conn, key, codes.FORGOT_PASSWORD, code_hash):
                return False
            update_user(conn, user.sub, password_hash=new_hash, modified_at=now)
            lockout.forgive(conn, key)
            return True

        if not pool.db.write(reset):
            raise _mismatch()
        return {}

    # -- the shared steps ------------------------------------------------------------------

    def _request_code(
        self, username: str, purpose: str, recipient: UserRecord | None
    ) -> dict[str, Any]:
        """Make, hash and store a code for ``username``; send it only to ``recipient``."""
        pool = self.pool
        key = username_key(username)
        code = codes.new_code()
        code_hash = pool.hasher.hash(code)
        now = pool.clock()
        stored = pool.db.write(lambda conn: codes.store_code(conn, key, purpose, code_hash, now))
        if not stored and not pool.hide_users:
            raise CognitoError("LimitExceededException", Messages.SEND_LIMIT)
        if stored and recipient is not None:
            notifier = pool.quiet_notifier if pool.hide_users else pool.notifier
            notifier.deliver(CodeMessage(recipient.username, purpose, code, recipient.email))
        return {"CodeDeliveryDetails": delivery_details(pool.destination(recipient, key))}

    def _check_code(self, key: str, purpose: str, code: str) -> str:
        """Count and check one guess; return the matched code's hash."""
        pool = self.pool
        now = pool.clock()
        stored = pool.db.write(lambda conn: codes.consume_attempt(conn, key, purpose, now))
        if stored.attempts > codes.MAX_ATTEMPTS:
            raise CognitoError("TooManyFailedAttemptsException", Messages.CODE_ATTEMPTS)
        if stored.expires_at <= now:
            raise CognitoError("ExpiredCodeException", Messages.CODE_EXPIRED)
        code_hash = stored.code_hash
        # verify(None, ...) burns the same Argon2id time as a real check, and fails.
        matched = code.isdigit() and len(code) == 6 and pool.hasher.verify(code_hash, code)
        if code_hash is None or not matched:
            raise _mismatch()
        return code_hash


def confirm_user(conn: Connection, user: UserRecord, now: float) -> None:
    """Mark ``user`` confirmed, give it a clientId and mark its e-mail verified."""
    update_user(
        conn,
        user.sub,
        status=CONFIRMED,
        client_id=user.client_id or str(uuid.uuid4()),
        email_verified=user.email is not None,
        modified_at=now,
    )


def _cannot_confirm(user: UserRecord) -> CognitoError:
    return CognitoError(
        "NotAuthorizedException", f"User cannot be confirmed. Current status is {user.status}"
    )
