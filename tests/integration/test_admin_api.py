"""The admin API over real HTTP on loopback: every route, its refusals, and the audit log.

One deployment serves the module (workers included). Access is checked three ways for every
route: without any credentials (401), as a signed-in ``viewer`` for state changes (403), and
with a wrong CSRF token (403); scripts' access with the admin key (SigV4) is checked too.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from console_helpers import (
    ADMIN,
    BUS,
    CONSOLE_PASSWORD,
    ConsoleSession,
    Deployment,
    deployment,
    sample_request,
    wait_for,
)
from store_helpers import SharedBackend

from clientevents.admin.client import AdminClientError
from clientevents.client.sigv4 import sign
from clientevents.identity.sigv4 import Credentials
from clientevents.server.adminauth import CONTENT_SECURITY_POLICY, SESSION_COOKIE

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_shared_backend")]

READS = [
    "/session", "/overview", "/buses", "/rules", "/deliveries", "/dead-letters",
    "/dead-letters/1", "/archives", "/archives/none", "/replays", "/replays/none", "/users",
    "/audit",
    f"/buses/{BUS}/events", f"/buses/{BUS}/tail",
]
CHANGES: list[tuple[str, dict[str, Any]]] = [
    ("/dead-letters/redrive", {"ids": [1]}),
    ("/dead-letters/purge", {"ids": [1]}),
    ("/replays", {"name": "r", "archive": "client_event_archive", "start": 0, "end": 1}),
    ("/replays/none/cancel", {}),
    ("/users/nobody/disable", {}),
    ("/users/nobody/enable", {}),
    ("/users/nobody/sign-out", {}),
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory,
         shared_backend: SharedBackend) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("admin") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def ops(live: Deployment) -> ConsoleSession:
    return live.sign_in("ops", "admin")


@pytest.fixture(scope="module")
def viewer(live: Deployment) -> ConsoleSession:
    return live.sign_in("watcher", "viewer")


@pytest.fixture(scope="module")
def token(live: Deployment) -> str:
    return live.pool_token("alice")


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message"}, body
    message: str = body["message"]
    return message


# -- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", READS)
def test_every_read_is_refused_without_credentials(live: Deployment, path: str) -> None:
    response = live.http.get("/admin/api" + path)
    assert "Sign in" in _error(response, 401)
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(("path", "body"), CHANGES)
def test_every_change_is_refused_without_credentials(
    live: Deployment, path: str, body: dict[str, Any]
) -> None:
    _error(live.http.post("/admin/api" + path, json=body), 401)


@pytest.mark.parametrize(("path", "body"), CHANGES)
def test_every_change_is_refused_to_a_viewer(
    live: Deployment, viewer: ConsoleSession, path: str, body: dict[str, Any]
) -> None:
    message = _error(viewer.post(path, body), 403)
    assert "'viewer'" in message and "watcher" in message


@pytest.mark.parametrize(("path", "body"), CHANGES)
def test_every_change_is_refused_with_a_bad_csrf_token(
    live: Deployment, ops: ConsoleSession, path: str, body: dict[str, Any]
) -> None:
    assert "X-CSRF-Token" in _error(ops.post(path, body, csrf="forged"), 403)
    assert "X-CSRF-Token" in _error(ops.post(path, body, csrf=""), 403)


def test_a_change_from_another_origin_is_refused(live: Deployment, ops: ConsoleSession) -> None:
    response = live.http.post("/admin/api/dead-letters/purge", json={"ids": [1]},
                              headers={**ops.headers(), "Origin": "https://evil.example"})
    assert "origin" in _error(response, 403)


def test_a_viewer_reads_everything(live: Deployment, viewer: ConsoleSession) -> None:
    for path in READS[:-4]:
        response = viewer.get(path)
        assert response.status_code in (200, 404), (path, response.text)
    assert viewer.get("/session").json()["role"] == "viewer"


def test_sign_in_sets_a_strict_cookie_and_a_wrong_password_is_refused(live: Deployment) -> None:
    live.console_user("carol", "admin")
    wrong = live.http.post("/admin/api/session", json={"username": "carol", "password": "no"})
    assert "wrong" in _error(wrong, 401)
    unknown = live.http.post("/admin/api/session", json={"username": "zed", "password": "no"})
    assert _error(unknown, 401) == _error(wrong, 401)
    good = live.http.post("/admin/api/session",
                          json={"username": "carol", "password": CONSOLE_PASSWORD})
    assert good.status_code == 200
    (cookie,) = [c for c in good.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)]
    attributes = {part.strip().split("=")[0] for part in cookie.split(";")[1:]}
    assert {"Secure", "HttpOnly", "SameSite", "Path", "Max-Age"} <= attributes
    assert "SameSite=Strict" in cookie and "Path=/;" in cookie
    assert good.json()["csrf_token"] and good.json()["role"] == "admin"


def test_sign_out_ends_the_session(live: Deployment) -> None:
    session = live.sign_in("dave", "admin")
    response = live.http.delete("/admin/api/session", headers=session.headers())
    assert response.status_code == 200
    assert any("Max-Age=0" in c for c in response.headers.get_list("set-cookie"))
    _error(session.get("/overview"), 401)


def test_removing_a_console_user_ends_its_sessions_at_once(live: Deployment) -> None:
    session = live.sign_in("erin", "admin")
    assert session.get("/overview").status_code == 200
    live.admin.accounts.remove_user("erin")
    _error(session.get("/overview"), 401)


def test_a_one_time_link_signs_in_once(live: Deployment) -> None:
    link = live.admin.accounts.create_link(60)
    first = live.http.post("/admin/api/session", json={"link": link})
    assert first.status_code == 200
    assert first.json()["username"] == "sign-in-link" and first.json()["role"] == "admin"
    assert "used already" in _error(live.http.post("/admin/api/session", json={"link": link}), 401)


def test_scripts_sign_with_the_admin_key(live: Deployment) -> None:
    with live.client() as admin:
        me = admin.get("/session")
        assert me["username"] == ADMIN.access_key_id and me["role"] == "admin"
        assert admin.get("/rules", bus=BUS)["rules"]
    with live.client(Credentials(ADMIN.access_key_id, "wrong secret")) as forged:
        with pytest.raises(AdminClientError) as refused:
            forged.get("/overview")
        assert refused.value.status == 403
    with live.client(Credentials("AKIDUNKNOWN", ADMIN.secret_access_key)) as stranger:
        with pytest.raises(AdminClientError) as unknown:
            stranger.get("/overview")
        assert unknown.value.status == 401


def test_a_signature_covers_the_query_and_the_body(live: Deployment) -> None:
    host = live.url.removeprefix("http://")
    headers = sign(ADMIN, method="GET", host=host, path="/admin/api/rules", query="bus=a")
    altered = live.http.get("/admin/api/rules", params={"bus": "b"}, headers=headers)
    _error(altered, 403)
    body = json.dumps({"ids": [1]}).encode()
    headers = sign(ADMIN, method="POST", host=host, path="/admin/api/dead-letters/purge",
                   body=body)
    other = live.http.post("/admin/api/dead-letters/purge", content=b'{"all": true}',
                           headers=headers)
    _error(other, 403)


def test_errors_and_unknown_routes_carry_the_security_headers(live: Deployment) -> None:
    for response in (live.http.get("/admin/api/nothing-here"),
                     live.http.put("/admin/api/session"),
                     live.http.get("/console/"),
                     live.http.get("/console/app.js")):
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"


# -- pipeline -----------------------------------------------------------------------------------


def test_overview_buses_and_rules(live: Deployment, ops: ConsoleSession, token: str) -> None:
    assert live.ingest(token, sample_request()).status_code == 200
    overview = wait_for(lambda: (lambda o: o if o["totals"]["events_accepted"] >= 5 else None)(
        ops.get("/overview").json()), what="overview counts")
    assert {b["key"] for b in overview["backlog"]} >= {f"{BUS}/client_events_to_lake/lake"}
    assert overview["buses"][0]["name"] == BUS
    buses = ops.get("/buses").json()["buses"]
    assert buses[0]["stages"] == ["prod"] and "client_event_archive" in buses[0]["archives"]

    def matched() -> Any:
        rules = {r["name"]: r for r in ops.get("/rules", bus=BUS).json()["rules"]}
        lake = rules["client_events_to_lake"]
        return rules if lake["matched_per_minute"][-1] >= 5 else None

    rules = wait_for(matched, what="matched counts")
    assert len(rules["client_events_to_lake"]["matched_per_minute"]) == 60
    assert rules["loyalty_purchase_to_tickets"]["targets"][0]["shaping"] == "input path"
    assert _error(ops.get("/rules", bus="nope"), 404).startswith("There is no bus")


def test_sandbox_explains_and_shapes(live: Deployment, ops: ConsoleSession) -> None:
    event = {"version": "0", "id": "e1", "detail-type": "prod", "source": "clientevents",
             "account": "000000000000", "time": "2026-11-27T05:00:00Z", "region": "local",
             "resources": ["c1"], "detail": {"eventType": "shopping",
                                             "ticket": {"subject": "<b>hi</b>"}}}
    miss = ops.post("/sandbox", {"event": event, "rule": "loyalty_purchase_to_tickets"}).json()
    assert miss["matches"] is False
    assert miss["explanation"] == [
        {"path": "detail.eventType", "wanted": ["loyaltypurchase"], "had": ["shopping"]}
    ]
    assert json.loads(miss["targets"][0]["payload"]) == {"subject": "<b>hi</b>"}
    hit = ops.post("/sandbox", {"event": event, "pattern": {"detail": {"eventType": ["shopping"]}},
                                "rule": "client_events_to_lake"}).json()
    assert hit["matches"] is True and hit["explanation"] == []
    assert json.loads(hit["targets"][0]["payload"])["id"] == "e1"
    bad = ops.post("/sandbox", {"event": event, "pattern": {"detail": "x"}})
    assert "not valid" in _error(bad, 400)
    assert "no rule" in _error(ops.post("/sandbox", {"event": event, "rule": "zzz"}), 404)
    assert "JSON object" in _error(ops.post("/sandbox", {"event": [1], "pattern": {}}), 400)


def test_events_are_polled_after_a_position(
    live: Deployment, ops: ConsoleSession, token: str
) -> None:
    start = ops.get(f"/buses/{BUS}/events").json()
    assert start["events"] == []
    live.ingest(token, sample_request())
    pattern = json.dumps({"detail": {"eventType": ["loyaltypurchase"]}})
    page = ops.get(f"/buses/{BUS}/events", after=start["next_after"], pattern=pattern).json()
    (event,) = page["events"]
    assert event["event"]["detail"]["eventType"] == "loyaltypurchase"
    assert [r["rule"] for r in event["rules"]] == [
        "client_events_to_lake", "loyalty_purchase_to_tickets"]
    assert event["rules"][1]["targets"] == [
        {"id": "tickets", "type": "log", "key": f"{BUS}/loyalty_purchase_to_tickets/tickets"}]
    assert "not a valid event pattern" in _error(
        ops.get(f"/buses/{BUS}/events", after=0, pattern="{"), 400)


def _read_sse(live: Deployment, session: ConsoleSession, query: str, found: list[Any],
              ready: threading.Event, want: int) -> None:
    with httpx.stream("GET", f"{live.url}/admin/api/buses/{BUS}/tail{query}",
                      headers=session.headers(), timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                if kind == "hello":
                    ready.set()
                else:
                    found.append((kind, json.loads(line[6:])))
                    if len(found) >= want:
                        return


def test_live_tail_streams_new_events_with_their_rules(
    live: Deployment, ops: ConsoleSession, token: str
) -> None:
    found: list[Any] = []
    ready = threading.Event()
    pattern = json.dumps({"detail": {"eventType": ["searching", "paging"]}})
    reader = threading.Thread(target=_read_sse, args=(live, ops, f"?pattern={pattern}", found,
                                                      ready, 2))
    reader.start()
    assert ready.wait(10)
    sent = time.monotonic()
    live.ingest(token, sample_request())
    reader.join(10)
    elapsed = time.monotonic() - sent
    assert [k for k, _ in found] == ["event", "event"]
    assert [d["event"]["detail"]["eventType"] for _, d in found] == ["searching", "paging"]
    assert elapsed < 5  # a safety limit; the browser test checks the one-second promise
    assert found[0][1]["rules"][0]["rule"] == "client_events_to_lake"


def test_tail_refuses_bad_input(live: Deployment, ops: ConsoleSession) -> None:
    assert "no bus" in _error(ops.get("/buses/nope/tail"), 404)
    assert "not a valid event pattern" in _error(ops.get(f"/buses/{BUS}/tail", pattern="[1]"), 400)


def test_every_admin_route_is_in_the_openapi_document(live: Deployment) -> None:
    from starlette.routing import Mount, Route

    doc = live.http.get("/openapi.json").json()
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops
                  if path.startswith("/admin/api")}
    (mount,) = [r for r in live.app.routes if isinstance(r, Mount) and r.path == "/admin/api"]
    served = {("/admin/api" + r.path, m) for r in mount.app.app.routes if isinstance(r, Route)
              for m in (r.methods or ()) if m != "HEAD"}
    assert served == documented
    assert doc["components"]["securitySchemes"]["adminKeySigV4"]["name"] == "Authorization"
