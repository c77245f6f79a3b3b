"""A write cut short by a full disk leaves the ``log`` target's file exactly as it was.

The full disk is a real one as far as the process can tell: its file-size limit
(``RLIMIT_FSIZE``, set in a child process) cuts a write short and fails the next, as a full disk
does. The retried batch must then follow the earlier lines with no half line in between.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CHILD = Path(__file__).with_name("_fsize_log_child.py")


def test_a_batch_cut_short_by_a_full_disk_leaves_no_trace(tmp_path: Path) -> None:
    # Given a log file with one batch in it, a full disk for the next batch, then room again
    path = tmp_path / "lake" / "events.jsonl"
    done = subprocess.run([sys.executable, str(CHILD), str(path)], capture_output=True,
                          text=True, timeout=60, check=True)
    steps = json.loads(done.stdout)
    # I expect the batch to fail while the disk is full and to succeed when retried
    assert steps == {"first": ["Ok"] * 3, "full": ["Retry"] * 3, "retried": ["Ok"] * 3}
    # and the file to hold each event once, whole, in order
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert [json.loads(line)["n"] for line in lines[:-1]] == [0, 1, 2, 3, 4, 5]


def test_a_line_torn_by_a_crash_is_cut_off_when_the_file_is_opened(tmp_path: Path) -> None:
    # Given a file whose last line a killed process left half written
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"n": 0}\n{"n": 1}\n{"n": 2, "pa')
    # When a new process appends a batch through the log target
    code = (
        "import asyncio, sys\n"
        "from clientevents.targets.log import LogTarget\n"
        "from clientevents.targets.queue import ClaimedDelivery\n"
        "d = ClaimedDelivery(target_key='b/r/t', bus='b', rule='r', target_id='t',\n"
        "    event_id='e', payload='{\"n\": 2}', event_time=0.0, enqueued_at=0.0)\n"
        "print(asyncio.run(LogTarget(__import__('pathlib').Path(sys.argv[1]))"
        ".send_batch([d])))\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=60,
                   capture_output=True)
    # I expect the torn half line to be gone, not joined to the new line
    assert path.read_bytes() == b'{"n": 0}\n{"n": 1}\n{"n": 2}\n'
