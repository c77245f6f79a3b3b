"""The console under ``clientevents serve`` (granian, the worker process): the one-time link
in the banner, console accounts made by the command line, the live tail over the real server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from gateway_process import Newcomer, ServeProcess, sample_request
from store_helpers import SharedBackend

from clientevents.server.adminauth import SESSION_COOKIE

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    # One server for the module: under the backend switch, on storage of its own (each test's
    # own is dropped after it); the commands below are given the same.
    with SharedBackend() as backend:
        server = ServeProcess(tmp_path_factory.mktemp("console-serve") / "data",
                              env=backend.environ)
        server.start()
        try:
            yield server
        finally:
            if server.proc is not None and server.proc.poll() is None:
                server.stop()


def _cli(serve: ServeProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clientevents", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **serve.env})


def _cookie(response: httpx.Response) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(SESSION_COOKIE + "="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError(response.headers)


def test_banner_link_signs_in_once_and_the_tail_follows_ingest(serve: ServeProcess) -> None:
    # Given the banner's one-time link
    match = re.search(r"console\s+(http://\S+/console/#signin=(\S+))", serve.banner)
    assert match is not None, serve.banner
    assert match.group(1).startswith(serve.url)
    link = match.group(2)
    # When it is used: an admin session; a second use is refused
    first = httpx.post(f"{serve.url}/admin/api/session", json={"link": link})
    assert first.status_code == 200 and first.json()["role"] == "admin"
    again = httpx.post(f"{serve.url}/admin/api/session", json={"link": link})
    assert again.status_code == 401
    cookie = {"Cookie": f"{SESSION_COOKIE}={_cookie(first)}"}
    # And the live tail, over granian, shows what the sample request sends
    found: list[dict[str, Any]] = []
    ready = threading.Event()

    def read() -> None:
        with httpx.stream("GET", f"{serve.url}/admin/api/buses/client_event_bus/tail",
                          headers=cookie, timeout=15) as stream:
            kind = ""
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                    ready.set()
                elif line.startswith("data: ") and kind == "event":
                    found.append(json.loads(line[6:]))
                    if len(found) == 5:
                        return

    reader = threading.Thread(target=read)
    reader.start()
    assert ready.wait(15)
    newcomer = Newcomer(serve.url, serve.data_dir)
    token = newcomer.access_token("tailed")
    response = httpx.post(f"{serve.url}/prod/event", json=sample_request(),
                          headers={"Authorization": token})
    assert response.status_code == 200
    reader.join(15)
    assert [f["event"]["detail"]["eventType"] for f in found] == [
        "shopping", "searching", "paging", "purchase", "loyaltypurchase"]
    assert found[4]["rules"][1]["rule"] == "loyalty_purchase_to_tickets"


def test_console_accounts_from_the_command_line(serve: ServeProcess) -> None:
    folder = ["--data-dir", str(serve.data_dir)]
    made = _cli(serve, "console", "add-user", "ops", "--role", "viewer", "--password",
                "a long passphrase", *folder)
    assert made.returncode == 0, made.stderr
    short = _cli(serve, "console", "add-user", "bad", "--password", "short", *folder)
    assert short.returncode == 1 and "10 to 256 characters" in short.stderr
    twice = _cli(serve, "console", "add-user", "ops", "--password", "a long passphrase", *folder)
    assert twice.returncode == 1 and "--update" in twice.stderr
    listed = _cli(serve, "console", "list-users", "--json", *folder)
    assert [u["role"] for u in json.loads(listed.stdout)] == ["viewer"]
    answer = httpx.post(f"{serve.url}/admin/api/session",
                        json={"username": "OPS", "password": "a long passphrase"})
    assert answer.status_code == 200 and answer.json()["role"] == "viewer"
    link = _cli(serve, "console", "sign-in-link", "--url", serve.url, *folder)
    token = link.stdout.strip().rpartition("#signin=")[2]
    assert httpx.post(f"{serve.url}/admin/api/session", json={"link": token}).status_code == 200
    removed = _cli(serve, "console", "remove-user", "ops", *folder)
    assert removed.returncode == 0
    cookie = {"Cookie": f"{SESSION_COOKIE}={_cookie(answer)}"}
    assert httpx.get(f"{serve.url}/admin/api/overview", headers=cookie).status_code == 401
