"""The console in a real headless Chromium (Debian's package, driven by Playwright).

One deployment and one browser serve the module. The tests do what an operator does: sign in,
watch the sample request arrive in the live tail, filter it, open an event, use the sandbox,
redrive a dead letter, start and watch a replay, and check that event content is only ever
shown as text.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from browser_helpers import browser, chromium_missing, sign_in_page
from console_helpers import (
    BUS,
    CONSOLE_PASSWORD,
    Deployment,
    deployment,
    sample_request,
    wait_for,
)
from store_helpers import SharedBackend

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_shared_backend")]

FLAKY = f"{BUS}/purchases_to_flaky/flaky"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    missing = chromium_missing()
    if missing is not None:
        if os.environ.get("CLIENTEVENTS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{missing}; CLIENTEVENTS_REQUIRE_SERVICES=1 makes that a failure.")
        pytest.skip(missing)
    with browser() as launched:
        yield launched


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory,
         shared_backend: SharedBackend) -> Iterator[Deployment]:
    data_dir = tmp_path_factory.mktemp("browser") / "data"
    data_dir.mkdir()
    (data_dir / "blocked").write_text("not a folder: the flaky target fails until it is removed")
    with deployment(data_dir) as running:
        running.console_user("ops", "admin")
        running.console_user("watcher", "viewer")
        yield running


@pytest.fixture(scope="module")
def token(live: Deployment) -> str:
    return live.pool_token("alice")


@pytest.fixture
def page(chromium: Any, live: Deployment) -> Iterator[Any]:
    signed_in = sign_in_page(chromium, live.url, "ops", CONSOLE_PASSWORD)
    errors: list[str] = []
    signed_in.on("pageerror", lambda error: errors.append(str(error)))
    yield signed_in
    signed_in.context.close()
    assert errors == [], errors


def _live_tail(page: Any, live: Deployment) -> None:
    page.goto(f"{live.url}/console/#/tail")
    page.wait_for_selector("#tail-status[data-state=live]")


def test_sign_in_with_a_wrong_password_shows_why(chromium: Any, live: Deployment) -> None:
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{live.url}/console/")
    page.fill("#signin input[name=username]", "ops")
    page.fill("#signin input[name=password]", "not the password")
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#signin .notice.error:not([hidden])")
    assert "wrong" in page.inner_text("#signin .notice.error")
    cookies = context.cookies()
    assert cookies == []
    context.close()


def test_sign_in_keeps_a_strict_http_only_cookie(page: Any) -> None:
    (cookie,) = page.context.cookies()
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # scripts cannot read the session
    assert page.inner_text("#whoami") == "ops (admin)"


def test_a_one_time_link_signs_in(chromium: Any, live: Deployment) -> None:
    link = live.admin.accounts.create_link(60)
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{live.url}/console/#signin={link}")
    page.wait_for_selector("#whoami")
    assert page.inner_text("#whoami") == "sign-in-link (admin)"
    assert "signin" not in page.url  # the token leaves the address bar
    context.close()


def test_sample_request_appears_in_the_live_tail_within_a_second(
    page: Any, live: Deployment, token: str
) -> None:
    _live_tail(page, live)
    sent = time.monotonic()
    assert live.ingest(token, sample_request()).status_code == 200
    page.wait_for_selector("#tail-events li.event:nth-child(5)", timeout=5000)
    elapsed = time.monotonic() - sent
    assert elapsed < 1.0, f"the events took {elapsed:.2f} s to appear"
    types = page.eval_on_selector_all("#tail-events li.event .type", "els => els.map(e => "
                                      "e.textContent)")
    assert types[:5] == ["loyaltypurchase", "purchase", "paging", "searching", "shopping"]


def test_filter_by_pattern_and_open_an_event_to_see_its_rules(
    page: Any, live: Deployment, token: str
) -> None:
    _live_tail(page, live)
    page.fill("#tail-pattern", json.dumps({"detail": {"eventType": ["loyaltypurchase"]}}))
    page.click("#tail-apply")
    page.wait_for_selector("#tail-status[data-state=live]:has-text('filtered')")
    live.ingest(token, sample_request())
    page.wait_for_selector("#tail-events li.event")
    time.sleep(0.3)  # let any non-matching event arrive, if the filter let it through
    assert page.eval_on_selector_all("#tail-events li.event .type",
                                     "els => els.map(e => e.textContent)") == ["loyaltypurchase"]
    page.click("#tail-events li.event button.event-summary")
    matched = page.inner_text("#tail-events li.event .matched")
    assert "client_events_to_lake" in matched and "loyalty_purchase_to_tickets" in matched
    assert "tickets (log)" in matched
    envelope = json.loads(page.inner_text("#tail-events li.event pre.json"))
    assert envelope["detail"]["eventType"] == "loyaltypurchase"


def test_an_invalid_filter_is_explained(page: Any, live: Deployment) -> None:
    _live_tail(page, live)
    page.fill("#tail-pattern", '{"detail": ')
    page.click("#tail-apply")
    page.wait_for_selector("#tail-error:not([hidden])")
    assert "not valid JSON" in page.inner_text("#tail-error")
    page.fill("#tail-pattern", '{"detail": "x"}')
    page.click("#tail-apply")
    page.wait_for_selector("#tail-error:not([hidden]):has-text('event pattern')")


def test_sandbox_shows_match_explanation_and_target_input(page: Any, live: Deployment) -> None:
    page.goto(f"{live.url}/console/#/rules")
    page.wait_for_selector("#rules-body tr[data-rule=loyalty_purchase_to_tickets]")
    page.select_option("#sandbox-rule", "loyalty_purchase_to_tickets")
    page.click("#sandbox-test")
    page.wait_for_selector("#sandbox-verdict")
    assert page.inner_text("#sandbox-verdict") == "Match"
    payload = json.loads(page.inner_text("#sandbox-result pre.payload"))
    assert payload == {"ticket": {"subject": "Loyalty customer purchase"}}
    page.fill("#sandbox-pattern", json.dumps({"detail": {"eventType": ["purchase"]}}))
    page.click("#sandbox-test")
    page.wait_for_selector("#sandbox-verdict:has-text('No match')")
    explanation = page.inner_text("#sandbox-result ul.explain")
    assert "detail.eventType" in explanation and "loyaltypurchase" in explanation


def test_dead_letter_is_redriven_from_the_page(
    page: Any, live: Deployment, token: str
) -> None:
    # Given the flaky target failing (since the start): purchases are dead-lettered
    before = live.admin.recovery.dead_letters(target=FLAKY)["total"]
    live.ingest(token, sample_request())
    wait_for(lambda: live.admin.recovery.dead_letters(target=FLAKY)["total"] > before,
             what="a dead letter")
    (live.data_dir / "blocked").unlink()  # the target is mended
    # When the operator selects it and redrives it, confirming in the dialog
    page.goto(f"{live.url}/console/#/deliveries")
    row = page.wait_for_selector("#dead-letters-body tr[data-id]")
    entry_id = row.get_attribute("data-id")
    assert "MaximumRetryAttempts" in row.inner_text()
    row.query_selector("input[type=checkbox]").check()
    page.click("#dlq-redrive")
    page.wait_for_selector("dialog.confirm[open]")
    page.click("dialog.confirm button[data-confirm=yes]")
    # Then it leaves the dead-letter queue and the target has it
    page.wait_for_selector(".notice.ok:has-text('Redriven: 1')")
    wait_for(lambda: (live.data_dir / "blocked" / "flaky.jsonl").exists(), what="delivery")
    page.wait_for_selector(
        f"#targets-body tr[data-key='{FLAKY}'] td[data-col=delivered]:text-is('1')",
        timeout=10_000)
    assert page.query_selector(f"#dead-letters-body tr[data-id='{entry_id}']") is None


def test_start_and_watch_a_replay(page: Any, live: Deployment, token: str) -> None:
    live.ingest(token, sample_request())
    wait_for(lambda: live.admin.recovery.archive_list()[0]["event_count"] >= 5,
             what="archived events")
    page.goto(f"{live.url}/console/#/replays")
    page.wait_for_selector("#replay-archive option", state="attached")
    page.fill("#replay-name", "from-the-page")
    page.fill("#replay-rules", "loyalty_purchase_to_tickets")
    page.click("#replay-start-button")
    page.wait_for_selector(".notice.ok:has-text('from-the-page')")
    done = page.wait_for_selector(
        "#replays-body tr[data-replay=from-the-page][data-state=COMPLETED]", timeout=15_000)
    assert "100%" in done.inner_text()
    assert int(done.query_selector("td.events").inner_text()) >= 5


def test_a_viewer_cannot_change_anything(chromium: Any, live: Deployment) -> None:
    page = sign_in_page(chromium, live.url, "watcher", CONSOLE_PASSWORD)
    page.goto(f"{live.url}/console/#/deliveries")
    page.wait_for_selector("#dlq-redrive")
    assert page.is_disabled("#dlq-redrive") and page.is_disabled("#dlq-purge")
    answer = page.evaluate("""async () => {
        const me = await (await fetch('/admin/api/session')).json();
        const r = await fetch('/admin/api/dead-letters/purge', {method: 'POST',
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token},
            body: JSON.stringify({all: true})});
        return [r.status, (await r.json()).code];
    }""")
    assert answer == [403, "Forbidden"]
    page.context.close()


def test_event_content_is_shown_as_text_never_as_html(
    page: Any, live: Deployment, token: str
) -> None:
    hostile = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned=2\">"
    body = {"entries": [{"entry": json.dumps({
        "eventType": "loyaltypurchase", "schemaVersion": 1,
        "data": {"note": hostile, "link": "javascript:window.__pwned=3"},
        "ticket": {"ticket": {"subject": hostile}},
    })}]}
    _live_tail(page, live)
    assert live.ingest(token, body).status_code == 200
    page.wait_for_selector("#tail-events li.event")
    page.click("#tail-events li.event button.event-summary")
    text = page.inner_text("#tail-events li.event pre.json")
    assert "<script>window.__pwned = 1</script>" in text
    assert "javascript:window.__pwned=3" in text
    assert page.query_selector("#tail-events script, #tail-events img, #tail-events a") is None
    # The sandbox shows the hostile event and its shaped payload as text too
    page.click("#tail-events li.event .event-body button")
    page.wait_for_selector("#sandbox-event")
    page.select_option("#sandbox-rule", "loyalty_purchase_to_tickets")
    page.click("#sandbox-test")
    page.wait_for_selector("#sandbox-result pre.payload")
    shaped = json.loads(page.inner_text("#sandbox-result pre.payload"))
    assert shaped == {"ticket": {"subject": hostile}}
    assert page.query_selector("#sandbox-result script, #sandbox-result img") is None
    assert page.evaluate("window.__pwned") is None
    # And the page could not have turned text into HTML even by mistake
    refused = page.evaluate("""() => { try { document.body.insertAdjacentHTML('beforeend',
        '<b>x</b>'); return 'allowed'; } catch (e) { return e.name; } }""")
    assert refused == "TypeError"
