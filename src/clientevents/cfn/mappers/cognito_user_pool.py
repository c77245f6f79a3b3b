"""``AWS::Cognito::UserPool`` → ``identity.user_pool`` (password policy, attributes)."""

from __future__ import annotations

from typing import Any

from clientevents.cfn.context import ImportContext
from clientevents.cfn.template import Resource

__all__ = ["map_user_pool", "user_pool_section"]

_POLICY = {
    "MinimumLength": "minimum_length",
    "RequireUppercase": "require_uppercase",
    "RequireLowercase": "require_lowercase",
    "RequireNumbers": "require_numbers",
    "RequireSymbols": "require_symbols",
}

_HANDLED = {"Policies", "Schema", "LambdaConfig", "AutoVerifiedAttributes", "AliasAttributes",
            "UsernameAttributes", "EmailConfiguration", "UserPoolName", "UserPoolTags",
            "UsernameConfiguration", "DeletionProtection"}


def user_pool_section(ctx: ImportContext) -> dict[str, Any]:
    """``identity.user_pool`` of the configuration being built."""
    identity: dict[str, Any] = ctx.config.setdefault("identity", {})
    pool: dict[str, Any] = identity.setdefault("user_pool", {"enabled": True})
    return pool


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def map_user_pool(ctx: ImportContext, resource: Resource) -> None:
    if "user_pool" in ctx.config.get("identity", {}) and \
            ctx.config["identity"]["user_pool"].get("_from") not in (None, resource.logical_id):
        ctx.note(resource, "skipped", "clientevents has one user pool; the template's first "
                 "one is the one carried over.")
        return
    props = ctx.props(resource)
    pool = user_pool_section(ctx)
    pool["_from"] = resource.logical_id
    notes: list[str] = []
    policy_in = (props.get("Policies") or {}).get("PasswordPolicy") or {}
    policy = {ours: (int(policy_in[theirs]) if ours == "minimum_length"
                     else _flag(policy_in[theirs]))
              for theirs, ours in _POLICY.items() if theirs in policy_in}
    if policy:
        pool["password_policy"] = policy
    if "TemporaryPasswordValidityDays" in policy_in:
        notes.append("TemporaryPasswordValidityDays (there are no admin-created users with "
                     "temporary passwords)")
    for attribute in props.get("Schema") or []:
        name = str(attribute.get("Name", ""))
        if name == "clientId":
            continue  # custom:clientId: clientevents assigns it at confirmation
        notes.append(f"attribute {name} (sign-up takes Cognito's standard attributes only)")
    lambdas = props.get("LambdaConfig") or {}
    for trigger in lambdas:
        if trigger == "PostConfirmation":
            notes.append("the PostConfirmation function (clientevents assigns custom:clientId "
                         "at confirmation itself, as the blueprint's function does)")
        else:
            notes.append(f"the {trigger} trigger (there are no Lambda triggers)")
    if props.get("EmailConfiguration") or props.get("AutoVerifiedAttributes"):
        notes.append("e-mail delivery settings (codes go to identity.user_pool.notifier: a "
                     "file under the data folder, or SMTP)")
    if props.get("AliasAttributes") or props.get("UsernameAttributes"):
        notes.append("sign-in by e-mail alias (users sign in with their username)")
    described = ", ".join(
        f"minimum length {v}" if k == "minimum_length" else k.removeprefix("require_")
        for k, v in policy.items() if v is not False)
    ctx.note(resource, "mapped", "the built-in user pool"
             + (f"; password policy: {described}" if described else "") + ".")
    for note in notes:
        ctx.note(resource, "partly", f"not carried over: {note}.")
    ctx.leftover(resource, props, _HANDLED, "no equivalent in the built-in pool")
