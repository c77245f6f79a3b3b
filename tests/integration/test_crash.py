"""Crash test: kill the service with SIGKILL under load, restart the workers, lose nothing.

A child process runs the workers and publishes from several threads, printing every
acknowledged event id right after ``put_events`` returns. Three rules with different patterns
send to three ``log`` targets (a file each); a fourth sends every event to a delivery stream,
whose buffers (gzip objects partitioned by ``detail.kind``, written every second) are cut off by
the kill. The test kills the child with SIGKILL mid-stream,
then runs ``clientevents worker`` on the same data directory until every acknowledged event has
reached every target whose rule matches it, stops it with SIGTERM, and counts: nothing missing
(at least once), nothing in a file its rule does not match, duplicates reported; in the lake,
events are de-duplicated by id, as a reader of at-least-once objects does.
"""

from __future__ import annotations

import collections
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest
from store_helpers import open_service_store

from clientevents.config import load_config

sys.path.insert(0, str(Path(__file__).parent))
from _crash_child import SOURCE, detail_of, detail_type_of

pytestmark = pytest.mark.integration

CHILD = Path(__file__).parent / "_crash_child.py"
PUBLISHER_THREADS = 6
ACKS_BEFORE_KILL = 3000
DRAIN_TIMEOUT_SECS = 180.0

CONFIG = f"""
buses: [{{name: default}}]
rules:
  - name: everything
    bus: default
    event_pattern: {{source: [{SOURCE}]}}
    targets: [{{id: file, type: log, path: out/everything.jsonl}}]
  - name: even
    bus: default
    event_pattern: {{detail: {{kind: [even]}}}}
    targets: [{{id: file, type: log, path: out/even.jsonl}}]
  - name: special
    bus: default
    event_pattern: {{detail-type: [special], detail: {{tier: [0, 1]}}}}
    targets: [{{id: file, type: log, path: out/special.jsonl}}]
  - name: lake
    bus: default
    event_pattern: {{source: [{SOURCE}]}}
    targets: [{{id: lake, type: delivery_stream, delivery_stream: lake}}]
delivery_streams:
  - name: lake
    destination: {{type: local, local: {{path: lake}}}}
    processors:
      - {{type: metadata_extraction, query: "{{kind: .detail.kind}}"}}
      - {{type: append_delimiter}}
    prefix: "kind=!{{partitionKeyFromQuery:kind}}/"
    error_output_prefix: "errors/!{{firehose:error-output-type}}/"
    buffering: {{interval_secs: 2}}
    compression: gzip
"""

Matches = Callable[[str, dict[str, Any]], bool]

RULES: dict[str, Matches] = {
    "everything": lambda detail_type, detail: True,
    "even": lambda detail_type, detail: detail["kind"] == "even",
    "special": lambda detail_type, detail: detail_type == "special" and detail["tier"] in (0, 1),
}


class AckReader:
    """Collects ``ACK <id> <n>`` lines from the child's stdout on a thread."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.acks: dict[str, int] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            parts = raw.decode().split()
            if len(parts) == 3 and parts[0] == "ACK":
                with self._lock:
                    self.acks[parts[1]] = int(parts[2])

    def count(self) -> int:
        with self._lock:
            return len(self.acks)

    def join(self) -> None:
        self._thread.join(timeout=30)


def read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        if line.strip():
            events.append(json.loads(line))
    return events


def lake_events(root: Path) -> list[dict[str, Any]]:
    """Every event in the lake's objects (each object is whole: written, then renamed)."""
    if not root.exists():
        return []
    events = []
    for path in sorted(root.rglob("*.gz")):
        if ".staging" not in path.parts:
            events += [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    return events


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout:.0f} s waiting for {what}.")
        time.sleep(0.05)


def test_sigkill_under_load_loses_no_acknowledged_event(tmp_path: Path) -> None:
    config = tmp_path / "crash.yaml"
    config.write_text(CONFIG)
    data = tmp_path / "data"
    out = data / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    # Given a service publishing under load while its workers deliver,
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(config), str(data), str(PUBLISHER_THREADS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert child.stdout is not None
    reader = AckReader(child.stdout)
    try:
        wait_for(
            lambda: reader.count() >= ACKS_BEFORE_KILL
            and len(read_lines(out / "everything.jsonl")) > 0,
            60.0,
            f"{ACKS_BEFORE_KILL} acknowledged events and first deliveries",
        )
        # when it is killed mid-stream,
        child.send_signal(signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
    reader.join()
    child.stdout.close()
    acks = dict(reader.acks)
    delivered_before = {rule: len(read_lines(out / f"{rule}.jsonl")) for rule in RULES}
    with open_service_store(load_config(config), data) as db:  # the child's store
        [(held,)] = db.read(lambda conn: conn.execute(
            "SELECT count(*) FROM deliveries WHERE target_key = 'default/lake/lake' "
            "AND attempts > 0").fetchall())
    # The kill cut the lake's buffers off: deliveries were claimed into them, not yet written.
    assert held > 0

    expected: dict[str, set[str]] = {rule: set() for rule in RULES}
    for event_id, n in acks.items():
        for rule, matches in RULES.items():
            if matches(detail_type_of(n), detail_of(n)):
                expected[rule].add(event_id)

    def everything_delivered() -> bool:
        for rule, ids in expected.items():
            got = {event["id"] for event in read_lines(out / f"{rule}.jsonl")}
            if not ids <= got:
                return False
        return set(acks) <= {event["id"] for event in lake_events(data / "lake")}

    # and the workers alone are restarted until the queues drain,
    worker = subprocess.Popen(
        [sys.executable, "-m", "clientevents", "worker", "--config", str(config),
         "--data-dir", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        wait_for(everything_delivered, DRAIN_TIMEOUT_SECS, "every acknowledged event to arrive")
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            _, stderr = worker.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            _, stderr = worker.communicate()
    assert worker.returncode == 0, stderr.decode()

    # then every acknowledged event reached every matching target at least once.
    report = [
        f"crash test: {len(acks)} events acknowledged before SIGKILL; lines delivered before "
        f"the kill: {delivered_before}; deliveries held in the lake's buffers at the kill: "
        f"{held}"
    ]
    for rule, matches in RULES.items():
        events = read_lines(out / f"{rule}.jsonl")
        counts = collections.Counter(event["id"] for event in events)
        missing = expected[rule] - set(counts)
        wrong = [e["id"] for e in events
                 if e["source"] != SOURCE or not matches(e["detail-type"], e["detail"])]
        duplicated = {i: c for i, c in counts.items() if c > 1}
        unacknowledged = set(counts) - set(acks)
        report.append(
            f"  {rule}: expected {len(expected[rule])}, lines {len(events)}, distinct "
            f"{len(counts)}, missing {len(missing)}, duplicated events {len(duplicated)} "
            f"(extra lines {sum(duplicated.values()) - len(duplicated)}), delivered but "
            f"unacknowledged (committed, killed before the ACK) {len(unacknowledged)}"
        )
        assert not missing, f"{rule}: {len(missing)} acknowledged events never arrived"
        assert not wrong, f"{rule}: events its pattern does not match: {wrong[:5]}"
    lake = lake_events(data / "lake")
    counts = collections.Counter(event["id"] for event in lake)
    missing = set(acks) - set(counts)
    report.append(
        f"  lake: acknowledged {len(acks)}, records {len(lake)}, distinct {len(counts)}, "
        f"missing {len(missing)}, duplicated events "
        f"{sum(1 for c in counts.values() if c > 1)}"
    )
    assert not missing, f"lake: {len(missing)} acknowledged events are in no object"
    assert not (data / "lake" / "errors").exists()
    for path in (data / "lake").rglob("*.gz"):
        kinds = {json.loads(x)["detail"]["kind"] for x in gzip.decompress(path.read_bytes())
                 .splitlines()}
        assert kinds == {path.parent.name.removeprefix("kind=")}
    print("\n".join(report))
