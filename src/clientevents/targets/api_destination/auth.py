"""A connection at work: its credentials resolved, its OAuth token cached, its state kept.

:class:`Authorizer` turns a :class:`~clientevents.config.api_destinations.ConnectionConfig`
into what each request carries (:class:`Credentials`: headers, query string and body
parameters, the authorization header included) and keeps the connection's state
(``AUTHORIZED``, ``DEAUTHORIZED``, ``AUTHORIZING``, see :mod:`.state`):

- ``basic``: ``Authorization: Basic base64(username:password)``;
- ``api_key``: a header named ``name`` holding the key;
- ``oauth_client_credentials``: a token from the authorization endpoint (client id and secret
  as Basic credentials, ``grant_type=client_credentials`` and the OAuth parameters), sent as
  ``Authorization: Bearer <token>``, cached until shortly before ``expires_in`` runs out and
  fetched again after the API answered 401 or 407.

Secrets are read from the secret store when the connection authorizes (at the first delivery,
after a 401 or 407, and at each re-check while it is not authorized), so a secret stored or
rotated with ``clientevents secrets set`` is taken up without a restart. Every secret value
and the forms derived from it (the Basic header, the token) go to the destination's
:class:`~clientevents.secrets.Redactor`.

While the connection is not authorized, :meth:`Authorizer.ready` says how long to wait; the
target then claims nothing, so deliveries wait in their queue. Re-checks back off from 1 s to
60 s.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from clientevents.config.api_destinations import (
    ConnectionConfig,
    ConnectionHttpParameters,
    ParameterConfig,
)
from clientevents.secrets import Redactor, SecretError, SecretStore, load_master_key
from clientevents.targets.api_destination.guard import AddressNotAllowed
from clientevents.targets.api_destination.state import (
    AUTHORIZED,
    AUTHORIZING,
    DEAUTHORIZED,
    SCHEMA,
    ConnectionState,
    record_state,
)

if TYPE_CHECKING:
    from pydantic import SecretStr

    from clientevents.store.port import StateStore

__all__ = ["Authorizer", "Credentials", "SecretSource"]

logger = logging.getLogger("clientevents.targets.api_destination")

RECHECK_FIRST_SECS = 1.0
RECHECK_MAX_SECS = 60.0
TOKEN_REFRESH_MARGIN_SECS = 30.0


class SecretSource:
    """The secret store of a data dir, opened on first use (no key is needed until then)."""

    def __init__(self, db: StateStore, data_dir: Path) -> None:
        self.db = db
        self.data_dir = data_dir
        self._store: SecretStore | None = None

    def value(self, name: str, key: str | None) -> str:
        """The secret (or one key of a JSON secret).

        Raises:
            SecretError: no master key, no such secret or key, or it does not decrypt.
        """
        if self._store is None:
            self._store = SecretStore(self.db, load_master_key(self.data_dir))
        return self._store.value(name, key)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What every request of a connection carries."""

    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: dict[str, str] = field(default_factory=dict)


class _NotAuthorized(Exception):
    """Authorization failed; ``state`` says how (DEAUTHORIZED or AUTHORIZING)."""

    def __init__(self, state: str, reason: str) -> None:
        self.state = state
        self.reason = reason
        super().__init__(reason)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Authorizer:
    """One connection's credentials and state, for one destination's requests.

    Args:
        config: the connection.
        secrets: where ``secret:`` references are read.
        redactor: learns every secret value this connection uses.
        db: where state changes are recorded (``None``: not recorded).
        client: the HTTP client for OAuth token requests (the destination's, so the address
            policy applies to the token endpoint too).
        timeout_secs: how long a token request may take.
        clock: monotonic time.
    """

    def __init__(
        self,
        config: ConnectionConfig,
        secrets: SecretSource | None,
        redactor: Redactor,
        *,
        db: StateStore | None = None,
        client: httpx.AsyncClient | None = None,
        timeout_secs: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.secrets = secrets
        self.redactor = redactor
        self.db = db
        self.client = client
        self.timeout_secs = timeout_secs
        self.clock = clock
        self.state = AUTHORIZING
        self.reason = "Not authorized yet: the first delivery authorizes the connection."
        self._credentials: Credentials | None = None
        self._token_expires_at = float("inf")
        self._next_check_at = 0.0
        self._recheck_secs = RECHECK_FIRST_SECS
        self._lock = asyncio.Lock()
        self._recorded: tuple[str, str] | None = None
        self._schema_ready = False

    # -- what the target asks ----------------------------------------------------------------

    async def ready(self) -> float | None:
        """``None`` when requests may go out now; else the seconds to wait before asking again."""
        if self._credentials is not None and self.clock() < self._token_expires_at:
            return None
        async with self._lock:
            now = self.clock()
            if self._credentials is not None and now < self._token_expires_at:
                return None
            if now < self._next_check_at:
                return self._next_check_at - now
            try:
                self._credentials = await self._authorize()
            except _NotAuthorized as failed:
                self._credentials = None
                self._next_check_at = self.clock() + self._recheck_secs
                wait = self._recheck_secs
                self._recheck_secs = min(self._recheck_secs * 2, RECHECK_MAX_SECS)
                await self._set_state(failed.state, failed.reason)
                return wait
            self._recheck_secs = RECHECK_FIRST_SECS
            await self._set_state(AUTHORIZED, "")
            return None

    def credentials(self) -> Credentials:
        """The parameters and authorization of a request (after :meth:`ready` said yes)."""
        return self._credentials or Credentials()

    def invalidate(self) -> None:
        """The API answered 401 or 407: read the secrets (and fetch a token) again first."""
        self._credentials = None
        self._token_expires_at = float("inf")
        self._next_check_at = 0.0

    # -- authorizing -------------------------------------------------------------------------

    def _secret(self, name: str, key: str | None) -> str:
        if self.secrets is None:
            raise _NotAuthorized(DEAUTHORIZED, "There is no secret store to read from.")
        try:
            value = self.secrets.value(name, key)
        except SecretError as exc:
            raise _NotAuthorized(DEAUTHORIZED, str(exc)) from None
        self.redactor.add(value)
        return value

    def _literal(self, value: SecretStr | None, *, secret: bool = True) -> str:
        text = value.get_secret_value() if value is not None else ""
        if secret:
            self.redactor.add(text)
        return text

    def _parameters(self, params: list[ParameterConfig]) -> dict[str, str]:
        out: dict[str, str] = {}
        for param in params:
            if param.secret is not None:
                out[param.key] = self._secret(param.secret, param.secret_key)
            else:
                out[param.key] = self._literal(param.value, secret=param.is_value_secret)
        return out

    def _invocation(self, params: ConnectionHttpParameters) -> Credentials:
        return Credentials(
            headers=self._parameters(params.header_parameters),
            query=self._parameters(params.query_string_parameters),
            body=self._parameters(params.body_parameters),
        )

    async def _authorize(self) -> Credentials:
        cfg = self.config
        base = self._invocation(cfg.invocation_http_parameters)
        auth: dict[str, str]
        if cfg.authorization_type == "basic":
            assert cfg.basic is not None
            block = cfg.basic
            if block.secret is not None:
                user = self._secret(block.secret, block.username_key)
                password = self._secret(block.secret, block.password_key)
            else:
                user = self._literal(block.username)
                password = self._literal(block.password)
            header = _basic(user, password)
            self.redactor.add(header, header.split(" ", 1)[1])
            auth = {"Authorization": header}
        elif cfg.authorization_type == "api_key":
            assert cfg.api_key is not None
            key_block = cfg.api_key
            if key_block.secret is not None:
                value = self._secret(key_block.secret, key_block.value_key)
            else:
                value = self._literal(key_block.value)
            auth = {key_block.name: value}
        else:
            token = await self._fetch_token()
            auth = {"Authorization": f"Bearer {token}"}
        # The authorization wins over an invocation header of the same name.
        headers = {k: v for k, v in base.headers.items()
                   if k.lower() not in {a.lower() for a in auth}}
        headers.update(auth)
        return Credentials(headers=headers, query=base.query, body=base.body)

    async def _fetch_token(self) -> str:
        cfg = self.config.oauth
        assert cfg is not None
        if cfg.secret is not None:
            client_id = self._secret(cfg.secret, cfg.client_id_key)
            client_secret = self._secret(cfg.secret, cfg.client_secret_key)
        else:
            client_id = cfg.client_id or ""
            client_secret = self._literal(cfg.client_secret)
        extra = self._invocation(cfg.oauth_http_parameters)
        form = {"grant_type": "client_credentials", **extra.body}
        basic = _basic(client_id, client_secret)
        self.redactor.add(basic, basic.split(" ", 1)[1])
        headers = {"Accept": "application/json", **extra.headers, "Authorization": basic}
        params = dict(extra.query)
        if cfg.http_method == "GET":
            params.update(form)
            data: dict[str, str] | None = None
        else:
            data = form
        if self.client is None:
            raise _NotAuthorized(AUTHORIZING, "There is no HTTP client for the token request.")
        await self._set_state(AUTHORIZING, "Requesting a token from the authorization endpoint.")
        try:
            async with asyncio.timeout(self.timeout_secs):
                response = await self.client.request(
                    cfg.http_method, cfg.authorization_endpoint, headers=headers,
                    params=params, data=data,
                )
        except AddressNotAllowed as exc:
            raise _NotAuthorized(DEAUTHORIZED, f"Authorization endpoint: {exc}") from None
        except (TimeoutError, httpx.HTTPError) as exc:
            detail = self.redactor.redact(str(exc) or type(exc).__name__)
            raise _NotAuthorized(
                AUTHORIZING, f"The authorization endpoint could not be reached: {detail}"
            ) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _NotAuthorized(
                AUTHORIZING,
                f"The authorization endpoint answered HTTP {response.status_code}; "
                "trying again later.",
            )
        if not 200 <= response.status_code < 300:
            snippet = self.redactor.redact(response.text[:200])
            raise _NotAuthorized(
                DEAUTHORIZED,
                f"The authorization endpoint refused the client: HTTP {response.status_code}"
                + (f": {snippet}" if snippet else "."),
            )
        return self._token_from(response)

    def _token_from(self, response: httpx.Response) -> str:
        try:
            data: Any = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            data = None
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise _NotAuthorized(
                DEAUTHORIZED,
                "The authorization endpoint's answer has no access_token (a JSON object with "
                "access_token, token_type and expires_in was expected).",
            )
        self.redactor.add(token, f"Bearer {token}")
        expires_in = data.get("expires_in")
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            margin = min(TOKEN_REFRESH_MARGIN_SECS, float(expires_in) / 10)
            self._token_expires_at = self.clock() + max(float(expires_in) - margin, 0.0)
        else:
            self._token_expires_at = float("inf")
        return token

    async def _set_state(self, state: str, reason: str) -> None:
        reason = self.redactor.redact(reason)
        self.state, self.reason = state, reason
        if self._recorded == (state, reason):
            return
        self._recorded = (state, reason)
        if state == DEAUTHORIZED:
            logger.warning("Connection deauthorized; its deliveries wait. connection=%s "
                           "reason=%s", self.config.name, reason)
        elif state == AUTHORIZED:
            logger.info("Connection authorized. connection=%s", self.config.name)
        if self.db is not None:
            row = ConnectionState(self.config.name, self.config.authorization_type, state,
                                  reason, time.time())
            db = self.db
            try:
                if not self._schema_ready:
                    # The database may have opened before this module registered its table.
                    await asyncio.to_thread(db.ensure_schema, SCHEMA)
                    self._schema_ready = True
                await asyncio.to_thread(record_state, db, row)
            except Exception:  # the state is informative; delivery goes on without it
                logger.exception("Recording a connection state failed. connection=%s",
                                 self.config.name)
