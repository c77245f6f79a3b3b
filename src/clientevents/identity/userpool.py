"""The built-in user pool: Cognito's sign-up, confirmation, sign-in and admin behaviour.

Methods take plain values (already shape-checked by :mod:`clientevents.identity.cognito_api`)
and return Cognito's response dictionaries or raise :class:`CognitoError`. They block (Argon2id,
SQLite), so the HTTP route runs them in a worker thread.

Usernames compare by :func:`~clientevents.identity.usernames.username_key` (case and Unicode
forms folded). When ``prevent_user_existence_errors`` is on (the default), an unknown username
is answered exactly the way a real one is, in the same time, as Cognito promises with
``PreventUserExistenceErrors=ENABLED``: sign-in claims an attempt for the name and does the same
Argon2id work, so wrong passwords and the lockout (``Password attempts exceeded``) look alike
for every name; the code operations are described in :mod:`~clientevents.identity.code_flows`.
SignUp still answers ``UsernameExistsException`` for a taken name, as Cognito does, and admin
operations always tell.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from clientevents.config.identity import SmtpNotifierConfig, UserPoolSettings
from clientevents.identity import codes, lockout, schema, sessions
from clientevents.identity.code_flows import CodeFlows, confirm_user
from clientevents.identity.errors import CognitoError, Messages
from clientevents.identity.jwtcheck import parse_unverified
from clientevents.identity.keys import KeyRing
from clientevents.identity.listing import UserFilter, decode_page_token, encode_page_token
from clientevents.identity.notifier import (
    CodeMessage,
    Notifier,
    build_notifier,
    delivery_details,
    in_background,
    mask_email,
    simulated_destination,
)
from clientevents.identity.passwords import PasswordHasher, check_password_policy
from clientevents.identity.principal import AuthError
from clientevents.identity.tokens import (
    MintedTokens,
    PoolTokens,
    TokenSubject,
    hash_refresh_token,
    new_refresh_token,
)
from clientevents.identity.usernames import username_key
from clientevents.identity.users import (
    CLIENT_ID_ATTRIBUTE,
    STANDARD_ATTRIBUTES,
    UNCONFIRMED,
    UserRecord,
    delete_user,
    insert_user,
    list_users,
    load_by_sub,
    load_by_username,
    update_user,
)
from clientevents.store.port import StateStore

__all__ = ["UserPool"]

logger = logging.getLogger("clientevents.identity")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_USERNAME = re.compile(r"^[^\s\x00-\x1f\x7f]{1,128}$")


def _not_authorized(message: str) -> CognitoError:
    return CognitoError("NotAuthorizedException", message)


class UserPool:
    """One Cognito-compatible user pool over the shared database.

    Example::

        pool = UserPool(db, settings.identity.user_pool, data_dir=Path("data"))
        pool.sign_up("alice", "Sup3r-secret", [{"Name": "email", "Value": "a@example.com"}])
        pool.confirm_sign_up("alice", code)
        result = pool.initiate_auth("USER_PASSWORD_AUTH", {"USERNAME": "alice", "PASSWORD": ...})
    """

    def __init__(
        self,
        db: StateStore,
        settings: UserPoolSettings,
        *,
        data_dir: Path,
        keys: KeyRing | None = None,
        notifier: Notifier | None = None,
        hasher: PasswordHasher | None = None,
        issuer_base_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.settings = settings
        self.id = settings.id
        self.client_id = settings.client_id
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        self.notifier = notifier or build_notifier(settings.notifier, data_dir)
        self.quiet_notifier = in_background(self.notifier)
        warnings, self._destination_secret = db.write(_open_tables)
        for warning in warnings:
            logger.warning(warning)
        longest = max(settings.access_token_ttl_secs, settings.id_token_ttl_secs)
        self.keys = keys or KeyRing(db, retention_secs=longest + 300, clock=clock)
        self.tokens = PoolTokens(
            self.keys,
            pool_id=settings.id,
            app_client_id=settings.client_id,
            access_ttl_secs=settings.access_token_ttl_secs,
            id_ttl_secs=settings.id_token_ttl_secs,
            issuer_base_url=issuer_base_url,
            clock=clock,
        )
        self.refresh_ttl_secs = settings.refresh_token_ttl_days * 86400.0
        self.hide_users = settings.prevent_user_existence_errors
        self._codes = CodeFlows(self)

    # -- lookups ---------------------------------------------------------------------------

    def find_user(self, username: str) -> UserRecord | None:
        """The user ``username`` names (any case or Unicode form), or ``None``."""
        return self.db.read(lambda conn: load_by_username(conn, username))

    def destination(self, user: UserRecord | None, key: str) -> str:
        """Where a code for username key ``key`` is said to go: the user's masked e-mail, or a
        simulated one (no user, or a user without an e-mail)."""
        if user is not None and user.email:
            return mask_email(user.email)
        return simulated_destination(self._destination_secret, key)

    def _user_or_raise(self, username: str) -> UserRecord:
        user = self.find_user(username)
        if user is None:
            raise CognitoError("UserNotFoundException", Messages.USER_NOT_FOUND)
        return user

    # -- sign-up and confirmation ----------------------------------------------------------

    def sign_up(
        self, username: str, password: str, attributes: Sequence[dict[str, Any]] = ()
    ) -> dict[str, Any]:
        """Create an unconfirmed user and send a confirmation code."""
        if not _USERNAME.match(username):
            raise CognitoError(
                "InvalidParameterException",
                "Username must be 1 to 128 characters without spaces or control characters.",
            )
        check_password_policy(self.settings.password_policy, password)
        attrs = _sign_up_attributes(attributes)
        if isinstance(self.settings.notifier, SmtpNotifierConfig) and "email" not in attrs:
            raise CognitoError(
                "InvalidParameterException",
                "Attributes did not conform to the schema: email: The attribute is required "
                "(confirmation codes are sent by e-mail).",
            )
        now = self.clock()
        user = UserRecord(
            sub=str(uuid.uuid4()),
            username=username,
            password_hash=self.hasher.hash(password),
            attributes=attrs,
            status=UNCONFIRMED,
            created_at=now,
            modified_at=now,
        )
        code = codes.new_code()
        code_hash = self.hasher.hash(code)
        key = user.key

        def create(conn: Any) -> bool:
            if not insert_user(conn, user):
                return False
            codes.store_code(conn, key, codes.SIGN_UP, code_hash, now, fresh=True)
            return True

        if not self.db.write(create):
            raise CognitoError("UsernameExistsException", Messages.USER_EXISTS)
        self.notifier.deliver(CodeMessage(username, codes.SIGN_UP, code, user.email))
        return {
            "UserConfirmed": False,
            "UserSub": user.sub,
            "CodeDeliveryDetails": delivery_details(self.destination(user, key)),
        }

    def confirm_sign_up(self, username: str, code: str) -> dict[str, Any]:
        """Confirm a user with the code sent at sign-up; assigns ``custom:clientId``."""
        return self._codes.confirm_sign_up(username, code)

    def resend_confirmation_code(self, username: str) -> dict[str, Any]:
        """Send a new sign-up code (replacing the previous one)."""
        return self._codes.resend_confirmation_code(username)

    # -- password reset --------------------------------------------------------------------

    def forgot_password(self, username: str) -> dict[str, Any]:
        """Send a password-reset code to a confirmed, enabled user."""
        return self._codes.forgot_password(username)

    def confirm_forgot_password(self, username: str, code: str, password: str) -> dict[str, Any]:
        """Set a new password with a reset code."""
        return self._codes.confirm_forgot_password(username, code, password)

    # -- sign-in ---------------------------------------------------------------------------

    def initiate_auth(
        self, flow: str, params: dict[str, str], *, request_base_url: str | None = None
    ) -> dict[str, Any]:
        """``USER_PASSWORD_AUTH`` or ``REFRESH_TOKEN_AUTH`` (alias ``REFRESH_TOKEN``)."""
        issuer = self.tokens.issuer(request_base_url)
        if flow == "USER_PASSWORD_AUTH":
            return self._password_auth(params, issuer)
        if flow in ("REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"):
            return self._refresh_auth(params, issuer)
        raise CognitoError(
            "InvalidParameterException",
            f"{flow} is not enabled for the client; use USER_PASSWORD_AUTH or REFRESH_TOKEN_AUTH.",
        )

    def _password_auth(self, params: dict[str, str], issuer: str) -> dict[str, Any]:
        username = _required_param(params, "USERNAME")
        password = _required_param(params, "PASSWORD")
        user = self.find_user(username)
        if user is None and not self.hide_users:
            self.hasher.verify(None, password)
            raise CognitoError("UserNotFoundException", Messages.USER_NOT_FOUND)
        key = username_key(username)
        now = self.clock()
        # Claim the attempt before the check (see lockout.py); locked or not, known or not, the
        # answer costs one Argon2id evaluation (verify(None, ...) checks a decoy hash).
        if not self.db.write(lambda conn: lockout.claim(conn, key, now)):
            self.hasher.verify(None, password)
            raise _not_authorized(Messages.LOCKED_OUT)
        verified = self.hasher.verify(user.password_hash if user is not None else None, password)
        if user is None or not verified:
            raise _not_authorized(Messages.BAD_CREDENTIALS)
        if not user.enabled or not user.confirmed:
            self.db.write(lambda conn: lockout.forgive(conn, key))
            if not user.enabled:
                raise _not_authorized(Messages.USER_DISABLED)
            raise CognitoError("UserNotConfirmedException", Messages.USER_NOT_CONFIRMED)
        rehash = (
            self.hasher.hash(password) if self.hasher.needs_rehash(user.password_hash) else None
        )
        refresh_token = new_refresh_token()
        origin_jti = str(uuid.uuid4())
        auth_time = int(now)

        def start(conn: Any) -> None:
            lockout.forgive(conn, key)
            if rehash is not None:
                update_user(conn, user.sub, password_hash=rehash)
            sessions.create_session(
                conn,
                origin_jti=origin_jti,
                token_hash=hash_refresh_token(refresh_token),
                sub=user.sub,
                auth_time=auth_time,
                now=now,
                expires_at=now + self.refresh_ttl_secs,
                purge_before=now - self.tokens.access_ttl - self.tokens.id_ttl,
            )

        self.db.write(start)
        minted = self._mint(user, origin_jti, auth_time, issuer)
        result = _auth_result(minted)
        result["RefreshToken"] = refresh_token
        return {"ChallengeParameters": {}, "AuthenticationResult": result}

    def _refresh_auth(self, params: dict[str, str], issuer: str) -> dict[str, Any]:
        token = _required_param(params, "REFRESH_TOKEN")
        session = self.db.read(lambda conn: sessions.find_session(conn, hash_refresh_token(token)))
        if session is None:
            raise _not_authorized(Messages.INVALID_REFRESH_TOKEN)
        if session.revoked_at is not None:
            raise _not_authorized(Messages.REVOKED_REFRESH_TOKEN)
        if session.expires_at <= self.clock():
            raise _not_authorized(Messages.EXPIRED_REFRESH_TOKEN)
        user = self.db.read(lambda conn: load_by_sub(conn, session.sub))
        if user is None:
            raise _not_authorized(Messages.INVALID_REFRESH_TOKEN)
        if not user.enabled:
            raise _not_authorized(Messages.USER_DISABLED)
        minted = self._mint(user, session.origin_jti, session.auth_time, issuer)
        return {"ChallengeParameters": {}, "AuthenticationResult": _auth_result(minted)}

    def _mint(self, user: UserRecord, origin_jti: str, auth_time: int, issuer: str) -> MintedTokens:
        who = TokenSubject(
            sub=user.sub,
            username=user.username,
            client_id=user.client_id,
            email=user.email,
            email_verified=user.email_verified,
        )
        return self.tokens.mint(who, origin_jti=origin_jti, auth_time=auth_time, issuer=issuer)

    # -- access-token operations -----------------------------------------------------------

    def _user_for_access_token(self, access_token: str) -> tuple[UserRecord, dict[str, Any]]:
        try:
            claims = self.tokens.verify(parse_unverified(access_token))
            if claims.get("token_use") != "access":
                raise AuthError.refuse("wrong_token_use", "not an access token")
            self.tokens.check_use(claims, accept_id_tokens=False)
        except AuthError as error:
            if error.reason == "expired":
                raise _not_authorized(Messages.EXPIRED_ACCESS_TOKEN) from None
            raise _not_authorized(Messages.INVALID_ACCESS_TOKEN) from None
        sub, origin_jti = str(claims["sub"]), str(claims["origin_jti"])
        state = self.db.read(lambda conn: sessions.session_state(conn, sub, origin_jti))
        user = self.db.read(lambda conn: load_by_sub(conn, sub))
        if state is None or user is None:
            raise CognitoError("UserNotFoundException", Messages.USER_NOT_FOUND)
        if not state.enabled:
            raise _not_authorized(Messages.USER_DISABLED)
        if state.revoked:
            raise _not_authorized(Messages.REVOKED_ACCESS_TOKEN)
        return user, claims

    def get_user(self, access_token: str) -> dict[str, Any]:
        """The signed-in user's name and attributes."""
        user, _ = self._user_for_access_token(access_token)
        return {"Username": user.username, "UserAttributes": user.cognito_attributes()}

    def global_sign_out(self, access_token: str) -> dict[str, Any]:
        """Revoke every session of the signed-in user (its tokens stop working at once)."""
        user, _ = self._user_for_access_token(access_token)
        now = self.clock()
        self.db.write(lambda conn: sessions.revoke_sessions(conn, user.sub, now))
        return {}

    # -- admin operations ------------------------------------------------------------------

    def admin_confirm_sign_up(self, username: str) -> dict[str, Any]:
        """Confirm a user without a code."""
        user = self._user_or_raise(username)
        if user.confirmed:
            raise _not_authorized(f"User cannot be confirmed. Current status is {user.status}")
        now = self.clock()

        def confirm(conn: Any) -> None:
            codes.delete_codes(conn, user.key, codes.SIGN_UP)
            confirm_user(conn, user, now)

        self.db.write(confirm)
        return {}

    def admin_get_user(self, username: str) -> dict[str, Any]:
        """Everything AdminGetUser tells about a user."""
        return _user_type(self._user_or_raise(username), None, attributes_key="UserAttributes")

    def admin_disable_user(self, username: str) -> dict[str, Any]:
        """Disable a user and revoke all of its sessions."""
        user = self._user_or_raise(username)
        now = self.clock()

        def disable(conn: Any) -> None:
            update_user(conn, user.sub, enabled=False, modified_at=now)
            sessions.revoke_sessions(conn, user.sub, now)

        self.db.write(disable)
        return {}

    def admin_enable_user(self, username: str) -> dict[str, Any]:
        """Enable a disabled user (revoked sessions stay revoked)."""
        user = self._user_or_raise(username)
        now = self.clock()
        self.db.write(lambda conn: update_user(conn, user.sub, enabled=True, modified_at=now))
        return {}

    def admin_delete_user(self, username: str) -> dict[str, Any]:
        """Delete a user with its codes and sessions."""
        user = self._user_or_raise(username)

        def delete(conn: Any) -> None:
            delete_user(conn, user.sub)
            codes.delete_codes(conn, user.key)

        self.db.write(delete)
        return {}

    def list_users(
        self,
        *,
        limit: int = 60,
        pagination_token: str | None = None,
        filter_text: str | None = None,
        attributes_to_get: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """One page of users in username order, optionally filtered (Cognito's filter syntax)."""
        user_filter = UserFilter.parse(filter_text)
        after = decode_page_token(pagination_token) if pagination_token else None
        names = frozenset(attributes_to_get) if attributes_to_get is not None else None
        found: list[UserRecord] = []
        last: str | None = after
        exhausted = False
        while len(found) < limit and not exhausted:
            batch = self.db.read(partial(list_users, after=last, limit=200))
            exhausted = len(batch) < 200
            for user in batch:
                last = user.username
                if user_filter.matches(user):
                    found.append(user)
                    if len(found) == limit:
                        break
        answer: dict[str, Any] = {
            "Users": [_user_type(u, names, attributes_key="Attributes") for u in found]
        }
        if len(found) == limit and last is not None:
            more = self.db.read(partial(list_users, after=last, limit=1))
            if more:
                answer["PaginationToken"] = encode_page_token(last)
        return answer


def _open_tables(conn: Any) -> tuple[list[str], bytes]:
    """Upgrade older identity tables; the warnings, and the simulated destinations' secret."""
    return schema.upgrade(conn), schema.secret(conn, "simulated_destinations")


def _required_param(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise CognitoError("InvalidParameterException", f"Missing required parameter {name}")
    return value


def _auth_result(minted: MintedTokens) -> dict[str, Any]:
    return {
        "AccessToken": minted.access_token,
        "ExpiresIn": minted.expires_in,
        "TokenType": "Bearer",
        "IdToken": minted.id_token,
    }


def _user_type(
    user: UserRecord, names: frozenset[str] | None, *, attributes_key: str
) -> dict[str, Any]:
    return {
        "Username": user.username,
        attributes_key: user.cognito_attributes(names),
        "UserCreateDate": user.created_at,
        "UserLastModifiedDate": user.modified_at,
        "Enabled": user.enabled,
        "UserStatus": user.status,
    }


def _sign_up_attributes(attributes: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Check sign-up attributes the way Cognito does; return them as a dict."""
    result: dict[str, str] = {}
    for item in attributes:
        name, value = item.get("Name"), item.get("Value", "")
        if not isinstance(name, str) or not isinstance(value, str):
            raise CognitoError(
                "InvalidParameterException", "Each user attribute needs a string Name and Value."
            )
        if name in ("sub", "email_verified", "phone_number_verified", CLIENT_ID_ATTRIBUTE):
            raise _not_authorized("A client attempted to write unauthorized attribute")
        if name not in STANDARD_ATTRIBUTES:
            raise CognitoError(
                "InvalidParameterException",
                f"Attributes did not conform to the schema: Type for attribute {{{name}}} "
                "could not be determined",
            )
        if len(value) > 2048:
            raise CognitoError(
                "InvalidParameterException", f"Attribute {name} is longer than 2048 characters."
            )
        if name == "email" and not _EMAIL.match(value):
            raise CognitoError("InvalidParameterException", "Invalid email address format.")
        result[name] = value
    return result
