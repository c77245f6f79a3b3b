"""A test's own NATS server (JetStream) and its own PostgreSQL cluster, to kill and restart.

The machine's shared services (PostgreSQL on 5432, NATS on 4222) are never touched: each
server here listens on a free loopback port and keeps its data in a temporary folder of its
own, and :meth:`kill` / :meth:`start` stop it the hard way (SIGKILL of its whole process group,
as a crash) and start it again on the same port and data.

PostgreSQL refuses to run as root (``initdb`` and ``postgres`` both say so): as root, the
cluster is made and run as the ``postgres`` user (or ``nobody``) through ``setpriv``, in a
folder under ``/tmp`` that user owns (pytest's own temporary folders are private to root).
When that is impossible, :func:`pg_unavailable` says why, for a skip.

Imported by name by the end-to-end tests (pytest puts this folder on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

NATS_SERVER = os.environ.get("CLIENTEVENTS_NATS_SERVER", "/usr/sbin/nats-server")
PG_BIN = Path(os.environ.get("CLIENTEVENTS_PG_BIN", "/usr/local/bin"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {timeout} s")
        time.sleep(0.05)


class _Server:
    """A server process in its own session, killed with its children."""

    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def _command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> None:
        """Start (again) on the same port and data; return once it accepts connections."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self._command(), stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        _wait(lambda: _listening(self.port) or self.proc.poll() is not None,  # type: ignore[union-attr]
              timeout, f"{type(self).__name__} did not listen on {self.port}")
        if self.proc.poll() is not None:
            raise RuntimeError(f"{type(self).__name__} exited; see {self.log}:\n"
                               + self.log.read_text()[-2000:])

    def kill(self) -> None:
        """SIGKILL the server and its children, as a crash would."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        _wait(lambda: not _listening(self.port), 10, "the port was not freed")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class NatsServer(_Server):
    """``nats-server -js`` on a free port with its store in ``root``."""

    def __init__(self, root: Path, *, extra: tuple[str, ...] = ()) -> None:
        self.root = root
        self.store = root / "jetstream"
        self.store.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = root / "nats-server.log"
        self.extra = extra

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def _command(self) -> list[str]:
        return [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(self.port),
                "-sd", str(self.store), *self.extra]


def nats_unavailable() -> str | None:
    """Why a test's own NATS server cannot run here, or None."""
    if not Path(NATS_SERVER).exists():
        return f"{NATS_SERVER} is not installed (set CLIENTEVENTS_NATS_SERVER)"
    return None


def _pg_user() -> str | None:
    """The user the cluster runs as: None for this one (not root), else postgres/nobody."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise LookupError("no postgres or nobody user to run PostgreSQL as")


def pg_unavailable() -> str | None:
    """Why a test's own PostgreSQL cluster cannot run here, or None."""
    for tool in ("initdb", "postgres"):
        if not (PG_BIN / tool).exists():
            return f"{PG_BIN / tool} is not installed (set CLIENTEVENTS_PG_BIN)"
    if os.geteuid() == 0:
        try:
            _pg_user()
        except LookupError as exc:
            return f"running as root, and {exc}"
        if shutil.which("setpriv") is None:
            return "running as root, and setpriv (to run PostgreSQL as another user) is missing"
    return None


class PgCluster(_Server):
    """A PostgreSQL cluster made with ``initdb`` in a temporary folder, trust authentication,
    listening on 127.0.0.1 on a free port (its socket in the same folder)."""

    def __init__(self, log_dir: Path) -> None:
        self.user = _pg_user()
        self.root = Path(tempfile.mkdtemp(prefix="clientevents-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.log = log_dir / "postgres.log"
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._as_user([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                       "--auth=trust", "--no-sync", "-E", "UTF8"])

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _prefix(self) -> list[str]:
        # setpriv executes the command in its own place (runuser would fork and stay its
        # parent): the postmaster is then this test's child, killed and reaped directly.
        if self.user is None:
            return []
        return ["setpriv", f"--reuid={self.user}", f"--regid={self.user}", "--init-groups",
                "--"]

    def _as_user(self, command: list[str]) -> None:
        done = subprocess.run([*self._prefix(), *command], capture_output=True, text=True,
                              timeout=120, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stdout}{done.stderr}")

    def _command(self) -> list[str]:
        # fsync on: a kill must not lose a commit the server acknowledged.
        return [*self._prefix(), str(PG_BIN / "postgres"), "-D", str(self.data),
                "-p", str(self.port), "-k", str(self.root), "-c", "listen_addresses=127.0.0.1",
                "-c", "fsync=on", "-c", "max_connections=100", "-c", "shared_buffers=32MB"]

    def start(self, timeout: float = 60.0) -> None:
        super().start(timeout)
        # Listening is not accepting: wait until a connection is served (after crash recovery).
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.dsn, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline or not self.running:
                    raise
                time.sleep(0.1)

    def remove(self) -> None:
        """Kill the server and delete its folder."""
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)
