"""What the admin API and console tests share: a deployment on loopback and its clients.

The deployment is the blueprint's pipeline plus a rule whose ``log`` target writes under
``blocked/``: a test makes it fail by putting a plain file named ``blocked`` in the data folder
(the target cannot create its directory), and heals it by removing the file. Its retry policy
allows no retry, so a failed delivery goes straight to the dead-letter queue.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from store_helpers import with_test_storage

from clientevents.admin import AdminService
from clientevents.admin.client import AdminClient
from clientevents.admin.tail import TailOptions
from clientevents.config import Settings, validate_settings
from clientevents.identity.notifier import latest_code
from clientevents.identity.sigv4 import Credentials
from clientevents.server.adminauth import SESSION_COOKIE
from clientevents.server.app import create_app

BUS = "client_event_bus"
ADMIN = Credentials("AKIDCONSOLETEST0001", "console-test-secret-key")
PASSWORD = "Passw0rd!-console"
CONSOLE_PASSWORD = "a console passphrase"
SAMPLE_FILE = Path(__file__).resolve().parents[2] / "examples" / "ingest-request.json"


def sample_request() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(SAMPLE_FILE.read_text())
    return body


def console_settings(data_dir: Path) -> Settings:
    """The blueprint plus the ``flaky`` rule (every ``purchase`` to ``blocked/flaky.jsonl``), on
    the test's backend."""
    return validate_settings(with_test_storage({
        "data_dir": str(data_dir),
        "stages": [{"name": "prod", "bus": BUS, "environment": "prod",
                    "rate_limit": {"requests_per_sec": 1000.0, "burst": 1000}}],
        "buses": [{"name": BUS}],
        "rules": [
            {"name": "client_events_to_lake", "bus": BUS,
             "description": "Every client event to the data lake.",
             "event_pattern": {"source": ["clientevents"]},
             "targets": [{"id": "lake", "type": "log", "path": "lake/events.jsonl",
                          "input_transformer": {"input_paths_map": {},
                                                "input_template": "<aws.events.event.json>\n"}}]},
            {"name": "loyalty_purchase_to_tickets", "bus": BUS,
             "event_pattern": {"detail": {"eventType": ["loyaltypurchase"]}},
             "targets": [{"id": "tickets", "type": "log", "path": "tickets/requests.jsonl",
                          "input_path": "$.detail.ticket"}]},
            {"name": "purchases_to_flaky", "bus": BUS,
             "event_pattern": {"detail": {"eventType": ["purchase"]}},
             "targets": [{"id": "flaky", "type": "log", "path": "blocked/flaky.jsonl",
                          "retry_policy": {"maximum_retry_attempts": 0}}]},
        ],
        "archives": [{"name": "client_event_archive", "bus": BUS, "retention_days": 30}],
        "identity": {"user_pool": {"enabled": True},
                     "admin": {"access_key_id": ADMIN.access_key_id,
                               "secret_access_key": ADMIN.secret_access_key}},
    }), file="<test>", environ={})


class LiveServer:
    """uvicorn serving an app in a thread, on a free loopback port."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, loop="asyncio", http="httptools", ws="none",
                                lifespan="on", access_log=False, log_config=None,
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("The test server did not start.")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


@dataclass
class Deployment:
    """A running deployment: its URL, data folder, admin service and a plain HTTP client."""

    url: str
    data_dir: Path
    admin: AdminService
    http: httpx.Client
    app: Any

    def client(self, credentials: Credentials = ADMIN) -> AdminClient:
        return AdminClient(self.url, credentials)

    def pool_token(self, username: str) -> str:
        """Sign a pool user up, confirm it, sign it in: its access token."""
        pool = self.app.state.gateway.identity.user_pool
        pool.sign_up(username, PASSWORD, [{"Name": "email", "Value": f"{username}@ex.com"}])
        record = latest_code(self.data_dir, username, None)
        assert record is not None
        pool.confirm_sign_up(username, record["code"])
        answer = pool.initiate_auth(
            "USER_PASSWORD_AUTH", {"USERNAME": username, "PASSWORD": PASSWORD}
        )
        token: str = answer["AuthenticationResult"]["AccessToken"]
        return token

    def ingest(self, token: str, body: Any) -> httpx.Response:
        return self.http.post("/prod/event", content=json.dumps(body).encode(),
                              headers={"Authorization": token,
                                       "Content-Type": "application/json"})

    def console_user(self, username: str, role: str = "admin") -> None:
        self.admin.accounts.add_user(username, CONSOLE_PASSWORD, role, replace=True)

    def sign_in(self, username: str, role: str = "admin") -> ConsoleSession:
        self.console_user(username, role)
        answer = self.http.post("/admin/api/session",
                                json={"username": username, "password": CONSOLE_PASSWORD})
        assert answer.status_code == 200, answer.text
        return ConsoleSession(self.http, session_cookie(answer), answer.json()["csrf_token"])


def session_cookie(response: httpx.Response) -> str:
    """The session token a sign-in answer sets (httpx keeps no Secure cookie over http)."""
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name == SESSION_COOKIE:
            return rest.split(";", 1)[0]
    raise AssertionError(f"no session cookie in {response.headers!r}")


@dataclass
class ConsoleSession:
    """A signed-in browser, as far as the API can tell: the cookie and the CSRF token."""

    http: httpx.Client
    token: str
    csrf: str

    def headers(self, csrf: str | None = None) -> dict[str, str]:
        return {"Cookie": f"{SESSION_COOKIE}={self.token}",
                "X-CSRF-Token": self.csrf if csrf is None else csrf}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get("/admin/api" + path, params=params, headers=self.headers())

    def post(self, path: str, body: Any = None, *, csrf: str | None = None) -> httpx.Response:
        return self.http.post("/admin/api" + path, json=body if body is not None else {},
                              headers=self.headers(csrf))


@contextmanager
def deployment(data_dir: Path, settings: Settings | None = None) -> Iterator[Deployment]:
    """Serve the console deployment (workers included) on loopback."""
    app = create_app(settings or console_settings(data_dir), data_dir=data_dir, run_workers=True)
    admin = app.state.gateway.admin
    admin.tails.options = TailOptions(poll_interval_secs=0.05)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield Deployment(server.url, data_dir, admin, http, app)


def wait_for(condition: Callable[[], Any], *, limit_secs: float = 15.0, what: str = "") -> Any:
    """Poll ``condition`` until it returns something true (a safety limit, not a timing)."""
    deadline = time.monotonic() + limit_secs
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {limit_secs} s: {what}")
        time.sleep(0.02)
