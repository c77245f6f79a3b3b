"""``AWS::Cognito::UserPoolClient`` → ``identity.user_pool`` (client id, token lifetimes)."""

from __future__ import annotations

from typing import Any

from clientevents.cfn.context import ImportContext
from clientevents.cfn.mappers.cognito_user_pool import user_pool_section
from clientevents.cfn.template import Resource
from clientevents.config.identity import DEFAULT_CLIENT_ID

__all__ = ["map_user_pool_client"]

_UNIT_SECS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
_HANDLED = {"UserPoolId", "ClientName", "ExplicitAuthFlows", "GenerateSecret",
            "AccessTokenValidity", "IdTokenValidity", "RefreshTokenValidity",
            "TokenValidityUnits", "PreventUserExistenceErrors", "EnableTokenRevocation"}


def _secs(props: dict[str, Any], key: str, unit_key: str, default_unit: str) -> int | None:
    if props.get(key) is None:
        return None
    units = props.get("TokenValidityUnits") or {}
    unit = str(units.get(unit_key, default_unit)).lower()
    return int(props[key]) * _UNIT_SECS.get(unit, _UNIT_SECS[default_unit])


def map_user_pool_client(ctx: ImportContext, resource: Resource) -> None:
    pool = user_pool_section(ctx)
    if pool.get("_client_from") not in (None, resource.logical_id):
        ctx.note(resource, "skipped", "the built-in pool has one app client; the first one "
                 "is carried over.")
        return
    pool["_client_from"] = resource.logical_id
    props = ctx.props(resource)
    client_id = pool.get("client_id", DEFAULT_CLIENT_ID)
    ctx.note(resource, "mapped", f"the app client; its id is {client_id} (Ref of "
             f"{resource.logical_id}); give your apps that id, or set "
             "identity.user_pool.client_id.")
    for ours, key, unit_key, unit, low, high in (
        ("access_token_ttl_secs", "AccessTokenValidity", "AccessToken", "hours", 300, 86400),
        ("id_token_ttl_secs", "IdTokenValidity", "IdToken", "hours", 300, 86400),
    ):
        secs = _secs(props, key, unit_key, unit)
        if secs is not None:
            kept = max(low, min(high, secs))
            pool[ours] = kept
            if kept != secs:
                ctx.note(resource, "partly", f"{key} of {secs} s became {kept} s "
                         f"(clientevents allows {low} to {high}).")
    refresh = _secs(props, "RefreshTokenValidity", "RefreshToken", "days")
    if refresh is not None:
        pool["refresh_token_ttl_days"] = max(1, min(3650, refresh // 86400 or 1))
    prevent = props.get("PreventUserExistenceErrors")
    if prevent is not None:
        pool["prevent_user_existence_errors"] = str(prevent).upper() == "ENABLED"
    flows = {str(f).removeprefix("ALLOW_") for f in props.get("ExplicitAuthFlows") or []}
    if flows and "USER_PASSWORD_AUTH" not in flows:
        ctx.note(resource, "partly", "USER_PASSWORD_AUTH is always allowed by the built-in "
                 f"pool (the client allowed {', '.join(sorted(flows))}); SRP and custom flows "
                 "are not supported.")
    if str(props.get("GenerateSecret", "false")).lower() == "true":
        ctx.note(resource, "partly", "not carried over: the client secret (the built-in pool "
                 "has public clients only; SecretHash is ignored).")
    ctx.leftover(resource, props, _HANDLED, "OAuth settings have no equivalent")
