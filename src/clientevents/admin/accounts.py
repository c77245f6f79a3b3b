"""Console accounts, their sessions, and one-time sign-in links.

Four tables, owned here:

``console_users``
    Operators who may sign in to the console: a username (case-insensitive), an Argon2id
    password hash made exactly like the user pool's (:class:`PasswordHasher`) and a role. (Its
    ``failed_logins``, ``last_failed_at`` and ``locked_until`` columns are no longer used.)
``console_sign_in_failures``
    Failed sign-ins and the lock they earned, per lower-cased username, known or not: the user
    pool's rule and code (:mod:`clientevents.identity.lockout`). A sign-in claims its attempt
    here before the password is checked, so concurrent guesses cannot exceed the allowance.
``console_sessions``
    One row per signed-in browser: the SHA-256 of the session token (the cookie holds the
    token; the database never does), the CSRF token the page must echo on state-changing
    calls, the expiry and how the session began (``password`` or ``link``).
``console_links``
    One-time sign-in links (SHA-256 of the token, expiry, when used). A link is used at most
    once: the row is marked in the same write that creates the session.

Roles: ``viewer`` reads everything; ``admin`` may also change things (redrive, purge, start and
cancel replays, disable users...). A session from a sign-in link is an ``admin`` session. The role
is read from ``console_users`` at every request, so removing an account or changing its role
takes effect at once, in every process.

Example::

    accounts = ConsoleAccounts(db, session_ttl_secs=43200)
    accounts.add_user("ops", "a long passphrase", role="admin")
    started = accounts.sign_in("ops", "a long passphrase")    # cookie value: started.token
    accounts.session(started.token).role                       # "admin"
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from clientevents.admin.errors import BadRequest, NotSignedIn, TooManyAttempts
from clientevents.identity import lockout
from clientevents.identity.passwords import PasswordHasher
from clientevents.store.engine import register_schema
from clientevents.store.port import SqlConnection, StateStore

__all__ = [
    "ACCOUNTS_SCHEMA",
    "LINK_ACTOR",
    "MIN_PASSWORD_CHARS",
    "ROLES",
    "ConsoleAccounts",
    "ConsoleUser",
    "NewSession",
    "Role",
    "Session",
]

Role = Literal["viewer", "admin"]
ROLES: Final[tuple[Role, ...]] = ("viewer", "admin")
"""Console roles, least rights first."""

MIN_PASSWORD_CHARS: Final = 10
MAX_PASSWORD_CHARS: Final = 256
LINK_ACTOR: Final = "sign-in-link"
"""The actor name of a session started with a one-time link (audit log, ``whoami``)."""

_USERNAME = re.compile(r"^[A-Za-z0-9_.@+-]{1,64}$")

ACCOUNTS_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS console_users (
    username TEXT PRIMARY KEY COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    last_failed_at REAL,
    locked_until REAL
);
CREATE TABLE IF NOT EXISTS console_sessions (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    via TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS console_links (
    token_hash TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL
);
CREATE TABLE IF NOT EXISTS console_sign_in_failures (""" + lockout.FAILURES_COLUMNS + """);
"""

FAILURES: Final = "console_sign_in_failures"

register_schema("admin.accounts", ACCOUNTS_SCHEMA)


def _key(username: str) -> str:
    """The lockout key of a console username (usernames are case-insensitive; a name longer
    than any account's is cut, so a guess cannot store a large key)."""
    return username.lower()[:128]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """A console account as listed (never with its hash)."""

    username: str
    role: str
    created_at: float
    updated_at: float
    locked_until: float | None


@dataclass(frozen=True, slots=True)
class Session:
    """A live console session: who, with which rights, and its CSRF token."""

    username: str
    role: Role
    via: str
    csrf_token: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just started: ``token`` goes into the cookie and nowhere else."""

    token: str
    session: Session


class ConsoleAccounts:
    """Console accounts, sessions and sign-in links over the shared database.

    Args:
        db: the shared database.
        session_ttl_secs: how long a session lasts after sign-in.
        hasher: the password hasher (the user pool's parameters by default).
        clock: the time source (epoch seconds).
    """

    def __init__(
        self,
        db: StateStore,
        *,
        session_ttl_secs: float = 43_200.0,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        db.ensure_schema(ACCOUNTS_SCHEMA)
        self.db = db
        self.session_ttl_secs = session_ttl_secs
        self._hasher = hasher
        self.clock = clock

    @property
    def hasher(self) -> PasswordHasher:
        # Built on first use: it hashes a decoy password, which costs a few milliseconds.
        if self._hasher is None:
            self._hasher = PasswordHasher()
        return self._hasher

    # -- accounts ----------------------------------------------------------------------------

    def add_user(self, username: str, password: str, role: str, *, replace: bool = False) -> None:
        """Create console account ``username`` (or, with ``replace``, set its password and role).

        Raises:
            BadRequest: a bad username, password or role, or the account exists without
                ``replace``.
        """
        if not _USERNAME.match(username):
            raise BadRequest(
                f"Console username {username[:80]!r} is not valid: use 1 to 64 letters, digits "
                "or '_.@+-'."
            )
        if role not in ROLES:
            raise BadRequest(f"Role {role!r} is not a console role; use one of {', '.join(ROLES)}.")
        if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
            raise BadRequest(
                f"The password of console user {username!r} must have {MIN_PASSWORD_CHARS} to "
                f"{MAX_PASSWORD_CHARS} characters; it has {len(password)}."
            )
        encoded = self.hasher.hash(password)
        now = self.clock()

        def write(conn: SqlConnection) -> None:
            exists = conn.execute(
                "SELECT 1 FROM console_users WHERE username = ?", (username,)
            ).fetchone()
            if exists and not replace:
                raise BadRequest(
                    f"Console user {username!r} exists already; pass replace (--update on the "
                    "command line) to set a new password and role."
                )
            conn.execute(
                "INSERT INTO console_users (username, password_hash, role, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (username) DO UPDATE SET "
                "password_hash = excluded.password_hash, role = excluded.role, "
                "updated_at = excluded.updated_at",
                (username, encoded, role, now, now),
            )
            lockout.forgive(conn, _key(username), table=FAILURES)
            # A new password ends the account's sessions.
            conn.execute("DELETE FROM console_sessions WHERE username = ? AND via = 'password'",
                         (username,))

        self.db.write(write)

    def remove_user(self, username: str) -> bool:
        """Delete console account ``username`` and its sessions; ``False`` if there was none."""

        def write(conn: SqlConnection) -> bool:
            conn.execute("DELETE FROM console_sessions WHERE username = ? AND via = 'password'",
                         (username,))
            cur = conn.execute("DELETE FROM console_users WHERE username = ?", (username,))
            return cur.rowcount == 1

        return bool(self.db.write(write))

    def list_users(self) -> list[ConsoleUser]:
        """Every console account, by username."""
        rows = self.db.read(lambda conn: conn.execute(
            "SELECT u.username, u.role, u.created_at, u.updated_at, f.locked_until "
            f"FROM console_users u LEFT JOIN {FAILURES} f ON f.username_key = lower(u.username) "
            "ORDER BY u.username"
        ).fetchall())
        return [ConsoleUser(*row) for row in rows]

    # -- signing in --------------------------------------------------------------------------

    def sign_in(self, username: str, password: str) -> NewSession:
        """Check ``password`` and start a session.

        The attempt is claimed (counted as a failure, see :mod:`clientevents.identity.lockout`)
        before the password is checked, and forgiven when it is right, so however many
        sign-ins arrive at once no more passwords are checked than the lockout allows. Unknown
        usernames are counted and locked like accounts.

        Raises:
            NotSignedIn: unknown user or wrong password (the same answer for both).
            TooManyAttempts: the username is locked after repeated failures.
        """
        now = self.clock()
        key = _key(username)

        def claim(conn: SqlConnection) -> float | None:
            if lockout.claim(conn, key, now, table=FAILURES):
                return None
            found = lockout.state(conn, key, table=FAILURES)
            return max(0.0, (found.locked_until or now) - now) if found else 0.0

        wait = self.db.write(claim)
        if wait is not None:
            raise TooManyAttempts(
                f"Console user {username[:80]!r} is locked after repeated failed sign-ins; try "
                f"again in {max(1.0, wait):.0f} s.",
                retry_after_secs=wait,
            )
        row = self.db.read(lambda conn: conn.execute(
            "SELECT username, password_hash FROM console_users WHERE username = ?", (username,),
        ).fetchone())
        verified = self.hasher.verify(None if row is None else row[1], password)
        if row is None or not verified:
            raise NotSignedIn("The console username or password is wrong.")
        name = str(row[0])

        def start(conn: SqlConnection) -> NewSession:
            lockout.forgive(conn, key, table=FAILURES)
            return self._start(conn, name, "password", now)

        return self.db.write(start)

    def create_link(self, ttl_secs: float) -> str:
        """A new one-time sign-in token, usable for ``ttl_secs`` (the caller builds the URL)."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        self.db.write(lambda conn: conn.execute(
            "INSERT INTO console_links (token_hash, created_at, expires_at) VALUES (?, ?, ?)",
            (_digest(token), now, now + ttl_secs),
        ))
        return token

    def sign_in_with_link(self, token: str) -> NewSession:
        """Use a one-time link: start an ``admin`` session and spend the link.

        Raises:
            NotSignedIn: the link is unknown, used or expired.
        """
        now = self.clock()
        digest = _digest(token)

        def write(conn: SqlConnection) -> NewSession:
            cur = conn.execute(
                "UPDATE console_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL "
                "AND expires_at > ?",
                (now, digest, now),
            )
            if cur.rowcount != 1:
                raise NotSignedIn(
                    "This sign-in link is not valid: it was used already, it expired, or it "
                    "was never issued. Restart `clientevents serve` or run `clientevents "
                    "console sign-in-link` for a new one."
                )
            conn.execute("DELETE FROM console_links WHERE expires_at < ?", (now - 86_400,))
            return self._start(conn, LINK_ACTOR, "link", now)

        return self.db.write(write)

    def _start(self, conn: SqlConnection, username: str, via: str, now: float) -> NewSession:
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        expires = now + self.session_ttl_secs
        conn.execute(
            "INSERT INTO console_sessions (token_hash, username, via, csrf_token, created_at, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            (_digest(token), username, via, csrf, now, expires),
        )
        conn.execute("DELETE FROM console_sessions WHERE expires_at < ?", (now,))
        role: Role = "admin"
        if via == "password":
            (stored,) = conn.execute(
                "SELECT role FROM console_users WHERE username = ?", (username,)
            ).fetchone()
            role = "admin" if stored == "admin" else "viewer"
        return NewSession(token, Session(username, role, via, csrf, expires))

    # -- sessions ----------------------------------------------------------------------------

    def session(self, token: str) -> Session | None:
        """The live session of cookie value ``token``, or ``None`` (unknown or expired)."""
        if not token or len(token) > 200:
            return None
        row = self.db.read(lambda conn: conn.execute(
            "SELECT s.username, s.via, s.csrf_token, s.expires_at, u.role "
            "FROM console_sessions s LEFT JOIN console_users u ON u.username = s.username "
            "WHERE s.token_hash = ?",
            (_digest(token),),
        ).fetchone())
        if row is None or row[3] <= self.clock():
            return None
        username, via, csrf, expires, stored_role = row
        if via == "link":
            role: Role = "admin"
        elif stored_role is None:
            return None  # the account was removed
        else:
            role = "admin" if stored_role == "admin" else "viewer"
        return Session(username, role, via, csrf, expires)

    def sign_out(self, token: str) -> None:
        """End the session of cookie value ``token`` (nothing happens if there is none)."""
        digest = _digest(token)
        self.db.write(lambda conn: conn.execute(
            "DELETE FROM console_sessions WHERE token_hash = ?", (digest,)
        ))
