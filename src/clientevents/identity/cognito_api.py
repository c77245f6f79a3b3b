"""The Cognito JSON API's operations: request validation and dispatch to the :class:`UserPool`.

Each operation reads the request members Cognito defines (``ClientId``, ``Username``...),
checks their types and sizes (``InvalidParameterException`` with AWS's wording otherwise),
checks ``ClientId`` / ``UserPoolId`` against the pool (``ResourceNotFoundException``), and
returns the response members. Members we do not use (``SecretHash``, ``ClientMetadata``,
``UserContextData``, ``AnalyticsMetadata``...) are accepted and ignored.

Admin operations (:data:`ADMIN_OPERATIONS`) must be SigV4-signed with the admin key; the HTTP
route checks that before calling :func:`call_operation`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from clientevents.identity.errors import CognitoError
from clientevents.identity.userpool import UserPool

__all__ = [
    "ADMIN_OPERATIONS",
    "OPERATIONS",
    "TARGET_PREFIX",
    "RequestContext",
    "call_operation",
    "operation_name",
]

TARGET_PREFIX: Final = "AWSCognitoIdentityProviderService."


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What an operation may need from the HTTP request."""

    base_url: str | None = None


Handler = Callable[[UserPool, dict[str, Any], RequestContext], dict[str, Any]]


def _member_path(name: str) -> str:
    return name[:1].lower() + name[1:]


def _string(
    body: dict[str, Any], name: str, *, required: bool = True, max_len: int = 2048
) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise CognitoError(
                "InvalidParameterException",
                f"1 validation error detected: Value null at '{_member_path(name)}' failed to "
                "satisfy constraint: Member must not be null",
            )
        return None
    if not isinstance(value, str):
        raise CognitoError(
            "InvalidParameterException", f"{name} must be a string, not {type(value).__name__}."
        )
    if required and not value:
        raise CognitoError(
            "InvalidParameterException",
            f"1 validation error detected: Value at '{_member_path(name)}' failed to satisfy "
            "constraint: Member must have length greater than or equal to 1",
        )
    if len(value) > max_len:
        raise CognitoError(
            "InvalidParameterException",
            f"1 validation error detected: Value at '{_member_path(name)}' failed to satisfy "
            f"constraint: Member must have length less than or equal to {max_len}",
        )
    return value


def _req(body: dict[str, Any], name: str, max_len: int = 2048) -> str:
    value = _string(body, name, max_len=max_len)
    if value is None:  # pragma: no cover - _string raises for required members
        raise CognitoError("InvalidParameterException", f"{name} is required.")
    return value


def _check_client(pool: UserPool, body: dict[str, Any]) -> None:
    client_id = _req(body, "ClientId", 128)
    if client_id != pool.client_id:
        raise CognitoError(
            "ResourceNotFoundException", f"User pool client {client_id} does not exist."
        )


def _check_pool(pool: UserPool, body: dict[str, Any]) -> None:
    pool_id = _req(body, "UserPoolId", 55)
    if pool_id != pool.id:
        raise CognitoError("ResourceNotFoundException", f"User pool {pool_id} does not exist.")


def _attributes(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise CognitoError(
            "InvalidParameterException", f"{name} must be a list of {{Name, Value}} objects."
        )
    return value


# -- operations ------------------------------------------------------------------------------


def _sign_up(pool: UserPool, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    _check_client(pool, body)
    username = _req(body, "Username", 128)
    password = _req(body, "Password", 256)
    return pool.sign_up(username, password, _attributes(body, "UserAttributes"))


def _confirm_sign_up(pool: UserPool, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    _check_client(pool, body)
    return pool.confirm_sign_up(_req(body, "Username", 128), _req(body, "ConfirmationCode"))


def _resend(pool: UserPool, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    _check_client(pool, body)
    return pool.resend_confirmation_code(_req(body, "Username", 128))


def _initiate_auth(pool: UserPool, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    _check_client(pool, body)
    flow = _req(body, "AuthFlow", 64)
    params = body.get("AuthParameters") or {}
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in params.items()
    ):
        raise CognitoError(
            "InvalidParameterException", "AuthParameters must be a map of strings to strings."
        )
    return pool.initiate_auth(flow, params, request_base_url=ctx.base_url)


def _get_user(pool: UserPool, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return pool.get_user(_req(body, "AccessToken", 16384))


def _global_sign_out(pool: UserPool, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return pool.global_sign_out(_req(body, "AccessToken", 16384))


def _forgot_password(pool: UserPool, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    _check_client(pool, body)
    return pool.forgot_password(_req(body, "Username", 128))


def _confirm_forgot(pool: UserPool, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    _check_client(pool, body)
    return pool.confirm_forgot_password(
        _req(body, "Username", 128), _req(body, "ConfirmationCode"), _req(body, "Password", 256)
    )


def _admin(method: Callable[[UserPool, str], dict[str, Any]]) -> Handler:
    def handler(pool: UserPool, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        _check_pool(pool, body)
        return method(pool, _req(body, "Username", 128))

    return handler


def _list_users(pool: UserPool, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    _check_pool(pool, body)
    limit = body.get("Limit", 60)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 60:
        raise CognitoError(
            "InvalidParameterException",
            "1 validation error detected: Value at 'limit' failed to satisfy constraint: "
            "Member must have value less than or equal to 60",
        )
    names = body.get("AttributesToGet")
    if names is not None and (
        not isinstance(names, list) or not all(isinstance(n, str) for n in names)
    ):
        raise CognitoError("InvalidParameterException", "AttributesToGet must be a list of names.")
    return pool.list_users(
        limit=limit or 60,
        pagination_token=_string(body, "PaginationToken", required=False, max_len=4096),
        filter_text=_string(body, "Filter", required=False, max_len=256),
        attributes_to_get=names,
    )


OPERATIONS: Final[dict[str, Handler]] = {
    "SignUp": _sign_up,
    "ConfirmSignUp": _confirm_sign_up,
    "ResendConfirmationCode": _resend,
    "InitiateAuth": _initiate_auth,
    "GetUser": _get_user,
    "GlobalSignOut": _global_sign_out,
    "ForgotPassword": _forgot_password,
    "ConfirmForgotPassword": _confirm_forgot,
    "AdminConfirmSignUp": _admin(UserPool.admin_confirm_sign_up),
    "AdminGetUser": _admin(UserPool.admin_get_user),
    "AdminDisableUser": _admin(UserPool.admin_disable_user),
    "AdminEnableUser": _admin(UserPool.admin_enable_user),
    "AdminDeleteUser": _admin(UserPool.admin_delete_user),
    "ListUsers": _list_users,
}
"""Every supported operation by name."""

ADMIN_OPERATIONS: Final = frozenset(
    {
        "AdminConfirmSignUp",
        "AdminGetUser",
        "AdminDisableUser",
        "AdminEnableUser",
        "AdminDeleteUser",
        "ListUsers",
    }
)
"""Operations that need a SigV4 signature by the admin key."""


def operation_name(target: str | None) -> str:
    """The operation an ``X-Amz-Target`` header names; raise ``UnknownOperationException``."""
    if not target or not target.startswith(TARGET_PREFIX):
        raise CognitoError(
            "UnknownOperationException",
            f"X-Amz-Target must be '{TARGET_PREFIX}<Operation>'.",
        )
    name = target[len(TARGET_PREFIX):]
    if name not in OPERATIONS:
        raise CognitoError(
            "UnknownOperationException",
            f"Operation {name[:64]!r} is not supported; supported: "
            f"{', '.join(sorted(OPERATIONS))}.",
        )
    return name


def call_operation(
    pool: UserPool, name: str, body: dict[str, Any], ctx: RequestContext
) -> dict[str, Any]:
    """Run operation ``name`` (from :func:`operation_name`) with request ``body``."""
    return OPERATIONS[name](pool, body, ctx)
