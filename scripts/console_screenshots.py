"""Screenshots of every console page, for docs/console.md (run by scripts/screenshots.sh)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from browser_helpers import browser, sign_in_page  # noqa: E402
from console_helpers import (  # noqa: E402
    BUS,
    CONSOLE_PASSWORD,
    deployment,
    sample_request,
    wait_for,
)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="clientevents-shots-")) / "data"
    data_dir.mkdir()
    (data_dir / "blocked").write_text("the flaky target fails until this file is removed")
    with deployment(data_dir) as live, browser() as chromium:
        live.console_user("ops", "admin")
        tokens = [live.pool_token(name) for name in ("alice", "bob", "carol")]
        live.admin.history.interval_secs = 1.0
        page = sign_in_page(chromium, live.url, "ops", CONSOLE_PASSWORD)
        page.goto(f"{live.url}/console/#/overview")
        for round_ in range(6):
            for token in tokens:
                live.ingest(token, sample_request())
            time.sleep(1.0)
        wait_for(lambda: live.admin.recovery.dead_letters()["total"] >= 3, what="dead letters")
        live.app.state.gateway.identity.user_pool.admin_disable_user("carol")
        now = time.time()
        wait_for(lambda: live.admin.recovery.archive_list()[0]["event_count"] > 0, what="archive")
        live.admin.recovery.start_replay("yesterday-fix", "client_event_archive", now - 3600,
                                         now + 60, ["loyalty_purchase_to_tickets"])
        page.wait_for_timeout(5500)
        page.screenshot(path=str(out / "overview.png"))

        page.goto(f"{live.url}/console/#/tail")
        page.wait_for_selector("#tail-status[data-state=live]")
        live.ingest(tokens[0], sample_request())
        page.wait_for_selector("#tail-events li.event:nth-child(5)")
        page.click("#tail-events li.event >> nth=0 >> button.event-summary")
        page.screenshot(path=str(out / "tail.png"))

        page.goto(f"{live.url}/console/#/rules")
        page.wait_for_selector("#rules-body tr")
        page.select_option("#sandbox-rule", "loyalty_purchase_to_tickets")
        page.click("#sandbox-test")
        page.wait_for_selector("#sandbox-verdict")
        page.screenshot(path=str(out / "rules.png"), full_page=True)

        page.goto(f"{live.url}/console/#/deliveries")
        page.wait_for_selector("#dead-letters-body tr[data-id]")
        page.screenshot(path=str(out / "deliveries.png"))

        wait_for(lambda: live.admin.recovery.replay("yesterday-fix")["state"] == "COMPLETED",
                 what="replay")
        page.goto(f"{live.url}/console/#/replays")
        page.wait_for_selector("#replays-body tr")
        page.screenshot(path=str(out / "replays.png"))

        page.goto(f"{live.url}/console/#/users")
        page.wait_for_selector("#users-body tr")
        page.screenshot(path=str(out / "users.png"))

        page.context.close()
        signin = chromium.new_context(viewport={"width": 1000, "height": 560}).new_page()
        signin.goto(f"{live.url}/console/")
        signin.wait_for_selector("#signin")
        signin.screenshot(path=str(out / "signin.png"))
        signin.context.close()
    print(f"Screenshots of bus {BUS}'s console pages are in {out}.")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/console"))
