from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from clientevents.cli import main
from clientevents.config.model import Settings
from clientevents.runtime import DB_FILE, Runtime, default_dispatch_options, run_until_signalled
from clientevents.targets.dispatcher import DispatchOptions


def make_settings() -> Settings:
    return Settings.model_validate(
        {
            "buses": [{"name": "default"}],
            "rules": [
                {
                    "name": "all",
                    "bus": "default",
                    "event_pattern": {"source": ["app"]},
                    "targets": [{"id": "file", "type": "log", "path": "out/all.jsonl"}],
                }
            ],
        }
    )


FAST = DispatchOptions(poll_interval_secs=0.005)

# Loops that wait for the workers fail after this long instead of hanging (pytest-timeout's
# signal cannot interrupt a running asyncio loop reliably). Never reached when things work.
HANG_GUARD_SECS = 60.0


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def entries(n: int) -> list[dict[str, Any]]:
    return [{"Source": "app", "DetailType": "t", "Detail": json.dumps({"n": i})} for i in range(n)]


def test_runtime_opens_its_database_in_the_data_dir(tmp_path: Path) -> None:
    with Runtime(make_settings(), tmp_path / "data") as runtime:
        assert runtime.db.path == tmp_path / "data" / DB_FILE
        assert runtime.settings.data_dir == tmp_path / "data"
        assert runtime.publisher.put_events(entries(1))["FailedEntryCount"] == 0
    runtime.close()  # idempotent


def test_workers_deliver_published_events_and_stop_cleanly(tmp_path: Path) -> None:
    runtime = Runtime(make_settings(), tmp_path, dispatch_options=FAST)
    out = tmp_path / "out" / "all.jsonl"

    async def main() -> None:
        stop = asyncio.Event()
        workers = asyncio.create_task(runtime.run_workers(stop))
        answer = await runtime.publisher.put_events_async(entries(5))
        ids = [e["EventId"] for e in answer["Entries"]]
        deadline = time.monotonic() + HANG_GUARD_SECS
        while [line["id"] for line in lines(out)] != ids:
            if time.monotonic() > deadline:
                queued = runtime.db.read(
                    lambda c: c.execute("SELECT count(*) FROM deliveries").fetchone()[0]
                )
                raise AssertionError(
                    f"Not delivered after {HANG_GUARD_SECS} s: expected {ids}, the file has "
                    f"{[line['id'] for line in lines(out)]}; router offset "
                    f"{runtime.log.offset('router', 'default')}, queued {queued}"
                )
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(workers, timeout=30)

    try:
        asyncio.run(main())
    finally:
        runtime.close()
    assert [line["detail"]["n"] for line in lines(out)] == [0, 1, 2, 3, 4]


def test_run_until_signalled_stops_on_sigterm(tmp_path: Path) -> None:
    runtime = Runtime(make_settings(), tmp_path, dispatch_options=FAST)
    runtime.publisher.put_events(entries(3))
    out = tmp_path / "out" / "all.jsonl"

    def stop_when_delivered() -> None:
        deadline = time.monotonic() + 30
        while len(lines(out)) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=stop_when_delivered)
    killer.start()
    run_until_signalled(runtime)  # returns once SIGTERM stopped the workers
    killer.join()
    assert len(lines(out)) == 3
    with pytest.raises(Exception, match="closed"):
        runtime.db.write(lambda conn: None)


def test_dispatch_polling_slows_down_with_many_targets() -> None:
    assert default_dispatch_options(1).poll_interval_secs == 0.002
    assert default_dispatch_options(1).batch_size == 500
    assert default_dispatch_options(50).poll_interval_secs == pytest.approx(0.1)
    assert default_dispatch_options(5000).poll_interval_secs == 0.2


def test_worker_command_reports_a_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("buses: [{name: default}]\nrules: [{name: r}]\n")
    result = CliRunner().invoke(main, ["worker", "--config", str(bad), "--data-dir",
                                       str(tmp_path / "data")])
    assert result.exit_code == 1
    assert "rules" in result.output
    assert not (tmp_path / "data" / DB_FILE).exists()
