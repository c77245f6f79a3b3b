"""The blueprint's ticketing example end to end: ``clientevents serve``, a signed-in user, the
sample request, and the ticket arriving at a Zendesk-like server (or the built-in inbox)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_process import Newcomer, ServeProcess, sample_request
from recording_server import Answer, Call, RecordingServer, recording_server, zendesk

from clientevents.config.loader import STORAGE_ENVIRONMENT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path(__file__).resolve().parents[2] / "examples"  # the shared wire-format samples
EXPECTED_BODY = json.loads((SAMPLES / "zendesk-request-body.json").read_text())


def _wait(check: Callable[[], bool], secs: float = 30) -> None:
    deadline = time.monotonic() + secs
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def zendesk_server() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


def _send_sample(serve: ServeProcess, user: str) -> set[str]:
    token = Newcomer(serve.url, serve.data_dir).access_token(user)
    answer = httpx.post(f"{serve.url}/prod/event", json=sample_request(),
                        headers={"Authorization": token})
    assert answer.status_code == 200 and answer.json()["FailedEntryCount"] == 0
    return {e["EventId"] for e in answer.json()["Entries"]}


def _cli(*args: str, env: dict[str, str] | None = None, stdin: str = "") -> str:
    done = subprocess.run([sys.executable, "-m", "clientevents", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def _only_ticket(server: RecordingServer, ids: set[str]) -> Call:
    _wait(lambda: len(server.calls) >= 1)
    time.sleep(0.5)  # nothing else arrives: only the loyalty purchase matches
    [call] = server.calls
    assert call.headers["x-clientevents-event-id"] in ids
    return call


def test_the_embedded_default_sends_the_sample_ticket_to_the_ticketing_api(
    tmp_path: Path, zendesk_server: RecordingServer
) -> None:
    env = {"CLIENTEVENTS_TICKETS_URL": f"{zendesk_server.url}/api/v2/tickets.json",
           "CLIENTEVENTS_TICKETS_USER": "agent@example.com/token",
           "CLIENTEVENTS_TICKETS_TOKEN": "zendesk-api-token-123"}
    serve = ServeProcess(tmp_path / "data", env=env)
    serve.start()
    try:
        ids = _send_sample(serve, "ticket-user")
        call = _only_ticket(zendesk_server, ids)
    finally:
        serve.stop()
    assert (call.method, call.path) == ("POST", "/api/v2/tickets.json")
    assert call.json() == EXPECTED_BODY
    basic = base64.b64encode(b"agent@example.com/token:zendesk-api-token-123").decode()
    assert call.headers["authorization"] == f"Basic {basic}"
    assert call.headers["content-type"] == "application/json"
    assert call.headers["user-agent"].startswith("clientevents/")


def test_the_embedded_default_without_a_url_fills_the_built_in_inbox(tmp_path: Path) -> None:
    serve = ServeProcess(tmp_path / "data")
    serve.start()
    try:
        ids = _send_sample(serve, "inbox-user")

        def listed() -> list[dict[str, Any]]:
            tickets: list[dict[str, Any]] = httpx.get(f"{serve.url}/inbox/tickets").json()[
                "tickets"]
            return tickets

        _wait(lambda: len(listed()) >= 1)
        time.sleep(0.5)
        [ticket] = listed()
        states = _cli("connections", "list", "--json", "--data-dir",
                      str(serve.data_dir))
    finally:
        serve.stop()
    assert ticket["request"] == EXPECTED_BODY
    assert ticket["event_id"] in ids
    assert ticket["ticket"]["subject"] == "Loyalty customer purchase"
    assert ticket["ticket"]["description"] == "This customer has made a loyalty purchase"
    assert json.loads(states)[0]["state"] == "AUTHORIZED"
    # Stored durably: the ticket is still there after a restart.
    again = ServeProcess(tmp_path / "data")
    again.start()
    try:
        assert len(httpx.get(f"{again.url}/inbox/tickets").json()["tickets"]) == 1
    finally:
        again.stop()


SECRET_TOKEN = "zd-Known-Secret-7f3a9c"


def _echo_and_refuse(call: Call) -> Answer:
    """A receiver that answers 400 and echoes every request header in its error page."""
    if call.path == "/api/v2/tickets.json":
        return zendesk(call)
    echoed = f"bad credentials {call.headers.get('authorization')} in {json.dumps(call.headers)}"
    return 400, {"Content-Type": "text/plain"}, echoed.encode()


def test_the_example_reads_the_secret_store_and_no_output_shows_the_secret(
    tmp_path: Path,
) -> None:
    """The example's connection reads proto/zendesk; a session with a known secret never shows
    it: not in the logs, access log, dead letters, metrics, CLI output or HTTP answers."""
    data = tmp_path / "data"
    example = ROOT / "examples" / "blueprint.yaml"
    # The commands see none of the ticketing variables serve gets, but the same storage (under
    # the backend switch, CLIENTEVENTS_STORAGE names the test's schema and streams).
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("CLIENTEVENTS_") or k == STORAGE_ENVIRONMENT}
    secret = json.dumps({"username": "agent@example.com/token", "apiToken": SECRET_TOKEN})
    outputs = [_cli("secrets", "set", "proto/zendesk", "--data-dir", str(data),
                    env=base, stdin=secret)]
    basic = base64.b64encode(f"agent@example.com/token:{SECRET_TOKEN}".encode()).decode()
    with recording_server(_echo_and_refuse) as server:
        # First a receiver that refuses and echoes the credentials: dead letters.
        env = {"CLIENTEVENTS_TICKETS_URL": f"{server.url}/refuse"}
        serve = ServeProcess(data, config=example, env=env)
        serve.start()
        try:
            ids = _send_sample(serve, "secret-user")
            _wait(lambda: len(server.calls) >= 1)
            _wait(lambda: "Deliveries dead-lettered" in serve.log.read_text())
            outputs.append(httpx.get(f"{serve.url}/metrics").text)
            outputs.append(httpx.get(f"{serve.url}/inbox/tickets").text)
            admin = ["--endpoint-url", serve.url, "--data-dir", str(data)]
            outputs.append(_cli("dlq", "list", "--json", *admin, env=base))
            outputs.append(_cli("dlq", "show", "1", *admin, env=base))
        finally:
            serve.stop()
        outputs += [serve.log.read_text(), "".join(serve.output)]
        refused = server.calls[0]
        assert refused.headers["authorization"] == f"Basic {basic}"
        assert refused.headers["x-clientevents-event-id"] in ids
        # Then the ticketing API: the redriven dead letter arrives.
        serve = ServeProcess(data, config=example,
                             env={"CLIENTEVENTS_TICKETS_URL": f"{server.url}/api/v2/tickets.json"})
        serve.start()
        try:
            outputs.append(_cli("dlq", "redrive", "--all", "--endpoint-url", serve.url,
                                "--data-dir", str(data), env=base))
            _wait(lambda: any(c.path == "/api/v2/tickets.json" for c in server.calls))
        finally:
            serve.stop()
        outputs += [serve.log.read_text(), "".join(serve.output)]
    delivered = [c for c in server.calls if c.path == "/api/v2/tickets.json"]
    assert [c.json() for c in delivered] == [EXPECTED_BODY]
    assert delivered[0].headers["authorization"] == f"Basic {basic}"
    for args in (["connections", "list"], ["connections", "describe", "zendesk"],
                 ["connections", "describe", "zendesk", "--json"],
                 ["secrets", "list"], ["secrets", "get", "proto/zendesk"],
                 ["secrets", "get", "proto/zendesk", "--json"]):
        outputs.append(_cli(*args, "--data-dir", str(data), "--config", str(example),
                            env=base))
    outputs.append(_cli("validate", str(example), env=base))
    session = "\n".join(outputs)
    assert "DEAUTHORIZED" not in session and "AUTHORIZED" in session
    assert "HTTP400" in session and "***" in session  # the dead letter was there, masked
    for leaked in (SECRET_TOKEN, basic):
        assert leaked not in session
    for path in data.rglob("*"):
        if path.is_file() and path.suffix in (".log", ".jsonl", ".json", ".txt"):
            assert SECRET_TOKEN not in path.read_text(errors="replace"), path
