"""The admin API's recovery and administration routes over real HTTP: deliveries, dead letters,
archives and replays, the user pool's users, and the audit log that records every change."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from console_helpers import (
    ADMIN,
    BUS,
    ConsoleSession,
    Deployment,
    deployment,
    sample_request,
    wait_for,
)
from store_helpers import SharedBackend

from clientevents.admin.client import AdminClientError

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_shared_backend")]

FLAKY = f"{BUS}/purchases_to_flaky/flaky"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory,
         shared_backend: SharedBackend) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("ops") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def ops(live: Deployment) -> ConsoleSession:
    return live.sign_in("ops", "admin")


@pytest.fixture(scope="module")
def token(live: Deployment) -> str:
    return live.pool_token("bob")


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["message"]
    return message


def _targets(ops: ConsoleSession) -> dict[str, dict[str, Any]]:
    return {t["key"]: t for t in ops.get("/deliveries").json()["targets"]}


@pytest.fixture(scope="module")
def dead(live: Deployment, ops: ConsoleSession, token: str) -> list[dict[str, Any]]:
    """Four dead letters of the flaky target: it was blocked while four purchases came in.

    (A ``log`` target keeps its file open once it has written, so the target can be made to
    fail only before its first success: the tests that redrive come last.)
    """
    blocker = live.data_dir / "blocked"
    blocker.write_text("not a folder")
    try:
        for _ in range(4):
            assert live.ingest(token, sample_request()).status_code == 200
        wait_for(lambda: ops.get("/dead-letters", target=FLAKY).json()["total"] == 4,
                 what="four dead letters")
    finally:
        blocker.unlink()
    entries: list[dict[str, Any]] = ops.get("/dead-letters", target=FLAKY).json()["entries"]
    return entries


def test_deliveries_show_counts_and_the_last_error(
    ops: ConsoleSession, dead: list[dict[str, Any]]
) -> None:
    lake = f"{BUS}/client_events_to_lake/lake"
    targets = wait_for(lambda: (lambda t: t if t[lake]["delivered"] >= 20 else None)(
        _targets(ops)), what="lake deliveries")
    flaky = targets[FLAKY]
    assert (flaky["dead_lettered"], flaky["dead_letters"], flaky["delivered"]) == (4, 4, 0)
    assert flaky["last_error_code"] and flaky["last_error_message"]
    assert flaky["recent_errors"][0]["exhausted"] == "MaximumRetryAttempts"
    assert targets[lake]["type"] == "log" and targets[lake]["configured"] is True


def test_dead_letter_paging(ops: ConsoleSession, dead: list[dict[str, Any]]) -> None:
    first = ops.get("/dead-letters", limit=1).json()
    assert len(first["entries"]) == 1 and first["total"] == 4
    second = ops.get("/dead-letters", limit=1, after_id=first["next_after_id"]).json()
    assert second["entries"][0]["id"] > first["entries"][0]["id"]
    assert "limit" in _error(ops.get("/dead-letters", limit=0), 400)


def test_a_dead_letter_is_shown_and_purged_by_id(
    ops: ConsoleSession, dead: list[dict[str, Any]]
) -> None:
    first = dead[0]
    shown = ops.get(f"/dead-letters/{first['id']}").json()
    assert shown["payload"] == first["payload"] and '"purchase"' in shown["payload"]
    assert _error(ops.get("/dead-letters/999999"), 404).startswith("There is no dead letter")
    assert ops.post("/dead-letters/purge", {"ids": [first["id"]]}).json() == {"purged": 1}
    assert "ids" in _error(ops.post("/dead-letters/purge", {}), 400)
    assert "ids" in _error(ops.post("/dead-letters/purge", {"ids": ["x"]}), 400)


def test_a_dead_letter_is_redriven_to_its_healed_target(
    live: Deployment, ops: ConsoleSession, dead: list[dict[str, Any]]
) -> None:
    entry = dead[1]
    answer = ops.post("/dead-letters/redrive", {"ids": [entry["id"], 999999]}).json()
    assert answer["redriven"] == [entry["id"]]
    assert "no such entry" in answer["skipped"]["999999"]
    wait_for(lambda: _targets(ops)[FLAKY]["delivered"] == 1, what="redelivery")
    lines = (live.data_dir / "blocked" / "flaky.jsonl").read_text().splitlines()
    assert any(entry["event_id"] in line for line in lines)


def test_the_other_dead_letters_are_purged_all_at_once(
    ops: ConsoleSession, dead: list[dict[str, Any]]
) -> None:
    assert ops.post("/dead-letters/purge", {"all": True, "target": FLAKY}).json() == {
        "purged": 2}
    assert ops.get("/dead-letters", target=FLAKY).json() == {"entries": [], "total": 0}


def test_archives_and_a_replay_to_completion(
    live: Deployment, ops: ConsoleSession, token: str
) -> None:
    assert live.ingest(token, sample_request()).status_code == 200
    archive = wait_for(lambda: next((a for a in ops.get("/archives").json()["archives"]
                                     if a["event_count"] >= 5), None), what="archived events")
    assert archive["name"] == "client_event_archive" and archive["state"] == "ENABLED"
    now = time.time()
    started = ops.post("/replays", {"name": "api-replay", "archive": archive["name"],
                                    "start": now - 3600, "end": now + 60,
                                    "rules": ["loyalty_purchase_to_tickets"]})
    assert started.status_code == 200, started.text
    assert started.json()["state"] == "STARTING"
    done = wait_for(lambda: (lambda r: r if r["state"] == "COMPLETED" else None)(
        ops.get("/replays/api-replay").json()), what="replay completion")
    assert done["events_replayed"] >= 5 and done["progress"] == 1.0
    assert done["rules"] == ["loyalty_purchase_to_tickets"]
    listed = ops.get("/replays", state="COMPLETED").json()["replays"]
    assert "api-replay" in [r["name"] for r in listed]
    again = ops.post("/replays", {"name": "api-replay", "archive": archive["name"],
                                  "start": now - 60, "end": now})
    assert "already exists" in _error(again, 409)
    assert "is COMPLETED" in _error(ops.post("/replays/api-replay/cancel"), 409)


def test_replay_requests_are_checked(live: Deployment, ops: ConsoleSession) -> None:
    body = {"name": "bad one", "archive": "client_event_archive", "start": 10, "end": 20}
    assert "not valid" in _error(ops.post("/replays", body), 400)
    body = {"name": "x1", "archive": "nope", "start": 10, "end": 20}
    assert "does not exist" in _error(ops.post("/replays", body), 404)
    body = {"name": "x2", "archive": "client_event_archive", "start": 20, "end": 10}
    assert "must be before" in _error(ops.post("/replays", body), 400)
    assert "not a replay state" in _error(ops.get("/replays", state="NOPE"), 400)
    assert "does not exist" in _error(ops.get("/replays/none"), 404)


def test_a_started_replay_can_be_cancelled(live: Deployment, ops: ConsoleSession) -> None:
    now = time.time()
    ops.post("/replays", {"name": "to-cancel", "archive": "client_event_archive",
                          "start": now - 3600, "end": now + 3600})
    answer = ops.post("/replays/to-cancel/cancel")
    if answer.status_code == 200:
        assert answer.json()["state"] == "CANCELLING"
        wait_for(lambda: ops.get("/replays/to-cancel").json()["state"] == "CANCELLED",
                 what="cancelled")
    else:  # the workers were quicker: a finished replay cannot be cancelled
        assert "only a STARTING or RUNNING replay" in _error(answer, 409)


def test_users_are_listed_disabled_enabled_and_signed_out(
    live: Deployment, ops: ConsoleSession, token: str
) -> None:
    users = ops.get("/users").json()["users"]
    bob = next(u for u in users if u["username"] == "bob")
    assert bob["status"] == "CONFIRMED" and bob["enabled"] is True and bob["client_id"]
    assert [u["username"] for u in ops.get("/users", filter="bo").json()["users"]] == ["bob"]
    # disable: the user's token stops working at once
    assert ops.post("/users/bob/disable").json() == {"username": "bob", "enabled": False}
    assert live.ingest(token, sample_request()).status_code == 403
    assert ops.post("/users/bob/enable").json()["enabled"] is True
    # sign out everywhere: a fresh token is refused after it
    fresh = live.app.state.gateway.identity.user_pool.initiate_auth(
        "USER_PASSWORD_AUTH", {"USERNAME": "bob", "PASSWORD": "Passw0rd!-console"}
    )["AuthenticationResult"]["AccessToken"]
    assert live.ingest(fresh, sample_request()).status_code == 200
    assert ops.post("/users/bob/sign-out").json()["sessions_ended"] >= 1
    assert live.ingest(fresh, sample_request()).status_code == 401
    assert "no user named 'ghost'" in _error(ops.post("/users/ghost/disable"), 404)
    assert "limit" in _error(ops.get("/users", limit=61), 400)


def test_every_change_is_in_the_audit_log(live: Deployment, ops: ConsoleSession) -> None:
    viewer = live.sign_in("auditor", "viewer")
    viewer.post("/users/bob/disable")
    with live.client() as admin:
        with pytest.raises(AdminClientError):
            admin.post("/replays/none/cancel")
        entries = admin.get("/audit", limit=500)["entries"]
    actions = {(e["actor"], e["action"], e["outcome"]) for e in entries}
    assert ("ops", "user.disable", "ok") in actions
    assert ("ops", "user.sign_out", "ok") in actions
    assert ("ops", "dlq.redrive", "ok") in actions
    assert ("ops", "replay.start", "ok") in actions
    assert ("auditor", "user.disable", "Forbidden") in actions
    assert (ADMIN.access_key_id, "replay.cancel", "NotFound") in actions
    assert ("ops", "session.sign_in", "ok") in actions
    redrive = next(e for e in entries if e["action"] == "dlq.redrive")
    assert redrive["via"] == "password" and redrive["details"]["ids"]
    assert redrive["address"] == "127.0.0.1"
    only_dlq = ops.get("/audit", action="dlq.").json()["entries"]
    assert only_dlq and all(e["action"].startswith("dlq.") for e in only_dlq)
    older = ops.get("/audit", before_id=entries[0]["id"], limit=1).json()["entries"]
    assert older[0]["id"] < entries[0]["id"]
