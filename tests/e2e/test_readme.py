"""The README's commands, and the docs' where they can run here, work as written.

The README's quick start is run as a reader runs it: ``bash scripts/serve.sh`` in one terminal
(with ``--port`` added: the README says the script passes its arguments on, and the tests must
not take the machine's port 8080), and every ``sh`` block of the section in order in a second
shell at the repository root, with the port in its URLs changed to match. Then the pipeline's
results the page describes are checked (:func:`check_walkthrough_results`: change it when the
walkthrough's destinations change). The README's Python examples and ``console`` examples run
too, the latter compared with the output the page shows.

Docs whose commands run against a local service (the identity and archive pages) go through
the same runner (:data:`DOC_SECTIONS`).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
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

pytestmark = [pytest.mark.integration, pytest.mark.slow]

README = REPO / "README.md"
QUICK_START = "Quick start: send your first events"
SERVE_SCRIPT = "scripts/serve.sh"

#: Doc sections whose ``sh`` blocks run against one fresh service, in this order, each section in
#: a new shell (as a reader in a new terminal): (page, section); ``""`` is the part of a page
#: before its first ``##`` heading.
DOC_SECTIONS: list[tuple[str, str]] = [
    ("docs/identity.md", "The newcomer flow with the aws CLI"),
    ("docs/identity.md", "Admin operations and the admin key"),
    ("docs/archives.md", ""),
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


def check_walkthrough_results(data_dir: Path, url: str, accepted: set[str]) -> None:
    """What the quick start says the pipeline does with the events it sent: each accepted event
    in a lake object, transformed (the clientId in ``detail.accountNumber``), and the loyalty
    purchases' tickets in the built-in inbox."""
    deadline = time.monotonic() + 60
    events: dict[str, dict[str, Any]] = {}
    tickets: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        events = {e["id"]: e for e in lake_events(data_dir)}
        tickets = httpx.get(f"{url}/inbox/tickets", timeout=5).json()["tickets"]
        loyalty = [i for i in accepted & set(events)
                   if events[i]["detail"]["eventType"] == "loyaltypurchase"]
        if accepted <= set(events) and len(tickets) >= len(loyalty):
            break
        time.sleep(0.2)
    assert accepted <= set(events), "the accepted events did not reach the lake objects"
    client_ids = {events[i]["detail"]["accountNumber"] for i in accepted}
    assert len(client_ids) == 1
    assert all(events[i]["resources"] == [] for i in accepted)
    assert {events[i]["source"] for i in accepted} == {"clientevents"}
    assert [t["request"] for t in tickets] == [{"ticket": {
        "subject": "Loyalty customer purchase",
        "comment": {"body": "This customer has made a loyalty purchase"}}}] * len(loyalty)
    assert loyalty and {t["event_id"] for t in tickets} == set(loyalty)


def test_the_readme_quick_start_runs_as_written(
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
    answers = [json.loads(out) for out in outputs.values() if '"FailedEntryCount"' in out]
    assert [a["FailedEntryCount"] for a in answers] == [0, 1]
    assert len(answers[0]["Entries"]) == 5
    assert answers[1]["Entries"][1]["ErrorCode"] == "MalformedDetail"
    assert '{"status":"ok"}' in outputs.values()
    assert any(out.startswith('{"status":"ready"') for out in outputs.values())
    accepted = {e["EventId"] for a in answers for e in a["Entries"] if "EventId" in e}
    check_walkthrough_results(service.workdir / "data", service.url, accepted)
    assert service.stop() == 0


@pytest.mark.parametrize("section", ["The rule language as a library", "Publishing from Python"])
def test_the_readme_python_examples_run(tmp_path: Path, section: str) -> None:
    workdir = reader_workdir(tmp_path / "reader")
    for block in section_blocks(README, section, "python"):
        done = subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-c", block.text],
                              cwd=workdir, env=reader_env(), capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, f"README.md line {block.line}:\n{done.stderr}"


def test_the_readme_console_examples_print_what_they_show(tmp_path: Path) -> None:
    workdir = reader_workdir(tmp_path / "reader")
    examples = [b for b in blocks(README) if b.lang == "console"]
    assert examples
    for block in examples:
        for command, expected in console_steps(block):
            done = subprocess.run(["bash", "-c", command], cwd=workdir, env=reader_env(),
                                  capture_output=True, text=True, timeout=120)
            assert done.stdout == expected, f"README.md line {block.line}: {command}"


def test_the_docs_commands_run_as_written(
    quick_start: tuple[ReaderService, list[Block]],
) -> None:
    service, _ = quick_start
    printed = ""
    for page, section in DOC_SECTIONS:
        steps = [command for block in section_blocks(REPO / page, section, "sh")
                 for command in commands(block)]
        printed += "".join(run_session(service, steps).values())
    assert '"Username": "alice"' in printed  # admin-get-user and list-users
    assert '"ReplayName": "fix-42"' in printed
