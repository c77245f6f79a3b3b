"""Who may send events: the built-in user pool, external OpenID Connect issuers, the admin key."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from clientevents.config.base import ConfigModel, ConfigProblems, Name, duplicates

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_USER_POOL_ID",
    "USER_POOL_ISSUER",
    "AdminCredentials",
    "FileNotifierConfig",
    "IdentitySettings",
    "IssuerConfig",
    "NotifierConfig",
    "PasswordPolicy",
    "SmtpNotifierConfig",
    "UserPoolSettings",
]

DEFAULT_USER_POOL_ID = "local_clientevents"
"""The built-in user pool's documented default id."""

DEFAULT_CLIENT_ID = "clientevents-local-app"
"""The built-in user pool's documented default app client id."""

USER_POOL_ISSUER = "user_pool"
"""The name that stands for the built-in user pool in a stage's ``allowed_issuers``."""

Algorithm = Literal["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"]


class PasswordPolicy(ConfigModel):
    """What a user-pool password must contain (Cognito's password policy)."""

    minimum_length: int = Field(default=8, ge=6, le=99, description="Minimum length (6 to 99).")
    require_uppercase: bool = Field(default=True, description="At least one upper-case letter.")
    require_lowercase: bool = Field(default=True, description="At least one lower-case letter.")
    require_numbers: bool = Field(default=False, description="At least one digit.")
    require_symbols: bool = Field(default=True, description="At least one symbol.")


class FileNotifierConfig(ConfigModel):
    """Write confirmation codes and messages to a file under data_dir (local development)."""

    type: Literal["file"] = Field(description="Notifier type.")


class SmtpNotifierConfig(ConfigModel):
    """Send confirmation codes and messages by e-mail."""

    type: Literal["smtp"] = Field(description="Notifier type.")
    host: str = Field(min_length=1, description="SMTP server host name.")
    port: int = Field(default=587, ge=1, le=65_535, description="SMTP server port.")
    sender: str = Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$", description="From address.")
    username: str | None = Field(default=None, description="Login name; none = no login.")
    password: str | None = Field(default=None, repr=False, description="Login password.")
    starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS.")


NotifierConfig = Annotated[FileNotifierConfig | SmtpNotifierConfig, Field(discriminator="type")]
"""How the user pool delivers confirmation codes, chosen by ``type``."""


class UserPoolSettings(ConfigModel):
    """The built-in, Cognito-compatible user pool."""

    enabled: bool = Field(default=True, description="Serve the user pool and accept its tokens.")
    id: str = Field(
        default=DEFAULT_USER_POOL_ID,
        min_length=3,
        max_length=55,
        pattern=r"^[\w-]+_[0-9A-Za-z]+$",
        description="User pool id, as in Cognito ('<region>_<suffix>').",
    )
    client_id: str = Field(
        default=DEFAULT_CLIENT_ID,
        min_length=1,
        max_length=128,
        pattern=r"^[\w+\-]+$",
        description="The app client id clients send with InitiateAuth.",
    )
    password_policy: PasswordPolicy = Field(
        default_factory=PasswordPolicy, description="Password rules for sign-up and changes."
    )
    access_token_ttl_secs: int = Field(
        default=3600, ge=300, le=86_400, description="Access token lifetime (5 minutes to 1 day)."
    )
    id_token_ttl_secs: int = Field(
        default=3600, ge=300, le=86_400, description="ID token lifetime (5 minutes to 1 day)."
    )
    refresh_token_ttl_days: int = Field(
        default=30, ge=1, le=3650, description="Refresh token lifetime (1 day to 10 years)."
    )
    prevent_user_existence_errors: bool = Field(
        default=True,
        description="Answer unknown usernames exactly as real users, in the same time, so "
        "callers cannot probe which users exist.",
    )
    notifier: NotifierConfig = Field(
        default_factory=lambda: FileNotifierConfig(type="file"),
        description="Where confirmation codes go.",
    )


class IssuerConfig(ConfigModel):
    """An external OpenID Connect provider whose tokens the gateway accepts."""

    name: Name = Field(description="Name used in a stage's allowed_issuers.")
    issuer: str = Field(
        pattern=r"^https?://\S+$",
        description="The issuer URL, equal to the tokens' 'iss' claim.",
    )
    jwks_url: str | None = Field(
        default=None,
        pattern=r"^https?://\S+$",
        description="JWKS URL; none = discovered from <issuer>/.well-known/openid-configuration.",
    )
    audience: list[str] = Field(
        min_length=1,
        description="Accepted 'aud' (or Cognito 'client_id') values; at least one.",
    )
    algorithms: list[Algorithm] = Field(
        default_factory=lambda: list[Algorithm](["RS256"]),
        min_length=1,
        description="Accepted signing algorithms.",
    )
    client_id_claim: str = Field(
        default="sub", min_length=1, description="Claim whose value becomes the event's clientId."
    )
    token_use: Literal["access", "id"] | None = Field(
        default=None,
        description="Require this 'token_use' claim (Cognito tokens); none = not checked.",
    )

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == USER_POOL_ISSUER:
            raise ValueError(
                f"{USER_POOL_ISSUER!r} is reserved for the built-in user pool; "
                "choose another issuer name."
            )
        return value


class AdminCredentials(ConfigModel):
    """The admin API's access key (generated at first start when not configured)."""

    access_key_id: str = Field(min_length=1, max_length=128, description="Access key id.")
    secret_access_key: str = Field(
        min_length=1, repr=False, description="Secret access key; reference it with ${env:...}."
    )


class IdentitySettings(ConfigModel):
    """Authentication: the user pool, external issuers, token rules and the admin key."""

    user_pool: UserPoolSettings = Field(
        default_factory=UserPoolSettings, description="The built-in user pool."
    )
    issuers: list[IssuerConfig] = Field(
        default_factory=list, description="External OpenID Connect providers."
    )
    accept_id_tokens: bool = Field(
        default=False,
        description="Accept an ID token where an access token is expected (false answers 401).",
    )
    admin: AdminCredentials | None = Field(
        default=None, description="Admin API credentials; none = generated at first start."
    )

    @field_validator("issuers")
    @classmethod
    def _unique_issuers(cls, issuers: list[IssuerConfig]) -> list[IssuerConfig]:
        problems = duplicates(
            ((i, issuer.name) for i, issuer in enumerate(issuers)), "issuer", "issuers"
        )
        if problems:
            # Locations are relative to this field, not the model: drop the collection key.
            raise ConfigProblems([(loc[1:], message) for loc, message in problems])
        return issuers
