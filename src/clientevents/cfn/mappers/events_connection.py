"""``AWS::Events::Connection`` → ``connections``: the authorization type, its credentials and
the invocation parameters.

Credentials that are ``{{resolve:secretsmanager:NAME:SecretString:KEY}}`` references become
references to clientevents' secret store entry ``NAME`` (same name, same keys: store it with
``clientevents secrets set NAME``). When the fields of one credential block come from one
secret, the block reads that secret (``secret: NAME`` with the ``*_key`` fields); otherwise each
field that is a reference becomes ``${env:<CONNECTION>_<FIELD>}`` and the finding says what to
put there. A credential written in the template in clear stays in clear, with a warning.
"""

from __future__ import annotations

import re
from typing import Any

from clientevents.cfn.context import ImportContext
from clientevents.cfn.dynamic import DynamicReference, contains_reference, parse_reference
from clientevents.cfn.template import Resource

__all__ = ["map_connection"]

_TYPES = {"BASIC": "basic", "API_KEY": "api_key",
          "OAUTH_CLIENT_CREDENTIALS": "oauth_client_credentials"}
_HANDLED = {"Name", "Description", "AuthorizationType", "AuthParameters"}
_NOT_SECRET = {"username", "client_id"}
_AUTH_HANDLED = {"BasicAuthParameters", "ApiKeyAuthParameters", "OAuthParameters",
                 "InvocationHttpParameters"}


def _env_name(connection: str, field: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{connection}_{field}").upper()


def _describe(ref: DynamicReference) -> str:
    key = f", key {ref.key}" if ref.key else ""
    return f"{ref.service} {ref.name}{key}"


class _Credentials:
    """Turns one block's credential fields into configuration, noting what it did."""

    def __init__(self, ctx: ImportContext, resource: Resource, connection: str) -> None:
        self.ctx, self.resource, self.connection = ctx, resource, connection

    def block(self, fields: dict[str, tuple[Any, str]], *, whole_text_ok: bool
              ) -> dict[str, Any]:
        """``fields``: our field name → (the template's value, our ``*_key`` field name).

        One Secrets Manager secret behind every field: ``{secret, <key fields>}``. Otherwise
        each field on its own (literal, or ``${env:...}``)."""
        refs = {name: parse_reference(value) for name, (value, _) in fields.items()}
        same = {r.name for r in refs.values() if r is not None and r.service == "secretsmanager"}
        keyed = all(r is not None and r.service == "secretsmanager"
                    and (r.key is not None or whole_text_ok) for r in refs.values())
        if refs and keyed and len(same) == 1:
            secret = same.pop()
            out: dict[str, Any] = {"secret": secret}
            for name, (_, key_field) in fields.items():
                ref = refs[name]
                assert ref is not None
                out[key_field] = ref.key
                if ref.pinned:
                    self.note_pinned(ref)
            self.ctx.note(self.resource, "mapped", f"connection {self.connection}: its "
                          f"credentials are read from the secret store entry {secret} (store "
                          f"it with `clientevents secrets set {secret}`).")
            return {k: v for k, v in out.items() if v is not None}
        return {name: self.field(name, value) for name, (value, _) in fields.items()}

    def field(self, name: str, value: Any) -> str:
        """One credential on its own: a literal stays; a reference becomes a variable."""
        ref = parse_reference(value)
        if ref is None and not contains_reference(value):
            if name in _NOT_SECRET:
                return str(value)
            self.ctx.note(self.resource, "partly", f"connection {self.connection}: {name} is "
                          "written in the template in clear, and so in the configuration; "
                          "move it to the secret store (`clientevents secrets set`) or to "
                          "${env:...}.")
            return str(value)
        variable = _env_name(self.connection, name)
        source = _describe(ref) if ref is not None else f"the text {value!r}"
        self.ctx.note(self.resource, "partly", f"connection {self.connection}: {name} comes "
                      f"from {source}, which clientevents cannot read here: it is "
                      f"${{env:{variable}}}; set {variable} (or store the secret and give "
                      "the block `secret:` with its keys).")
        return f"${{env:{variable}}}"

    def note_pinned(self, ref: DynamicReference) -> None:
        self.ctx.note(self.resource, "partly", f"connection {self.connection}: the reference "
                      f"to {ref.name} asks for version {ref.pinned}; the secret store keeps "
                      "one version of each secret.")

    def parameters(self, spec: Any) -> dict[str, list[dict[str, Any]]]:
        """``{Header,QueryString,Body}Parameters`` → ``{header,query_string,body}_parameters``."""
        out: dict[str, list[dict[str, Any]]] = {}
        if not isinstance(spec, dict):
            return out
        for theirs, ours in (("HeaderParameters", "header_parameters"),
                             ("QueryStringParameters", "query_string_parameters"),
                             ("BodyParameters", "body_parameters")):
            items = [self.parameter(p) for p in spec.get(theirs) or [] if isinstance(p, dict)]
            if items:
                out[ours] = items
        return out

    def parameter(self, spec: dict[str, Any]) -> dict[str, Any]:
        key, value = str(spec.get("Key", "")), spec.get("Value", "")
        secret = str(spec.get("IsValueSecret", False)).lower() == "true"
        ref = parse_reference(value)
        if ref is not None and ref.service == "secretsmanager":
            param: dict[str, Any] = {"key": key, "secret": ref.name}
            if ref.key:
                param["secret_key"] = ref.key
            return param
        if ref is not None or contains_reference(value):
            return {"key": key, "value": self.field(f"param {key}", value),
                    "is_value_secret": True}
        param = {"key": key, "value": str(value)}
        if secret:
            param["is_value_secret"] = True
        return param


def map_connection(ctx: ImportContext, resource: Resource) -> None:
    props = ctx.props(resource)
    name = ctx.resolver.resource_name(resource)
    if not ctx.named(resource, name, "connection"):
        return
    kind = _TYPES.get(str(props.get("AuthorizationType", "")).upper())
    if kind is None:
        ctx.note(resource, "skipped", f"connection {name}: AuthorizationType "
                 f"{props.get('AuthorizationType')!r} is not BASIC, API_KEY or "
                 "OAUTH_CLIENT_CREDENTIALS.")
        return
    auth = props.get("AuthParameters") or {}
    creds = _Credentials(ctx, resource, name)
    connection: dict[str, Any] = {"name": name}
    if props.get("Description"):
        connection["description"] = str(props["Description"])[:512]
    connection["authorization_type"] = kind
    if kind == "basic":
        basic = auth.get("BasicAuthParameters") or {}
        connection["basic"] = creds.block(
            {"username": (basic.get("Username"), "username_key"),
             "password": (basic.get("Password"), "password_key")}, whole_text_ok=False)
    elif kind == "api_key":
        key = auth.get("ApiKeyAuthParameters") or {}
        connection["api_key"] = {
            "name": str(key.get("ApiKeyName", "")),
            **creds.block({"value": (key.get("ApiKeyValue"), "value_key")},
                          whole_text_ok=True),
        }
    else:
        oauth = auth.get("OAuthParameters") or {}
        client = oauth.get("ClientParameters") or {}
        block: dict[str, Any] = {
            "authorization_endpoint": str(oauth.get("AuthorizationEndpoint", "")),
            "http_method": str(oauth.get("HttpMethod", "POST")).upper(),
            **creds.block({"client_id": (client.get("ClientID"), "client_id_key"),
                           "client_secret": (client.get("ClientSecret"), "client_secret_key")},
                          whole_text_ok=False),
        }
        extra = creds.parameters(oauth.get("OAuthHttpParameters"))
        if extra:
            block["oauth_http_parameters"] = extra
        connection["oauth"] = block
    invocation = creds.parameters(auth.get("InvocationHttpParameters"))
    if invocation:
        connection["invocation_http_parameters"] = invocation
    if not any(f.resource == resource.logical_id and f.outcome == "mapped"
               for f in ctx.findings):
        ctx.note(resource, "mapped", f"connection {name} ({kind}).")
    ctx.items("connections").append(connection)
    ctx.leftover(resource, props, _HANDLED, "no equivalent")
    if isinstance(auth, dict):
        rest = sorted(k for k in auth if k not in _AUTH_HANDLED)
        if rest:
            ctx.note(resource, "partly", f"connection {name}: not carried over: "
                     f"{', '.join(rest)} (private connectivity has no equivalent).")
