"""``clientevents serve`` as a subprocess on a free loopback port, and a newcomer's client.

Shared by the end-to-end tests (imported by name: pytest puts this folder on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import httpx

from clientevents.config.identity import DEFAULT_CLIENT_ID

#: The sample request the repository ships (five entries, one per event type).
SAMPLE_REQUEST = Path(__file__).resolve().parents[2] / "examples" / "ingest-request.json"
MALFORMED_ENTRY = {
    "entry": '{"eventType": "shopping", "schemaVersion":1, "data": {"itemSku":123}}}'
}
PASSWORD = "Passw0rd!-e2e"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServeProcess:
    """``clientevents serve`` in its own process group (so the workers can be killed with it).

    It inherits the test's environment (``env`` added): under the backend switch,
    ``CLIENTEVENTS_STORAGE`` puts it on the test's PostgreSQL schema and JetStream streams."""

    def __init__(self, data_dir: Path, *, port: int | None = None,
                 config: Path | None = None, args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None) -> None:
        self.args = args
        self.env = env or {}
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = config
        self.proc: subprocess.Popen[str] | None = None
        self.log = data_dir.parent / f"serve-{self.port}.log"
        self._log_file: Any = None
        self._reader = threading.Thread()
        self._copier = threading.Thread()

    def start(self) -> str:
        """Start and wait until ``/ready`` answers; return what the command printed."""
        command = [sys.executable, "-m", "clientevents", "serve", "--port", str(self.port),
                   "--data-dir", str(self.data_dir)]
        if self.config is not None:
            command += ["--config", str(self.config)]
        command += self.args
        self._log_file = open(self.log, "a")  # noqa: SIM115 - closed with the process
        # Standard error goes through a pipe, copied to the log file by this process: the
        # server's writes then never depend on the disk (a test may fill it for the server).
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True,
                                     env={**os.environ, **self.env})
        self._copier = threading.Thread(target=self._copy_stderr, daemon=True)
        self._copier.start()
        self.banner = ""
        banner: list[str] = []
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            banner.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not become ready; see {self.log}")
            time.sleep(0.1)
        while "Workers started." not in self.log.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the workers did not start; see {self.log}")
            time.sleep(0.1)
        self.banner = "".join(banner)
        # Keep reading standard output (the access log): a full pipe would stall the server.
        self.output: list[str] = []
        stdout = self.proc.stdout
        self._reader = threading.Thread(target=lambda: self.output.extend(stdout), daemon=True)
        self._reader.start()
        return self.banner

    @property
    def pid(self) -> int:
        """The ``serve`` process's pid."""
        assert self.proc is not None
        return self.proc.pid

    def children(self) -> set[int]:
        """The pids of the ``serve`` process's children (the gateway and the worker; Linux)."""
        found: set[int] = set()
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            found.update(int(c) for c in (task / "children").read_text().split())
        return found

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the command (SIGTERM: clean stop) and wait; return its exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=60)
        finally:
            self._drain()

    def kill_all(self) -> None:
        """SIGKILL the gateway and its workers at once, as a power cut would."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._drain()

    def _copy_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self._log_file.write(line)
            self._log_file.flush()

    def _drain(self) -> None:
        # A pipe is closed only once its reader has seen its end: closing it under a blocked
        # reader would wait for ever if a child of serve outlived it and holds it open.
        assert self.proc is not None
        for thread, pipe in ((self._copier, self.proc.stderr), (self._reader, self.proc.stdout)):
            thread.join(timeout=10)
            if pipe is not None and not thread.is_alive():
                pipe.close()
        if not self._copier.is_alive():
            self._log_file.close()


class Newcomer:
    """What a new user does: sign up, read the code in the data folder, confirm, sign in."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.url = url
        self.data_dir = data_dir
        self.cognito = boto3.client("cognito-idp", endpoint_url=url, region_name="local",
                                    aws_access_key_id="none", aws_secret_access_key="none")

    def code(self, username: str) -> str:
        path = self.data_dir / "codes" / "messages.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()]
        codes = [r["code"] for r in records if r["username"] == username]
        assert codes, f"no code for {username} in {path}"
        code: str = codes[-1]
        return code

    def access_token(self, username: str) -> str:
        self.cognito.sign_up(ClientId=DEFAULT_CLIENT_ID, Username=username, Password=PASSWORD,
                             UserAttributes=[{"Name": "email",
                                              "Value": f"{username}@example.com"}])
        self.cognito.confirm_sign_up(ClientId=DEFAULT_CLIENT_ID, Username=username,
                                     ConfirmationCode=self.code(username))
        answer = self.cognito.initiate_auth(
            ClientId=DEFAULT_CLIENT_ID, AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
        token: str = answer["AuthenticationResult"]["AccessToken"]
        return token


def sample_request() -> dict[str, Any]:
    """A fresh copy of the sample request (five entries, one per event type)."""
    body: dict[str, Any] = json.loads(SAMPLE_REQUEST.read_text())
    return body


def lake_objects(data_dir: Path) -> list[Path]:
    """The default pipeline's data objects under ``lake/`` (not its error output)."""
    root = data_dir / "lake"
    if not root.exists():
        return []
    return sorted(
        path for path in root.rglob("*")
        if path.is_file() and not path.relative_to(root).parts[0].startswith(("_", "."))
    )


def lake_events(data_dir: Path) -> list[dict[str, Any]]:
    """Every record of the default pipeline's lake objects, parsed (an object is written whole:
    no line is ever torn)."""
    events = []
    for path in lake_objects(data_dir):
        for line in path.read_text().splitlines():
            events.append(json.loads(line))
    return events
