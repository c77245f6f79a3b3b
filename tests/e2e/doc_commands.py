"""The commands of the README and the docs, as a reader would run them.

A page's code blocks are fenced and tagged: ```` ```sh ```` blocks are commands to run in a
shell, ```` ```console ```` blocks show ``$ command`` lines each followed by its exact output,
```` ```python ```` blocks are programs, and ```` ```text ```` blocks are output only. The tests
pick blocks by page and ``##`` section, so a changed walkthrough needs no change here unless it
gains a new kind of step.

A reader's working folder is modelled by :func:`reader_workdir`: a fresh folder holding links to
the repository's ``scripts``, ``examples``, ``src``, ``pyproject.toml`` and ``.venv``, so that
``./data`` and every file a command writes land in a temporary folder, while the code is read
from where the page says.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: What a reader's folder links to in the repository.
LINKED = ("scripts", "examples", "src", "pyproject.toml", ".venv", "README.md", "docs")

_FENCE = re.compile(r"^```([A-Za-z0-9_+-]*)\s*$")


@dataclass(frozen=True)
class Block:
    """A fenced code block: its tag, text, ``##`` section and first line number."""

    lang: str
    text: str
    section: str
    line: int


def blocks(page: Path) -> list[Block]:
    """Every fenced code block of a Markdown page, in order."""
    found: list[Block] = []
    section = ""
    lang: str | None = None
    start = 0
    body: list[str] = []
    for number, line in enumerate(page.read_text().splitlines(), start=1):
        if lang is None:
            if line.startswith("## "):
                section = line[3:].strip()
            opened = _FENCE.match(line)
            if opened:
                lang, start, body = opened.group(1), number + 1, []
        elif line.startswith("```"):
            found.append(Block(lang, "\n".join(body) + "\n", section, start))
            lang = None
        else:
            body.append(line)
    return found


def section_blocks(page: Path, section: str, lang: str) -> list[Block]:
    """The blocks tagged ``lang`` of one ``##`` section (which must exist and hold some)."""
    chosen = [b for b in blocks(page) if b.section == section and b.lang == lang]
    assert chosen, f"{page.name} has no {lang!r} blocks in section {section!r}"
    return chosen


def commands(block: Block) -> list[str]:
    """The shell commands of a ``sh`` block: continuation lines joined, comments dropped."""
    result: list[str] = []
    pending = ""
    for line in block.text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line + "\n"
            continue
        result.append(pending + line)
        pending = ""
    assert not pending, f"block at line {block.line} ends with a continuation"
    return result


def console_steps(block: Block) -> list[tuple[str, str]]:
    """``(command, expected output)`` pairs of a ``console`` block."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"console block at line {block.line} starts with output"
            steps[-1][1].append(line)
    return [(command, "".join(out + "\n" for out in output)) for command, output in steps]


def reader_workdir(folder: Path) -> Path:
    """A reader's working folder: links to the repository's parts, nothing else."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        (folder / name).symlink_to(REPO / name)
    return folder


def reader_env(**extra: str) -> dict[str, str]:
    """The environment of a reader who put ``.venv/bin`` on the ``PATH``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLIENTEVENTS_", "AWS_"))}
    env["PATH"] = f"{REPO / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def shell_script(steps: list[str], *, attempts: int = 25, pause_secs: float = 0.4) -> str:
    """A bash script running ``steps`` in order in one shell (variables carry over).

    A step that fails is tried again after a pause, as a reader looks again a moment later
    (the workers deliver asynchronously); one that keeps failing stops the script, naming it.
    Each step's standard output is framed by ``@@step N`` lines.
    """
    lines = [
        "set -uo pipefail",
        "step() {",
        '  local n="$1" text="$2" i',
        f"  for i in $(seq 1 {attempts}); do",
        # The marker starts a line even after output without a final newline (curl -s).
        "    printf '\\n@@step %s\\n' \"$n\"",
        '    if eval "$text"; then return 0; fi',
        f"    sleep {pause_secs}",
        "  done",
        '  printf "step %s failed: %s\\n" "$n" "$text" >&2',
        "  exit 1",
        "}",
    ]
    for n, text in enumerate(steps):
        lines.append(f"step {n} {shlex.quote(text)}")
    return "\n".join(lines) + "\n"


def step_outputs(stdout: str) -> dict[int, str]:
    """The output of each step's last attempt (stripped), from the script's standard output."""
    outputs: dict[int, str] = {}
    current: int | None = None
    for line in stdout.splitlines(keepends=True):
        if line.startswith("@@step "):
            current = int(line.split()[1])
            outputs[current] = ""
        elif current is not None:
            outputs[current] += line
    return {n: text.strip() for n, text in outputs.items()}
