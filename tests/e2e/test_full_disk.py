"""A full disk under ``clientevents serve``: 503 with Retry-After, not ready, quiet logs, recovery.

The disk fills up for real as far as the processes can tell: their file-size limit
(``RLIMIT_FSIZE``, changed from outside with ``prlimit``) is set to one byte, so every write that
would grow a file fails (``EFBIG``, which SQLite reports as an I/O error), as it does on a full
disk. Then the limit is lifted, as when space is freed.
"""

from __future__ import annotations

import collections
import resource
import time
from pathlib import Path

import httpx
import pytest
from gateway_process import PASSWORD, Newcomer, ServeProcess, lake_events, sample_request
from store_helpers import TEST_BACKEND

from clientevents.config.identity import DEFAULT_CLIENT_ID

pytestmark = [
    pytest.mark.integration, pytest.mark.slow,
    pytest.mark.skipif(TEST_BACKEND != "embedded", reason=(
        "about the local disk filling under the embedded store and event log: under the "
        "backend switch the state and the events are written to PostgreSQL and JetStream, "
        "which a file-size limit on the processes does not reach")),
]

REQUESTS_DURING_OUTAGE = 50


def _set_file_size_limit(pids: set[int], limit: int) -> None:
    for pid in pids:
        _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, hard))


def _wait_for_delivery(server: ServeProcess, ids: set[str]) -> None:
    deadline = time.monotonic() + 30
    while not ids <= {e["id"] for e in lake_events(server.data_dir)}:
        assert time.monotonic() < deadline, "accepted events were not delivered"
        time.sleep(0.1)


def _post(server: ServeProcess, token: str) -> httpx.Response:
    return httpx.post(f"{server.url}/prod/event", json=sample_request(),
                      headers={"Authorization": token}, timeout=10)


def test_a_full_disk_is_a_503_and_not_ready_until_space_returns(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path / "data")
    server.start()
    try:
        token = Newcomer(server.url, server.data_dir).access_token("disk-filler")
        before = _post(server, token)
        assert before.status_code == 200
        accepted = {e["EventId"] for e in before.json()["Entries"]}
        _wait_for_delivery(server, accepted)  # (a failed delivery would wait out its backoff)
        processes = server.children()  # the gateway and the worker
        assert len(processes) == 2

        # When the disk is full
        _set_file_size_limit(processes, 1)
        filled = time.monotonic()
        answers = [_post(server, token) for _ in range(REQUESTS_DURING_OUTAGE)]
        ready = httpx.get(f"{server.url}/ready", timeout=10)
        # a route other than ingest that must write (a sign-up) is refused the same way
        sign_up = httpx.post(
            server.url + "/",
            headers={"X-Amz-Target": "AWSCognitoIdentityProviderService.SignUp",
                     "Content-Type": "application/x-amz-json-1.1"},
            json={"ClientId": DEFAULT_CLIENT_ID, "Username": "during-outage",
                  "Password": PASSWORD,
                  "UserAttributes": [{"Name": "email", "Value": "o@example.com"}]},
            timeout=10)

        # I expect every request refused as a whole, with Retry-After, naming no path
        assert {a.status_code for a in answers} == {503}
        first = answers[0]
        assert first.headers["Retry-After"] == "5"
        assert "nothing was accepted" in first.json()["message"]
        for text in (first.text, ready.text):
            assert str(server.data_dir) not in text and "clientevents.db" not in text
        # and the gateway not ready
        assert ready.status_code == 503
        assert ready.json()["status"] == "not ready"
        assert "cannot write" in ready.json()["message"]
        # naming the backend and the error
        assert ready.json()["backend"] == "store"
        assert "I/O" in ready.json()["error"] or "full" in ready.json()["error"]
        assert ready.headers["Retry-After"] == "5"
        assert sign_up.status_code == 503, sign_up.text
        assert sign_up.headers["Retry-After"] == "5"
        assert str(server.data_dir) not in sign_up.text
        time.sleep(1.0)  # the workers fail meanwhile too
        # and the log holding a line, not a line per request
        log = server.log.read_text()
        assert 1 <= log.count("Appending to the event log failed.") <= 3
        # each kind of error (logger and message, per target) once, then once every 10 s
        errors = collections.Counter(
            line.split(" ERROR ")[1].split(" (and ")[0].split(" error=")[0]
            for line in log.splitlines() if " ERROR " in line)
        outage_secs = time.monotonic() - filled
        assert errors and max(errors.values()) <= 2 + outage_secs / 10, (errors, outage_secs)

        # When space is freed, I expect readiness and ingestion back with no restart
        _set_file_size_limit(processes, resource.RLIM_INFINITY)
        deadline = time.monotonic() + 30
        while httpx.get(f"{server.url}/ready", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the gateway did not become ready again"
            time.sleep(0.2)
        after = _post(server, token)
        assert after.status_code == 200 and after.json()["FailedEntryCount"] == 0
        # and the events accepted after it delivered
        _wait_for_delivery(server, {e["EventId"] for e in after.json()["Entries"]})
    finally:
        assert server.stop() == 0
