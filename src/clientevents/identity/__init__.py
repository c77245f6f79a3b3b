"""Identity: the built-in Cognito-compatible user pool, its tokens, and external OIDC issuers.

::

    from clientevents.identity import build_identity, AuthError

    identity = build_identity(settings, db, data_dir)
    try:
        principal = await identity.authenticator.authenticate(authorization_header)
    except AuthError as error:
        ...  # error.status (401/403), error.reason (metric label), error.message

See ``docs/identity.md``.
"""

from __future__ import annotations

from clientevents.identity.admin import admin_credentials
from clientevents.identity.authenticator import Authenticator
from clientevents.identity.errors import CognitoError
from clientevents.identity.principal import AUTH_REASONS, USER_POOL_ISSUER, AuthError, Principal
from clientevents.identity.service import IdentityService, build_identity
from clientevents.identity.sigv4 import Credentials
from clientevents.identity.userpool import UserPool

__all__ = [
    "AUTH_REASONS",
    "USER_POOL_ISSUER",
    "AuthError",
    "Authenticator",
    "CognitoError",
    "Credentials",
    "IdentityService",
    "Principal",
    "UserPool",
    "admin_credentials",
    "build_identity",
]
