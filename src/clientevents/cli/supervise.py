"""``clientevents serve``'s worker process: started, watched, restarted when it dies, stopped.

The workers (router, dispatchers, archiver, replays) run in a child process, ``clientevents
worker``. If it exits while ``serve`` is not stopping (a crash, the out-of-memory killer, a
stray ``kill``), :class:`WorkerSupervisor` logs it and starts it again after a back-off: 1 s,
then twice as long after each death that follows a short run, at most 30 s; a run of a minute or
more starts the back-off afresh. Nothing is lost meanwhile: the gateway keeps accepting events
into the log, and the new worker routes them and reclaims the deliveries the dead one held
(:mod:`clientevents.targets.leases`).

The child knows it was started by ``serve`` from :data:`ENV_SERVE_PID`; on Linux it asks the
kernel to send it SIGTERM when ``serve`` dies, even by SIGKILL (:func:`die_with_parent`). The
request is made by the child itself, not in a pre-exec hook, so a worker can be started again
from the watching thread (a hook runs in a forked copy of a threaded process, which is unsafe).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "ENV_SERVE_PID",
    "WorkerSupervisor",
    "die_with_parent",
    "started_by_serve",
    "worker_command",
]

logger = logging.getLogger("clientevents.serve")

ENV_SERVE_PID = "CLIENTEVENTS_SERVE_PID"
"""Set in the worker's environment to the pid of the ``serve`` process that started it."""

_PR_SET_PDEATHSIG = 1

#: How long a worker's exit waits for serve's own stop before it counts as a death.
_STOP_RACE_SECS = 0.5


def started_by_serve() -> bool:
    """Whether this process is a worker that ``clientevents serve`` started."""
    return bool(os.environ.get(ENV_SERVE_PID))


def die_with_parent() -> None:
    """In a process ``serve`` started (the worker, the gateway): be sent SIGTERM when ``serve``
    dies (Linux only); both stop gracefully on it.

    If ``serve`` is already gone (it died between starting this process and this call), the
    SIGTERM is sent at once.
    """
    parent = os.environ.get(ENV_SERVE_PID)
    if not parent:
        return
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    except (OSError, AttributeError):
        return  # not Linux: the worker outlives a killed serve, as it did before
    if str(os.getppid()) != parent:
        os.kill(os.getpid(), signal.SIGTERM)


def worker_command(config_file: Path | None, data_path: Path) -> list[str]:
    """The command line of the worker process."""
    command = [sys.executable, "-m", "clientevents", "worker", "--data-dir", str(data_path)]
    if config_file is not None:
        command += ["--config", str(config_file)]
    return command


class WorkerSupervisor:
    """Runs one worker process and restarts it, with back-off, whenever it dies on its own.

    Args:
        command: the worker's command line.
        first_backoff_secs: the wait before the first restart.
        max_backoff_secs: the longest wait between restarts.
        stable_secs: a run at least this long resets the back-off.
        stop_grace_secs: how long :meth:`stop` waits after SIGTERM before SIGKILL.

    Example::

        supervisor = WorkerSupervisor(worker_command(None, Path("data")))
        supervisor.start()          # the first worker; a thread restarts it when it dies
        ...
        supervisor.stop()           # SIGTERM, then SIGKILL after the grace period
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        first_backoff_secs: float = 1.0,
        max_backoff_secs: float = 30.0,
        stable_secs: float = 60.0,
        stop_grace_secs: float = 30.0,
    ) -> None:
        self.command = list(command)
        self.env = dict(env or {})
        self.first_backoff_secs = first_backoff_secs
        self.max_backoff_secs = max_backoff_secs
        self.stable_secs = stable_secs
        self.stop_grace_secs = stop_grace_secs
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        """The running worker's pid."""
        proc = self._proc
        return None if proc is None else proc.pid

    def start(self) -> None:
        """Start the worker and the thread that restarts it."""
        with self._lock:
            self._proc = self._spawn()
        self._thread = threading.Thread(
            target=self._watch, daemon=True, name="clientevents-worker-watch"
        )
        self._thread.start()

    def stop(self) -> int | None:
        """Stop the worker (SIGTERM, then SIGKILL after the grace period); return its status."""
        with self._lock:
            self._stopping.set()
            proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self.stop_grace_secs)
            except subprocess.TimeoutExpired:
                logger.error("The worker process did not stop within %ss; killing it. pid=%d",
                             self.stop_grace_secs, proc.pid)
                proc.kill()
                proc.wait()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        return proc.returncode

    # -- internals ---------------------------------------------------------------------------

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, **self.env, ENV_SERVE_PID: str(os.getpid())}
        return subprocess.Popen(self.command, env=env)

    def _watch(self) -> None:
        backoff = self.first_backoff_secs
        while True:
            proc = self._proc
            assert proc is not None
            started = time.monotonic()
            code = proc.wait()
            # Ctrl-C in a terminal signals the whole process group: the worker may stop a moment
            # before serve starts stopping it. That is no death to report.
            if self._stopping.wait(_STOP_RACE_SECS):
                return
            if time.monotonic() - started >= self.stable_secs:
                backoff = self.first_backoff_secs
            logger.error(
                "The worker process exited with status %s; restarting it in %.0f s. pid=%d",
                code, backoff, proc.pid,
            )
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, self.max_backoff_secs)
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    self._proc = self._spawn()
                except OSError as exc:
                    logger.error("Could not start the worker process; retrying. error=%s", exc)
                    continue
                self.restarts += 1
            logger.warning("Restarted the worker process. pid=%d restarts=%d",
                           self._proc.pid, self.restarts)
