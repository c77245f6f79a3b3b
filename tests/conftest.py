"""Shared fixtures: environment hygiene and real-service availability."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Helpers several test folders share (the recording HTTP server) are imported by name.
sys.path.insert(0, str(Path(__file__).parent / "support"))


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a local service is not listening, or fail when CLIENTEVENTS_REQUIRE_SERVICES=1."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError as exc:
        reason = f"{name} is not reachable on {host}:{port} ({exc})"
    if os.environ.get("CLIENTEVENTS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; CLIENTEVENTS_REQUIRE_SERVICES=1 makes that a failure.")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never see the developer's CLIENTEVENTS_* settings (the service flag excepted)."""
    for key in list(os.environ):
        if key.startswith("CLIENTEVENTS_") and key != "CLIENTEVENTS_REQUIRE_SERVICES":
            monkeypatch.delenv(key, raising=False)
    yield
