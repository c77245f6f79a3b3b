"""A process whose files may not grow past a size limit, writing through the ``log`` target.

Usage: ``python _fsize_log_child.py FILE``

The process's file-size limit (``RLIMIT_FSIZE``) stands in for a full disk: a write that would
pass the limit is cut short and the next one fails with ``EFBIG`` (Python ignores ``SIGXFSZ``),
as a write on a full disk is cut short and then fails with ``ENOSPC``.

1. A first batch is written with no limit.
2. The limit is set a few bytes past the file's end and a second, larger batch is sent: it
   must fail (``Retry``).
3. The limit is lifted and the same batch is sent again, as the dispatcher retries it.

Prints one JSON line: the outcomes' classes of each step.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
from pathlib import Path

from clientevents.targets.log import LogTarget
from clientevents.targets.queue import ClaimedDelivery


def _batch(first: int, count: int) -> list[ClaimedDelivery]:
    return [
        ClaimedDelivery(
            target_key="b/r/t", bus="b", rule="r", target_id="t", event_id=f"e{n}",
            payload=json.dumps({"n": n, "pad": "x" * 100}), event_time=0.0, enqueued_at=0.0,
            delivery_id=n,
        )
        for n in range(first, first + count)
    ]


async def main(path: Path) -> dict[str, list[str]]:
    target = LogTarget(path)
    steps: dict[str, list[str]] = {}
    steps["first"] = [type(o).__name__ for o in await target.send_batch(_batch(0, 3))]
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(path) + 50, hard))
    steps["full"] = [type(o).__name__ for o in await target.send_batch(_batch(3, 3))]
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    steps["retried"] = [type(o).__name__ for o in await target.send_batch(_batch(3, 3))]
    await target.close()
    return steps


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(Path(sys.argv[1])))))
