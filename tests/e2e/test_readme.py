"""The README's commands, and the docs' where they can run here, work as written.

The README's walkthrough is run as a reader runs it: ``bash scripts/serve.sh`` in one terminal
(with ``--port`` added: the README says the script passes its arguments on, and the tests must
not take the machine's port 8080), and every ``sh`` block of the section in order in a second
shell at the repository root, each command a subprocess of that shell, with the port in its URLs
changed to match. Then the pipeline's results the page describes are checked against what the
commands printed (:func:`check_walkthrough_results`: the lake's objects, the inbox's tickets
and the generator's summary; change it when the walkthrough's destinations change). The Python
examples (``docs/library.md``) and ``console`` examples (``docs/cli.md``) run too,
the latter compared with the output the page shows.

Docs whose commands run against a local service (the identity and archive pages) go through
the same runner (:data:`DOC_SECTIONS`).
"""

from __future__ import annotations

import json
import re
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from doc_commands import (
    REPO,
    Block,
    blocks,
    commands,
    console_steps,
    reader_env,
    reader_workdir,
    section_blocks,
    shell_script,
    step_outputs,
)
from gateway_process import lake_events

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.own_backend]

README = REPO / "README.md"
QUICK_START = "Five-minute walkthrough"
SERVE_SCRIPT = "scripts/serve.sh"
LIBRARY = REPO / "docs" / "library.md"
#: Pages whose ``console`` blocks are run and compared with the output they show.
CONSOLE_PAGES = [REPO / "docs" / "cli.md"]

#: Doc sections whose ``sh`` blocks run against one fresh service, in this order, each section in
#: a new shell (as a reader in a new terminal): (page, section); ``""`` is the part of a page
#: before its first ``##`` heading.
DOC_SECTIONS: list[tuple[str, str]] = [
    ("docs/identity.md", "The newcomer flow with the aws CLI"),
    ("docs/identity.md", "Admin operations and the admin key"),
    ("docs/archives.md", ""),
    ("docs/operations.md", "Backing up the data directory"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def localize(text: str, port: int) -> str:
    """The page's text with its default port replaced by the test service's."""
    return text.replace("127.0.0.1:8080", f"127.0.0.1:{port}")


class ReaderService:
    """The README's serve command, run in a reader's folder in the background."""

    def __init__(self, workdir: Path, command: str) -> None:
        assert SERVE_SCRIPT in command, command
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            ["bash", "-c", f"{command.strip()} --port {self.port}"], cwd=workdir,
            env=reader_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        self.stderr: list[str] = []
        self.stdout: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [threading.Thread(target=self.stderr.extend, args=(self.proc.stderr,),
                                          daemon=True)]
        self._readers[0].start()
        banner: list[str] = []
        for line in self.proc.stdout:
            banner.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        self.banner = "".join(banner)
        self._readers.append(threading.Thread(target=self.stdout.extend,
                                              args=(self.proc.stdout,), daemon=True))
        self._readers[1].start()
        deadline = time.monotonic() + 60
        while not self._ready():
            assert self.proc.poll() is None, "".join(self.stderr)
            assert time.monotonic() < deadline, "the service did not become ready"
            time.sleep(0.1)

    def _ready(self) -> bool:
        try:
            ready = httpx.get(self.url + "/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
        return ready and any("Workers started." in line for line in self.stderr)

    def stop(self) -> int:
        """Ctrl-C, as the README says; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=60)
        for reader in self._readers:
            reader.join(timeout=10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return code


@pytest.fixture
def quick_start(tmp_path: Path) -> Iterator[tuple[ReaderService, list[Block]]]:
    """The README's service started as the quick start says, and the section's other blocks."""
    sh = section_blocks(README, QUICK_START, "sh")
    serve_block, *rest = sh
    (command,) = commands(serve_block)
    service = ReaderService(reader_workdir(tmp_path / "reader"), command)
    try:
        yield service, rest
    finally:
        service.stop()


def run_session(service: ReaderService, steps: list[str]) -> dict[int, str]:
    """Run ``steps`` in one shell in the reader's folder; their outputs by step number."""
    script = shell_script([localize(step, service.port) for step in steps])
    done = subprocess.run(["bash", "-c", script], cwd=service.workdir, env=reader_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{done.stderr}\n--- output ---\n{done.stdout}"
    return step_outputs(done.stdout)


def generator_summary(text: str) -> dict[str, str]:
    """The generator's summary table (``Accepted  36``...) as a mapping."""
    lines = text.splitlines()
    start = lines.index("Summary")
    summary: dict[str, str] = {}
    for line in lines[start + 1:]:
        name, _, value = line.partition("  ")
        if not value.strip():
            break
        summary[name.strip()] = value.strip()
    return summary


def check_walkthrough_results(data_dir: Path, url: str, sample: set[str],
                              generated: int) -> list[dict[str, Any]]:
    """What the walkthrough says the pipeline does with the events it sent: the sample's and
    the generator's accepted events in the lake objects once each, transformed (the user's
    clientId in ``detail.accountNumber``), and a ticket in the built-in inbox for each loyalty
    purchase. Returns the lake's events."""
    deadline = time.monotonic() + 60
    events: dict[str, dict[str, Any]] = {}
    tickets: list[dict[str, Any]] = []
    loyalty: set[str] = set()
    while time.monotonic() < deadline:
        events = {e["id"]: e for e in lake_events(data_dir)}
        tickets = httpx.get(f"{url}/inbox/tickets", params={"limit": 1000},
                            timeout=5).json()["tickets"]
        loyalty = {i for i, e in events.items() if e["detail"]["eventType"] == "loyaltypurchase"}
        if len(events) >= len(sample) + generated and len(tickets) >= len(loyalty):
            break
        time.sleep(0.2)
    assert sample <= set(events), "the sample's events did not reach the lake objects"
    assert len(events) == len(sample) + generated, "the lake does not hold every accepted event"
    assert len({e["detail"]["accountNumber"] for e in events.values()}) == 1  # alice's clientId
    assert all(e["resources"] == [] and e["source"] == "clientevents" for e in events.values())
    assert [t["request"] for t in tickets] == [{"ticket": {
        "subject": "Loyalty customer purchase",
        "comment": {"body": "This customer has made a loyalty purchase"}}}] * len(loyalty)
    assert loyalty and {t["event_id"] for t in tickets} == loyalty
    return list(events.values())


def test_the_readme_walkthrough_runs_as_written(
    quick_start: tuple[ReaderService, list[Block]],
) -> None:
    service, rest = quick_start
    # The banner has every line the README shows (values differ: ports, keys, pids)
    shown = section_blocks(README, QUICK_START, "text")[0].text
    labels = [line.split("  ")[0].strip() for line in shown.splitlines()[1:-1]]
    for label in labels:
        assert f"  {label} " in service.banner, (label, service.banner)
    # Every command of the walkthrough runs, in order, in one shell
    steps = [command for block in rest for command in commands(block)]
    outputs = run_session(service, steps)
    printed = list(outputs.values())
    # The confirmation code came from the data folder, where the README says it is.
    code_step = steps.index("clientevents users code alice")
    assert outputs[code_step].isdigit() and len(outputs[code_step]) == 6
    # The sample request: five entries accepted.
    [answer] = [json.loads(out) for out in printed if out.startswith('{"FailedEntryCount"')]
    assert answer["FailedEntryCount"] == 0 and len(answer["Entries"]) == 5
    sample = {e["EventId"] for e in answer["Entries"]}
    # The generator's summary: 5 requests of 5 entries, the malformed ones refused alone.
    [report] = [out for out in printed if out.startswith("Summary")]
    summary = generator_summary(report)
    assert summary["Users"] == "1" and summary["Requests"] == "5"
    assert summary["Entries sent"] == "25" and summary["Skipped"] == "0"
    accepted = int(summary["Accepted"])
    rejected = 25 - accepted
    assert 0 < accepted <= 25
    assert summary["Rejected"] == (f"{rejected} (MalformedDetail {rejected})" if rejected
                                   else "0 (none)")
    events = check_walkthrough_results(service.workdir / "data", service.url, sample, accepted)
    # tail printed five of them, one line each; the lake printed a loyalty purchase.
    [tailed] = [out for out in printed if out.count("  prod  ") == 5]
    assert {line.split()[4] for line in tailed.splitlines()} <= {e["id"] for e in events}
    assert any('"eventType": "loyaltypurchase"' in out and '"accountNumber"' in out
               for out in printed)
    assert '{"status":"ok"}' in printed
    assert any(out.startswith('{"status":"ready"') for out in printed)
    assert service.stop() == 0


@pytest.mark.parametrize("section", ["The rule language as a library", "Publishing from Python"])
def test_the_library_examples_run(tmp_path: Path, section: str) -> None:
    workdir = reader_workdir(tmp_path / "reader")
    for block in section_blocks(LIBRARY, section, "python"):
        done = subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-c", block.text],
                              cwd=workdir, env=reader_env(), capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, f"{LIBRARY.name} line {block.line}:\n{done.stderr}"


@pytest.mark.parametrize("page", CONSOLE_PAGES, ids=lambda p: p.name)
def test_the_console_examples_print_what_they_show(tmp_path: Path, page: Path) -> None:
    workdir = reader_workdir(tmp_path / "reader")
    examples = [b for b in blocks(page) if b.lang == "console"]
    assert examples
    for block in examples:
        for command, expected in console_steps(block):
            done = subprocess.run(["bash", "-c", command], cwd=workdir, env=reader_env(),
                                  capture_output=True, text=True, timeout=120)
            assert done.stdout == expected, f"{page.name} line {block.line}: {command}"


def test_the_docs_commands_run_as_written(
    quick_start: tuple[ReaderService, list[Block]],
) -> None:
    service, _ = quick_start
    printed = ""
    for page, section in DOC_SECTIONS:
        steps = [command for block in section_blocks(REPO / page, section, "sh")
                 for command in commands(block)]
        printed += "\n".join(run_session(service, steps).values()) + "\n"
    assert '"Username": "alice"' in printed  # admin-get-user and list-users
    assert re.search(r"^ReplayName +fix-42$", printed, flags=re.MULTILINE)  # replay start
    # The backup is a database holding what the service holds.
    backup = service.workdir / "backup"
    with closing(sqlite3.connect(backup / "clientevents.db")) as copy:
        assert copy.execute("SELECT count(*) FROM users").fetchone()[0] >= 1
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert json.loads((backup / "admin-credentials.json").read_text())
