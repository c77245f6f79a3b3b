"""The ``api_destination`` target: one HTTP call per delivery, through a connection.

Per API destination and process, one :class:`Destination` holds what every rule target calling
it shares: the pooled HTTP client (with the address policy), the call limiter
(``invocation_rate_limit_per_sec``), the connection's :class:`~.auth.Authorizer` and the
redactor. Each rule target is an :class:`ApiDestinationTarget` over it.

Claiming follows the destination: :meth:`ApiDestinationTarget.admit` lets the dispatcher claim
only as many deliveries as the limiter allows now, and none while the connection is not
authorized, so the backlog waits in the durable queue without spending attempts. The dispatcher
keeps up to ``concurrency`` deliveries in flight (``max_in_flight``).

A call follows up to ``max_redirects`` redirects itself: each hop is a new connection checked
by the address policy; a hop to another origin drops the connection's headers and query
parameters (its credentials among them); a hop from https to http, or to another scheme, is
refused. The whole call, redirects included, must finish within ``timeout_secs``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from clientevents.config.api_destinations import ApiDestinationConfig, ApiDestinationTargetConfig
from clientevents.errors import ConfigError
from clientevents.ratelimit import CallLimiter, Grant, Unlimited, WindowLimiter
from clientevents.ratelimit.shared import shared_call_limiter
from clientevents.secrets import Redactor
from clientevents.targets.api_destination.auth import Authorizer, SecretSource
from clientevents.targets.api_destination.client import build_client
from clientevents.targets.api_destination.guard import AddressNotAllowed, AddressPolicy
from clientevents.targets.api_destination.outcome import classify
from clientevents.targets.api_destination.params import HttpParameters
from clientevents.targets.api_destination.request import PreparedRequest, compose
from clientevents.targets.base import Outcome, Permanent, Retry, Target

if TYPE_CHECKING:
    from clientevents.config.model import Settings
    from clientevents.targets.base import TargetContext
    from clientevents.targets.queue import ClaimedDelivery

__all__ = ["GATEWAY_URL_ENV", "ApiDestinationTarget", "Destination", "gateway_url"]

logger = logging.getLogger("clientevents.targets.api_destination")

GATEWAY_URL_ENV = "CLIENTEVENTS_GATEWAY_URL"
"""Where this deployment's gateway listens (``clientevents serve`` sets it for its workers);
an endpoint that is a path (``/inbox/api/v2/tickets.json``) is resolved against it."""

MAX_ANSWER_BYTES = 65_536
"""Most of an answer's body read (the rest is not read; the connection is then not reused)."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def gateway_url(settings: Settings) -> str:
    """This deployment's own gateway URL: :data:`GATEWAY_URL_ENV`, else ``server.host:port``."""
    configured = os.environ.get(GATEWAY_URL_ENV)
    if configured:
        return configured.rstrip("/")
    host = settings.server.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.server.port}"


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    retry_after: str | None
    body: bytes


class _RedirectRefused(Exception):
    pass


class Destination:
    """One API destination at work in this process (shared by its rule targets).

    Args:
        config: the destination.
        authorizer: its connection's authorizer.
        endpoint: the URL to call (a gateway path already resolved).
        redactor: masks the connection's secrets in every message.
        client: the HTTP client; built from the destination's settings when ``None``.
        limiter: the call limiter; from ``invocation_rate_limit_per_sec`` when ``None``.
    """

    def __init__(
        self,
        config: ApiDestinationConfig,
        authorizer: Authorizer,
        *,
        endpoint: str,
        redactor: Redactor,
        client: httpx.AsyncClient | None = None,
        limiter: CallLimiter | None = None,
    ) -> None:
        self.config = config
        self.authorizer = authorizer
        self.endpoint = endpoint
        self.redactor = redactor
        self.client = client or build_client(
            AddressPolicy(config.allow_private_networks),
            concurrency=config.concurrency,
            timeout_secs=config.timeout_secs,
        )
        if authorizer.client is None:
            authorizer.client = self.client
        if limiter is None:
            rate = config.invocation_rate_limit_per_sec
            limiter = WindowLimiter(rate) if rate else Unlimited()
        self.limiter = limiter
        self.slots = asyncio.Semaphore(config.concurrency)
        self.users = 0

    @classmethod
    def shared(cls, name: str, ctx: TargetContext) -> Destination:
        """The destination called ``name`` in this process (built on first use)."""
        key = f"api_destination:{name}"
        found = ctx.shared.get(key)
        if isinstance(found, Destination):
            return found
        settings = ctx.settings
        config = settings.api_destination(name)
        connection = settings.connection(config.connection)
        redactor = Redactor()
        authorizer = Authorizer(
            connection, SecretSource(ctx.db, ctx.data_dir), redactor, db=ctx.db,
            timeout_secs=config.timeout_secs,
        )
        endpoint = config.invocation_endpoint
        if endpoint.startswith("/"):
            endpoint = gateway_url(settings) + endpoint
        # Shared with the other processes calling this destination when several may run.
        limiter = shared_call_limiter(ctx.db, name, config.invocation_rate_limit_per_sec)
        destination = cls(config, authorizer, endpoint=endpoint, redactor=redactor,
                          limiter=limiter)
        ctx.shared[key] = destination
        return destination

    async def admit(self, want: int) -> Grant:
        """How many calls may be claimed now (none while the connection is not authorized)."""
        wait = await self.authorizer.ready()
        if wait is not None:
            return Grant(0, wait)
        return await self.limiter.reserve(want)

    async def call(self, delivery: ClaimedDelivery) -> Outcome:
        """Make one delivery's call (its reservation is used or released)."""
        started = False
        try:
            prepared = self._prepare(delivery)
            if isinstance(prepared, Permanent):
                return prepared
            async with self.slots:
                self.limiter.start()
                started = True
                try:
                    return await self._send(prepared)
                finally:
                    self.limiter.finish()
        finally:
            if not started:
                self.limiter.release(1)

    def _prepare(self, delivery: ClaimedDelivery) -> PreparedRequest | Permanent:
        try:
            params = HttpParameters.from_json(delivery.attributes)
        except ValueError as exc:
            return Permanent("InvalidAttributes",
                             f"The delivery's HTTP parameters cannot be read: {exc}.")
        try:
            return compose(
                endpoint=self.endpoint,
                method=self.config.http_method,
                payload=delivery.payload,
                event_id=delivery.event_id,
                params=params,
                credentials=self.authorizer.credentials(),
            )
        except ValueError as exc:
            return Permanent("InvalidPathParameters", str(exc))

    async def _send(self, prepared: PreparedRequest) -> Outcome:
        redact = self.redactor.redact
        timeout = self.config.timeout_secs
        try:
            async with asyncio.timeout(timeout):
                answer = await self._follow(prepared)
        except TimeoutError:
            return Retry("Timeout", f"The API destination did not answer within {timeout:g} s.")
        except AddressNotAllowed as exc:
            return Permanent("AddressNotAllowed", redact(str(exc)))
        except _RedirectRefused as exc:
            return Permanent("RedirectRefused", redact(str(exc)))
        except httpx.TimeoutException:
            return Retry("Timeout", f"The API destination did not answer within {timeout:g} s.")
        except httpx.HTTPError as exc:
            detail = redact(str(exc) or type(exc).__name__)
            return Retry("ConnectionError", f"The call failed: {detail}")
        if answer.status in (401, 407):
            self.authorizer.invalidate()
        return classify(answer.status, body=answer.body, retry_after=answer.retry_after,
                        redact=redact)

    async def _follow(self, prepared: PreparedRequest) -> _Answer:
        method, url = prepared.method, httpx.URL(prepared.url)
        headers, body = dict(prepared.headers), prepared.body
        origin = (url.scheme, url.host, url.port)
        for hop in range(self.config.max_redirects + 1):
            request = self.client.build_request(method, url, headers=headers, content=body)
            response = await self.client.send(request, stream=True)
            try:
                data = await _read_limited(response)
            finally:
                await response.aclose()
            location = response.headers.get("location")
            if (response.status_code not in _REDIRECTS or not location
                    or hop == self.config.max_redirects):
                return _Answer(response.status_code, response.headers.get("retry-after"), data)
            target = url.join(location)
            if target.scheme not in ("http", "https"):
                raise _RedirectRefused(f"A redirect to a {target.scheme!r} URL was refused.")
            if url.scheme == "https" and target.scheme == "http":
                raise _RedirectRefused("A redirect from https to http was refused.")
            if (target.scheme, target.host, target.port) != origin:
                headers = {k: v for k, v in headers.items()
                           if k.lower() not in prepared.connection_headers}
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method == "POST"
            ):
                method = "GET" if method != "HEAD" else method
                body = None
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            url = target
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        await self.client.aclose()
        close = getattr(self.limiter, "close", None)
        if close is not None:
            await close()


async def _read_limited(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_ANSWER_BYTES:
            break
    return b"".join(chunks)


class ApiDestinationTarget(Target):
    """A rule target that calls an API destination (one call per delivery)."""

    kind = "api_destination"

    def __init__(self, destination: Destination, ctx: TargetContext | None = None) -> None:
        self.destination = destination
        self._ctx = ctx
        config = destination.config
        destination.users += 1
        self.max_in_flight = config.concurrency
        self.max_batch_size = config.concurrency
        self.send_timeout_secs = 2 * config.timeout_secs + 5.0

    @classmethod
    def from_config(
        cls, cfg: ApiDestinationTargetConfig, ctx: TargetContext
    ) -> ApiDestinationTarget:
        try:
            destination = Destination.shared(cfg.api_destination, ctx)
        except KeyError as exc:
            raise ConfigError(f"API destination or connection {exc} is not configured.") from None
        return cls(destination, ctx)

    async def admit(self, want: int) -> Grant:
        return await self.destination.admit(want)

    def release(self, count: int) -> None:
        if count > 0:
            self.destination.limiter.release(count)

    async def send_batch(self, deliveries: Sequence[ClaimedDelivery]) -> list[Outcome]:
        results: list[Any] = await asyncio.gather(
            *(self.destination.call(d) for d in deliveries), return_exceptions=True
        )
        outcomes: list[Outcome] = []
        for result in results:
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                logger.error("An API destination call failed unexpectedly. destination=%s "
                             "error=%s", self.destination.config.name,
                             self.destination.redactor.redact(repr(result)))
                outcomes.append(Retry("TargetError", self.destination.redactor.redact(
                    f"{type(result).__name__}: {result}")))
            else:
                outcomes.append(result)
        return outcomes

    async def close(self) -> None:
        self.destination.users -= 1
        if self.destination.users <= 0:
            await self.destination.aclose()
            if self._ctx is not None:
                self._ctx.shared.pop(f"api_destination:{self.destination.config.name}", None)
