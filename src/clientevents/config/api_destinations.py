"""Connections, API destinations and the ``api_destination`` rule target.

As in EventBridge, a *connection* says how to authorize (``basic``, ``api_key`` or
``oauth_client_credentials``) and which parameters every request carries; an *API destination*
is an HTTP endpoint behind a connection, with a method, a timeout and an invocation rate limit;
a rule target ``{type: api_destination, api_destination: <name>}`` sends its deliveries there,
with ``http_parameters`` of its own. ``docs/api-destinations.md`` documents every field.

Credentials are never written in clear: a value comes from ``${env:NAME}`` at load time, or
from the encrypted secret store, referenced by name (``secret: proto/zendesk``) and, for a JSON
secret, by key (``username_key: username``). Values that may be secret are ``SecretStr``, so
they never show in a ``repr``, a log line or a validation message.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from clientevents.config.base import ConfigModel, ConfigProblems, Name
from clientevents.config.rulelang import check_input_path
from clientevents.config.target_base import TargetBase

__all__ = [
    "HTTP_METHODS",
    "ApiDestinationConfig",
    "ApiDestinationTargetConfig",
    "ApiKeyAuthConfig",
    "BasicAuthConfig",
    "ConnectionConfig",
    "ConnectionHttpParameters",
    "HttpParametersConfig",
    "OAuthConfig",
    "ParameterConfig",
    "is_dynamic_value",
]

HTTP_METHODS = ("POST", "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE")
"""The methods an API destination may use: any but CONNECT and TRACE, as in EventBridge."""

HttpMethod = Literal["POST", "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"]

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_SECRET_NAME = r"^[A-Za-z0-9/_+=.@\-]+$"

def is_dynamic_value(value: str) -> bool:
    """True when an HTTP parameter value is a JSON path into the event (``$.detail.id``)."""
    return value == "$" or value.startswith("$.") or value.startswith("$[")


def _check_header_name(name: str) -> str:
    if not _HEADER_NAME.match(name):
        raise ValueError(
            f"{name!r} is not a valid HTTP header name: use letters, digits and "
            "!#$%&'*+-.^_`|~ only."
        )
    return name


class ParameterConfig(ConfigModel):
    """One header, query string or body parameter a connection adds to requests.

    Give either ``value`` (text, usually ``${env:NAME}``) or ``secret`` (a secret store entry,
    and ``secret_key`` when the secret is JSON).
    """

    key: str = Field(min_length=1, max_length=512, description="Parameter name.")
    value: SecretStr | None = Field(
        default=None, description="Parameter value (hidden in output when is_value_secret)."
    )
    is_value_secret: bool = Field(
        default=False,
        description="Treat the value as a secret: never shown, redacted from errors and logs.",
    )
    secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        pattern=_SECRET_NAME,
        description="Take the value from this secret store entry (always treated as secret).",
    )
    secret_key: str | None = Field(
        default=None,
        min_length=1,
        description="Key inside a JSON secret; none = the whole secret text.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ParameterConfig:
        if (self.value is None) == (self.secret is None):
            raise ConfigProblems(
                [(("value",), "give exactly one of value and secret for a parameter.")]
            )
        if self.secret_key is not None and self.secret is None:
            raise ConfigProblems([(("secret_key",), "secret_key needs secret.")])
        return self

    @property
    def secret_value(self) -> bool:
        """True when the value must be treated as a secret."""
        return self.is_value_secret or self.secret is not None


class ConnectionHttpParameters(ConfigModel):
    """Parameters added to every request (connection invocation parameters or OAuth's)."""

    header_parameters: list[ParameterConfig] = Field(
        default_factory=list, max_length=100, description="Headers (at most 100)."
    )
    query_string_parameters: list[ParameterConfig] = Field(
        default_factory=list, max_length=100, description="Query string parameters."
    )
    body_parameters: list[ParameterConfig] = Field(
        default_factory=list,
        max_length=100,
        description="Keys added to a JSON object body (invocations) or to the form body "
        "(OAuth token requests).",
    )

    @field_validator("header_parameters")
    @classmethod
    def _header_names(cls, params: list[ParameterConfig]) -> list[ParameterConfig]:
        problems = []
        for i, param in enumerate(params):
            try:
                _check_header_name(param.key)
            except ValueError as exc:
                problems.append(((i, "key"), str(exc)))
        if problems:
            raise ConfigProblems(problems)
        return params

    def is_empty(self) -> bool:
        """True when there is no parameter at all."""
        return not (self.header_parameters or self.query_string_parameters
                    or self.body_parameters)


class _SecretBlock(ConfigModel):
    """Credentials given in place (``${env:...}``) or taken from one secret store entry."""

    secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        pattern=_SECRET_NAME,
        description="Secret store entry holding the credentials (JSON, read by the *_key "
        "fields). Instead of the literal fields.",
    )

    def _exclusive(self, literal: dict[str, Any], keys: tuple[str, ...]) -> None:
        given = [name for name, value in literal.items() if value is not None]
        if self.secret is not None and given:
            raise ConfigProblems(
                [((given[0],), f"give either secret (with {' and '.join(keys)}) or "
                               f"{' and '.join(literal)}, not both.")]
            )
        if self.secret is None:
            missing = [name for name, value in literal.items() if value is None]
            if missing:
                raise ConfigProblems(
                    [((missing[0],), f"{missing[0]} is required unless secret names a secret "
                                     "store entry holding the credentials.")]
                )


class BasicAuthConfig(_SecretBlock):
    """HTTP Basic: a username and a password (``Authorization: Basic ...``)."""

    username: SecretStr | None = Field(default=None, description="User name.")
    password: SecretStr | None = Field(default=None, description="Password.")
    username_key: str = Field(
        default="username", min_length=1, description="Key of the user name in the secret."
    )
    password_key: str = Field(
        default="password", min_length=1, description="Key of the password in the secret."
    )

    @model_validator(mode="after")
    def _check(self) -> BasicAuthConfig:
        self._exclusive({"username": self.username, "password": self.password},
                        ("username_key", "password_key"))
        return self


class ApiKeyAuthConfig(_SecretBlock):
    """An API key sent in a header of its own (``x-api-key: ...``)."""

    name: str = Field(min_length=1, max_length=512, description="Header name of the key.")
    value: SecretStr | None = Field(default=None, description="The key.")
    value_key: str | None = Field(
        default=None, min_length=1,
        description="Key of the value in a JSON secret; none = the whole secret text.",
    )

    @field_validator("name")
    @classmethod
    def _header(cls, name: str) -> str:
        return _check_header_name(name)

    @model_validator(mode="after")
    def _check(self) -> ApiKeyAuthConfig:
        self._exclusive({"value": self.value}, ("value_key",))
        return self


class OAuthConfig(_SecretBlock):
    """OAuth 2.0 client credentials: a token from ``authorization_endpoint``, sent as Bearer."""

    authorization_endpoint: str = Field(
        min_length=1, max_length=2048, description="Token endpoint URL (http or https)."
    )
    http_method: Literal["POST", "GET", "PUT"] = Field(
        default="POST", description="Method of the token request."
    )
    client_id: str | None = Field(default=None, min_length=1, description="Client id.")
    client_secret: SecretStr | None = Field(default=None, description="Client secret.")
    client_id_key: str = Field(
        default="client_id", min_length=1, description="Key of the client id in the secret."
    )
    client_secret_key: str = Field(
        default="client_secret", min_length=1,
        description="Key of the client secret in the secret.",
    )
    oauth_http_parameters: ConnectionHttpParameters = Field(
        default_factory=ConnectionHttpParameters,
        description="Extra headers, query string and form body parameters of the token "
        "request (grant_type=client_credentials is sent unless a body parameter sets it).",
    )

    @field_validator("authorization_endpoint")
    @classmethod
    def _url(cls, value: str) -> str:
        problem = _absolute_url_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _check(self) -> OAuthConfig:
        self._exclusive({"client_id": self.client_id, "client_secret": self.client_secret},
                        ("client_id_key", "client_secret_key"))
        return self


AuthorizationType = Literal["basic", "api_key", "oauth_client_credentials"]

_AUTH_BLOCK = {"basic": "basic", "api_key": "api_key", "oauth_client_credentials": "oauth"}


class ConnectionConfig(ConfigModel):
    """How requests to API destinations are authorized, and what parameters they carry."""

    name: Name = Field(description="Connection name, unique.")
    description: str = Field(default="", max_length=512, description="Free text.")
    authorization_type: AuthorizationType = Field(
        description="basic, api_key or oauth_client_credentials; the block of that name "
        "(oauth for OAuth) holds the credentials."
    )
    basic: BasicAuthConfig | None = Field(default=None, description="Basic credentials.")
    api_key: ApiKeyAuthConfig | None = Field(default=None, description="API key.")
    oauth: OAuthConfig | None = Field(default=None, description="OAuth client credentials.")
    invocation_http_parameters: ConnectionHttpParameters = Field(
        default_factory=ConnectionHttpParameters,
        description="Headers, query string and body parameters every request carries "
        "(they win over a target's http_parameters of the same name).",
    )

    @model_validator(mode="after")
    def _one_block(self) -> ConnectionConfig:
        wanted = _AUTH_BLOCK[self.authorization_type]
        problems = []
        if getattr(self, wanted) is None:
            problems.append(
                ((wanted,), f"authorization_type {self.authorization_type} needs the "
                            f"{wanted} block with its credentials.")
            )
        for block in _AUTH_BLOCK.values():
            if block != wanted and getattr(self, block) is not None:
                problems.append(
                    ((block,), f"the {block} block does not apply to authorization_type "
                               f"{self.authorization_type}; remove it.")
                )
        if problems:
            raise ConfigProblems(problems)
        return self


def _absolute_url_problem(value: str) -> str | None:
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        return f"{value!r} is not a valid URL: {exc}."
    del port
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{value!r} is not an http or https URL with a host."
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are not allowed; use the connection's authorization."
    if parts.fragment:
        return f"{value!r} has a fragment ('#...'), which is never sent; remove it."
    return None


class ApiDestinationConfig(ConfigModel):
    """An HTTP endpoint behind a connection."""

    name: Name = Field(description="API destination name, unique.")
    description: str = Field(default="", max_length=512, description="Free text.")
    connection: Name = Field(description="Name of a connection under connections.")
    invocation_endpoint: str = Field(
        min_length=1,
        max_length=2048,
        description="URL to call; each '*' in its path is filled from the target's "
        "path_parameter_values. A value starting with '/' is a path on this deployment's own "
        "gateway (the built-in ticket inbox).",
    )
    http_method: HttpMethod = Field(default="POST", description="Any method but CONNECT, TRACE.")
    invocation_rate_limit_per_sec: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Most calls in any one-second window; none = no limit. The backlog waits "
        "in the target's queue.",
    )
    timeout_secs: float = Field(
        default=5.0, gt=0, le=120, description="A call taking longer fails (retried)."
    )
    concurrency: int = Field(
        default=16, ge=1, le=1_000, description="Most calls in flight at once."
    )
    max_redirects: int = Field(
        default=5, ge=0, le=20,
        description="Redirects followed per call (each checked by the address policy); "
        "0 = a 3xx answer fails the delivery.",
    )
    allow_private_networks: list[str] = Field(
        default_factory=list,
        description="Address ranges (CIDR) the destination may reach although they are "
        "loopback, private, link-local or otherwise not public, e.g. 127.0.0.0/8.",
    )

    @field_validator("invocation_endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if value.startswith("/"):
            if value.startswith("//"):
                raise ValueError(f"{value!r}: a gateway path starts with a single '/'.")
            return value
        problem = _absolute_url_problem(value)
        if problem:
            raise ValueError(problem)
        if "*" in (urlsplit(value).hostname or ""):
            raise ValueError("'*' path parameters may appear in the path only, not the host.")
        if "*" in urlsplit(value).query:
            raise ValueError("'*' path parameters may appear in the path only, not the query.")
        return value

    @field_validator("allow_private_networks")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        problems = []
        for i, text in enumerate(values):
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                problems.append(((i,), f"{text!r} is not an address range such as "
                                       "127.0.0.0/8, 10.1.2.3/32 or ::1/128."))
        if problems:
            raise ConfigProblems(problems)
        return values

    @property
    def path_wildcards(self) -> int:
        """How many ``*`` path parameters the endpoint has."""
        return urlsplit(self.invocation_endpoint).path.count("*")


class HttpParametersConfig(ConfigModel):
    """A target's own HTTP parameters; a value starting with ``$.`` is a JSON path into the
    event, resolved when the event is routed."""

    path_parameter_values: list[str] = Field(
        default_factory=list,
        description="Values of the endpoint's '*' path parameters, in order.",
    )
    header_parameters: dict[str, str] = Field(
        default_factory=dict, description="Header name -> value or JSON path."
    )
    query_string_parameters: dict[str, str] = Field(
        default_factory=dict, description="Query string key -> value or JSON path."
    )

    @model_validator(mode="after")
    def _check(self) -> HttpParametersConfig:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for i, value in enumerate(self.path_parameter_values):
            problems += _value_problems(("path_parameter_values", i), value)
        for name, value in self.header_parameters.items():
            try:
                _check_header_name(name)
            except ValueError as exc:
                problems.append((("header_parameters", name), str(exc)))
            problems += _value_problems(("header_parameters", name), value)
        for key, value in self.query_string_parameters.items():
            if not key or len(key) > 512:
                problems.append((("query_string_parameters", key),
                                 "a query string key has 1 to 512 characters."))
            problems += _value_problems(("query_string_parameters", key), value)
        if problems:
            raise ConfigProblems(problems)
        return self

    def is_empty(self) -> bool:
        """True when there is no parameter at all."""
        return not (self.path_parameter_values or self.header_parameters
                    or self.query_string_parameters)


def _value_problems(loc: tuple[str | int, ...], value: str) -> list[tuple[tuple[str | int, ...],
                                                                          str]]:
    if not value.strip():
        return [(loc, "a parameter value must not be empty or blank.")]
    if len(value) > 512:
        return [(loc, "a parameter value has at most 512 characters.")]
    if is_dynamic_value(value):
        problem = check_input_path(value)
        if problem:
            return [(loc, f"{value!r} looks like a JSON path but is not valid: {problem}")]
    elif loc[0] == "header_parameters" and any(c in value for c in "\r\n\0"):
        return [(loc, "a header value must not contain line breaks.")]
    return []


class ApiDestinationTargetConfig(TargetBase):
    """Send each delivery to an API destination (one HTTP call per delivery)."""

    type: Literal["api_destination"] = Field(description="Target type.")
    api_destination: Name = Field(description="Name of an API destination under "
                                              "api_destinations.")
    http_parameters: HttpParametersConfig | None = Field(
        default=None,
        description="Path parameter values, headers and query string of this target's calls.",
    )
