"""The generator: N simulated clients sending the blueprint's entries on an open-loop schedule.

Schedule. Requests go out at intended times ``t0 + k / request_rate`` (k = 0, 1, ...), request k
from client ``k mod N``. Without a rate that is the blueprint's cadence: every client sends one
batch every ``interval_secs`` (the clients staggered across the interval). With ``rate`` (events
per second across all clients) the request rate is ``rate / batch``. The schedule does not wait
for answers (open loop): a slow server shows up as latency, measured from the intended send time,
not as a lower send rate. In-flight requests are capped (``max_in_flight``); a request waiting
for a slot still counts its latency from its intended time.

Counts. ``sent`` counts entries sent, ``accepted`` those the server stored (an ``EventId``),
``rejected`` the others by error code: the per-entry ``ErrorCode`` of a 200, or ``HTTP <status>``
for every entry of a refused request. Requests of a client that cannot sign in are ``skipped``.

Example::

    gen = Generator(options)
    summary = asyncio.run(gen.run(on_progress=print))
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from clientevents.client import ClientError, CognitoClient, IngestClient
from clientevents.config.identity import DEFAULT_CLIENT_ID, DEFAULT_USER_POOL_ID
from clientevents.generator.entries import EntryPicker
from clientevents.generator.session import Session, SignInFailed
from clientevents.generator.stats import Snapshot, Stats
from clientevents.identity.sigv4 import Credentials

__all__ = ["Generator", "GeneratorOptions", "usernames"]

#: Sign-ups and sign-ins run at most this many at once (each costs the server a password hash).
SIGN_IN_CONCURRENCY = 8


def usernames(userid: str, count: int) -> list[str]:
    """The simulated users' names: ``userid`` for one, ``userid-001``... for several."""
    if count == 1:
        return [userid]
    width = len(str(count))
    return [f"{userid}-{i:0{width}d}" for i in range(1, count + 1)]


@dataclass(frozen=True)
class GeneratorOptions:
    """What to send, where, how fast and for how long."""

    url: str
    """The ingest URL (``http://127.0.0.1:8080/prod/event``)."""
    endpoint_url: str
    """Where the Cognito-compatible API answers (the server, or ``cognito-idp.<region>``)."""
    usernames: Sequence[str]
    password: str = field(repr=False)
    client_id: str = DEFAULT_CLIENT_ID
    batch: int = 10
    loyalty: bool = False
    errors: bool = False
    interval_secs: float = 10.0
    rate: float | None = None
    """Events per second across all clients; None = one batch per client per interval."""
    duration_secs: float | None = None
    """None = until :meth:`Generator.stop`."""
    create_users: bool = False
    admin_credentials: Credentials | None = field(default=None, repr=False)
    user_pool_id: str = DEFAULT_USER_POOL_ID
    region: str = "local"
    seed: int | None = None
    max_in_flight: int = 256
    timeout_secs: float = 30.0
    refresh_margin_secs: float = 60.0

    def __post_init__(self) -> None:
        if not self.usernames:
            raise ValueError("The generator needs at least one user.")
        if not 1 <= self.batch <= 10:
            raise ValueError(f"batch must be 1 to 10 entries, not {self.batch}.")
        if self.rate is not None and not self.rate > 0:
            raise ValueError(f"rate must be a positive number of events per second, not "
                             f"{self.rate}.")
        if not self.interval_secs > 0:
            raise ValueError(f"interval_secs must be positive, not {self.interval_secs}.")

    @property
    def request_rate(self) -> float:
        """Requests per second across all clients."""
        if self.rate is not None:
            return self.rate / self.batch
        return len(self.usernames) / self.interval_secs


class Generator:
    """Runs one generator; :attr:`stats` holds the counts while it runs."""

    def __init__(self, options: GeneratorOptions, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        self.stats = Stats()
        self.clock = clock
        self._picker = EntryPicker(loyalty=options.loyalty, errors=options.errors,
                                   seed=options.seed)
        self._stop = asyncio.Event()
        self._started = 0.0
        self._finished: float | None = None
        self.sessions: list[Session] = []

    def stop(self) -> None:
        """Stop scheduling requests; the run returns once in-flight ones are answered."""
        self._stop.set()

    def elapsed(self) -> float:
        """Seconds since sending started (frozen once the run ends)."""
        end = self._finished if self._finished is not None else self.clock()
        return max(0.0, end - self._started) if self._started else 0.0

    def snapshot(self) -> Snapshot:
        """The counts now (for a progress display)."""
        return self.stats.snapshot(self.clock(), self.elapsed())

    async def run(self, *, on_progress: Callable[[Snapshot], None] | None = None,
                  progress_interval_secs: float = 0.5) -> dict[str, Any]:
        """Create and sign in the users, send on schedule, wait for answers; the summary.

        Raises:
            ClientError: the users cannot be created, or none of them can sign in.
        """
        opts = self.options
        limits = httpx.Limits(max_connections=opts.max_in_flight,
                              max_keepalive_connections=opts.max_in_flight)
        async with httpx.AsyncClient(timeout=opts.timeout_secs, limits=limits) as http:
            idp = CognitoClient(
                opts.endpoint_url, client_id=opts.client_id, user_pool_id=opts.user_pool_id,
                credentials=opts.admin_credentials, region=opts.region, http=http,
            )
            if opts.create_users:
                await self._create_users(idp)
            await self._sign_in_all(idp)
            ingest = IngestClient(opts.url, http)
            ticker = None
            if on_progress is not None:
                ticker = asyncio.create_task(self._tick(on_progress, progress_interval_secs))
            window = 0.0
            try:
                window = await self._send_on_schedule(ingest)
            finally:
                # The run lasted until the last answer, or to the end of the schedule's last
                # slot if that is later (then the rate is the one the schedule kept).
                self._finished = max(self.clock(), self._started + window)
                if ticker is not None:
                    ticker.cancel()
        return self.summary()

    def summary(self) -> dict[str, Any]:
        """The totals so far, with the run's settings."""
        opts = self.options
        result: dict[str, Any] = {
            "url": opts.url,
            "users": len(opts.usernames),
            "batch": opts.batch,
            "target_rate_per_sec": opts.rate,
            "interval_secs": None if opts.rate is not None else opts.interval_secs,
        }
        result.update(self.stats.summary(self.elapsed()))
        failed = [s.failed for s in self.sessions if s.failed]
        result["sign_in_errors"] = failed[:10]
        return result

    # -- users ---------------------------------------------------------------------------------

    async def _create_users(self, idp: CognitoClient) -> None:
        gate = asyncio.Semaphore(SIGN_IN_CONCURRENCY)
        opts = self.options

        async def create(name: str) -> None:
            async with gate:
                try:
                    await idp.sign_up(name, opts.password, email=f"{name}@example.com"
                                      if "@" not in name else None)
                except ClientError as exc:
                    if getattr(exc, "code", "") != "UsernameExistsException":
                        raise
                try:
                    await idp.admin("AdminConfirmSignUp", name)
                except ClientError as exc:
                    # Already confirmed (a second run with the same users) is fine.
                    if "Current status is CONFIRMED" not in str(exc):
                        raise

        await asyncio.gather(*(create(name) for name in opts.usernames))

    async def _sign_in_all(self, idp: CognitoClient) -> None:
        opts = self.options
        self.sessions = [
            Session(idp, name, opts.password, self.stats,
                    refresh_margin_secs=opts.refresh_margin_secs)
            for name in opts.usernames
        ]
        gate = asyncio.Semaphore(SIGN_IN_CONCURRENCY)

        async def sign_in(session: Session) -> None:
            async with gate:
                try:
                    await session.sign_in()
                except SignInFailed:
                    pass

        await asyncio.gather(*(sign_in(s) for s in self.sessions))
        failed = [s.failed for s in self.sessions if s.failed]
        if len(failed) == len(self.sessions):
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            hint = ("" if opts.create_users else
                    " Create the users first (`clientevents users sign-up`), or pass "
                    "--create-users with the admin key.")
            raise ClientError(f"No user could sign in: {failed[0]}{more}.{hint}")

    # -- sending -------------------------------------------------------------------------------

    async def _send_on_schedule(self, ingest: IngestClient) -> float:
        """Send on schedule; return the seconds the schedule covered (requests x period)."""
        opts = self.options
        period = 1.0 / opts.request_rate
        slots = asyncio.Semaphore(opts.max_in_flight)
        tasks: set[asyncio.Task[None]] = set()
        self._started = start = self.clock()
        end = None if opts.duration_secs is None else start + opts.duration_secs
        k = 0
        while not self._stop.is_set():
            intended = start + k * period
            if end is not None and intended >= end:
                break
            delay = intended - self.clock()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._stop.wait(), delay)
                    break
                except TimeoutError:
                    pass
            session = self.sessions[k % len(self.sessions)]
            k += 1
            await slots.acquire()
            task = asyncio.create_task(self._send(ingest, session, intended, slots))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        return k * period

    async def _send(self, ingest: IngestClient, session: Session, intended: float,
                    slots: asyncio.Semaphore) -> None:
        stats = self.stats
        stats.in_flight += 1
        try:
            picked = self._picker.pick(self.options.batch)
            if session.failed:
                stats.skipped += len(picked)
                return
            texts = [text for _, text in picked]
            try:
                token = await session.access_token()
                answer = await ingest.send(token, texts)
                if answer.status == 401:
                    answer = await ingest.send(await session.after_unauthorized(token), texts)
            except SignInFailed:
                stats.skipped += len(picked)
                return
            stats.sent_by_kind.update(kind for kind, _ in picked)
            now = self.clock()
            stats.record(now, len(texts), answer.accepted, answer.error_codes(), now - intended)
        finally:
            stats.in_flight -= 1
            slots.release()

    async def _tick(self, on_progress: Callable[[Snapshot], None], every: float) -> None:
        while True:
            on_progress(self.snapshot())
            await asyncio.sleep(every)

