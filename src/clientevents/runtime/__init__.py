"""The runtime: configuration to running components (publisher, router, dispatchers, log
retention), and running the workers as a process."""

from __future__ import annotations

from clientevents.runtime.lifecycle import run_until_signalled
from clientevents.runtime.runtime import DB_FILE, Runtime, default_dispatch_options

__all__ = ["DB_FILE", "Runtime", "default_dispatch_options", "run_until_signalled"]
