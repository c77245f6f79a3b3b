"""The newcomer's path, end to end, against ``clientevents serve`` on the embedded default."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_process import (
    MALFORMED_ENTRY,
    Newcomer,
    ServeProcess,
    lake_events,
    lake_objects,
    sample_request,
)
from store_helpers import TEST_BACKEND

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STORED_RECORD = Path(__file__).resolve().parents[2] / "examples" / "stored-record.json"
LAYOUT = {"shopping/1", "searching/1", "paging/2", "purchase/2", "loyaltypurchase/2"}


def _stored_record_sample() -> dict[str, Any]:
    """The stored-record sample: the loyaltypurchase event as the lake stores it."""
    record: dict[str, Any] = json.loads(STORED_RECORD.read_text().splitlines()[0])
    return record


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    """A started ``clientevents serve`` on the embedded default, stopped after the test."""
    server = ServeProcess(tmp_path / "data")
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()


def _wait_for_lake(server: ServeProcess, ids: set[str]) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + 30
    found: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        found = {e["id"]: e for e in lake_events(server.data_dir) if e["id"] in ids}
        if len(found) == len(ids):
            break
        time.sleep(0.2)
    return found


def _wait_for_tickets(server: ServeProcess, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    tickets: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        tickets = httpx.get(f"{server.url}/inbox/tickets").json()["tickets"]
        if len(tickets) >= count:
            break
        time.sleep(0.2)
    return tickets


def test_sign_up_sign_in_send_the_sample_and_find_it_in_the_lake(serve: ServeProcess) -> None:
    banner = serve.banner
    # The start prints the URL, the fixed pool and app client ids and the generated admin key.
    assert f"serving {serve.url}" in banner
    assert "user pool id    local_clientevents" in banner
    assert "app client id   clientevents-local-app" in banner
    assert "admin key id" in banner and "admin secret" in banner

    newcomer = Newcomer(serve.url, serve.data_dir)
    token = newcomer.access_token("newcomer")
    claims_client_id = None

    response = httpx.post(f"{serve.url}/prod/event", json=sample_request(),
                          headers={"Authorization": token})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["FailedEntryCount"] == 0
    assert len(answer["Entries"]) == 5
    ids = {e["EventId"] for e in answer["Entries"]}
    assert len(ids) == 5

    body = sample_request()
    body["entries"].append(MALFORMED_ENTRY)
    response = httpx.post(f"{serve.url}/prod/event", json=body,
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    second = response.json()
    assert second["FailedEntryCount"] == 1
    assert second["Entries"][5]["ErrorCode"] == "MalformedDetail"
    accepted = {e["EventId"] for e in second["Entries"][:5]}
    assert all(accepted)

    # Under the production server too, a body over 1 MiB is refused while it streams in.
    def big_body() -> Iterator[bytes]:
        yield b'{"entries": [{"entry": "'
        for _ in range(40):
            yield b"y" * 32768
        yield b'"}]}'

    response = httpx.post(f"{serve.url}/prod/event", content=big_body(),
                          headers={"Authorization": token, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert "1048576" in response.json()["message"]

    found = _wait_for_lake(serve, ids | accepted)
    assert set(found) == ids | accepted
    for event in found.values():
        assert event["source"] == "clientevents"
        assert event["detail-type"] == "prod"
        claims_client_id = claims_client_id or event["detail"]["accountNumber"]
        assert event["detail"]["accountNumber"] == claims_client_id
    types = sorted(e["detail"]["eventType"] for e in found.values() if e["id"] in ids)
    assert types == ["loyaltypurchase", "paging", "purchase", "searching", "shopping"]
    # The blueprint's transform moved the clientId into detail.accountNumber.
    assert all(e["resources"] == [] for e in found.values())
    client_ids = {e["detail"]["accountNumber"] for e in found.values()}
    assert len(client_ids) == 1
    [client_id] = client_ids
    # Objects in the blueprint's layout: lake/<eventType>/<schemaVersion>/<object>.
    root = serve.data_dir / "lake"
    folders = {path.parent.relative_to(root).as_posix() for path in lake_objects(serve.data_dir)}
    assert folders == LAYOUT
    for path in lake_objects(serve.data_dir):
        assert path.name.startswith("client_events_lake-1-")
        event_type, version = path.parent.relative_to(root).parts
        for line in path.read_text().splitlines():
            record = json.loads(line)
            assert (record["detail"]["eventType"], str(record["detail"]["schemaVersion"])) == (
                event_type, version)
    # Each line is the stored-record sample, but for the event's id, time and clientId.
    sample = _stored_record_sample()
    loyalty = next(e for e in found.values()
                   if e["id"] in ids and e["detail"]["eventType"] == "loyaltypurchase")
    line = {**loyalty, "id": sample["id"], "time": sample["time"]}
    line["detail"] = {**loyalty["detail"], "accountNumber": sample["detail"]["accountNumber"]}
    assert line == sample
    assert list(line) == list(sample) and list(line["detail"]) == list(sample["detail"])
    text = next(t for p in lake_objects(serve.data_dir) if "loyaltypurchase" in p.parts
                for t in p.read_text().splitlines() if loyalty["id"] in t)
    assert text == json.dumps(loyalty)  # the sample's formatting: one record per line
    assert client_id == loyalty["detail"]["accountNumber"]
    # The malformed entry never reached the lake, nor its error output: the lake holds the
    # ten accepted events, each once.
    assert not (root / "_errors").exists()
    assert sorted(e["id"] for e in lake_events(serve.data_dir)) == sorted(ids | accepted)
    # The blueprint's second rule: each loyalty purchase's ticket ($.detail.ticket), POSTed
    # through the API destination to the built-in ticket inbox (no CLIENTEVENTS_TICKETS_URL).
    assert "ticket inbox    GET" in banner
    tickets = _wait_for_tickets(serve, 2)
    assert [t["request"] for t in tickets] == [{"ticket": {
        "subject": "Loyalty customer purchase",
        "comment": {"body": "This customer has made a loyalty purchase"}}}] * 2
    assert {t["event_id"] for t in tickets} <= ids | accepted
    assert tickets[0]["ticket"]["status"] == "new"

    # A clean stop ends both processes with status 0; the access log named the clientId.
    assert serve.stop(signal.SIGINT) == 0
    log = serve.log.read_text()
    assert "Workers stopped." in log
    ingest_lines = [line for line in serve.output if '"POST /prod/event HTTP/1.1" 200' in line]
    assert len(ingest_lines) == 2
    assert all(f" - {claims_client_id} [" in line for line in ingest_lines)


def test_sigterm_stops_gateway_and_workers_cleanly(serve: ServeProcess) -> None:
    assert serve.proc is not None
    assert httpx.get(serve.url + "/health").json() == {"status": "ok"}
    assert serve.stop(signal.SIGTERM) == 0
    assert "Workers stopped." in serve.log.read_text()
    with pytest.raises(httpx.HTTPError):
        httpx.get(serve.url + "/health", timeout=1)


def test_uvicorn_serves_the_same_gateway(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path / "data", args=("--http-server", "uvicorn"))
    server.start()
    try:
        assert "http server     uvicorn" in server.banner
        token = Newcomer(server.url, server.data_dir).access_token("uvicorn-user")
        response = httpx.post(f"{server.url}/prod/event", json=sample_request(),
                              headers={"Authorization": token})
        assert response.status_code == 200
        assert response.json()["FailedEntryCount"] == 0
    finally:
        assert server.stop(signal.SIGTERM) == 0


def _worker_pid(banner: str) -> int:
    line = next(x for x in banner.splitlines() if x.strip().startswith("workers"))
    return int(line.split()[-1])


def _wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_worker_process_that_dies_is_restarted(serve: ServeProcess) -> None:
    # Given serve with its worker process, and a user
    token = Newcomer(serve.url, serve.data_dir).access_token("restarted")
    first = _worker_pid(serve.banner)
    # When the worker process is killed
    os.kill(first, signal.SIGKILL)
    # I expect serve to log it and start a new worker, and keep serving
    _wait_for(lambda: "Restarted the worker process. pid=" in serve.log.read_text())
    log = serve.log.read_text()
    assert f"The worker process exited with status -9; restarting it in 1 s. pid={first}" in log
    second = int(log.split("Restarted the worker process. pid=")[1].split()[0])
    assert second != first and second in serve.children()
    _wait_for(lambda: f"pid={second}" in serve.log.read_text().split("Restarted")[-1])
    response = httpx.post(f"{serve.url}/prod/event", json=sample_request(),
                          headers={"Authorization": token})
    assert response.status_code == 200
    ids = {e["EventId"] for e in response.json()["Entries"]}
    # and the new worker to deliver what arrives now
    assert set(_wait_for_lake(serve, ids)) == ids
    assert serve.stop() == 0


def test_serve_exits_non_zero_when_the_gateway_dies(serve: ServeProcess) -> None:
    # Given serve with its gateway and worker processes
    worker = _worker_pid(serve.banner)
    gateway = (serve.children() - {worker}).pop()
    # When the gateway process is killed
    os.kill(gateway, signal.SIGKILL)
    # I expect serve to stop its worker and exit with status 1, for a supervisor to restart it
    assert serve.proc is not None
    assert serve.proc.wait(timeout=60) == 1
    serve.stop()
    assert "The gateway process exited; stopping." in serve.log.read_text()
    assert not Path(f"/proc/{worker}").exists() or "zombie" in Path(
        f"/proc/{worker}/status").read_text()


def test_serve_warns_about_a_data_directory_others_can_read(tmp_path: Path) -> None:
    # Given a data directory an older version left open to other users
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    server = ServeProcess(data_dir)
    server.start()
    try:
        log = server.log.read_text()
        # I expect one warning at start naming it and the fix, and new files private
        assert log.count("can be read or written by other users") == 1
        assert f"chmod -R go-rwx {data_dir}" in log
        created = {path for path in data_dir.rglob("*") if path.is_file()}
        if TEST_BACKEND == "embedded":  # (under the backend switch the state is not a file)
            assert data_dir / "clientevents.db" in created
        assert created
        assert {path for path in created if path.stat().st_mode & 0o077} == set()
    finally:
        assert server.stop() == 0


def test_ctrl_c_in_a_terminal_stops_everything_and_restarts_nothing(serve: ServeProcess) -> None:
    # Ctrl-C signals the whole foreground process group: serve, the gateway and the worker
    os.killpg(serve.pid, signal.SIGINT)
    assert serve.stop() == 0
    log = serve.log.read_text()
    assert "Workers stopped." in log
    assert "restarting it" not in log


def test_the_gateway_and_worker_stop_when_serve_is_killed(serve: ServeProcess) -> None:
    # Given serve's two processes
    children = serve.children()
    # When serve alone is killed, with no chance to clean up
    os.kill(serve.pid, signal.SIGKILL)
    serve.stop()

    def gone() -> bool:
        return all(not Path(f"/proc/{pid}").exists()
                   or "zombie" in Path(f"/proc/{pid}/status").read_text() for pid in children)

    # I expect both to stop, so that a supervisor's restart finds the port free
    _wait_for(gone)
    again = ServeProcess(serve.data_dir, port=serve.port)
    again.start()
    assert again.stop() == 0
