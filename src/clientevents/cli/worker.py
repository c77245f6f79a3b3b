"""``clientevents worker``: run the router, the dispatchers and log retention until SIGTERM.

The gateway (``clientevents serve``) starts one worker process beside itself; run it alone to
deliver what is already in the database, or to scale the gateway separately.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from clientevents.cli.options import setup_logging
from clientevents.cli.supervise import die_with_parent, started_by_serve
from clientevents.config import default_settings, load_config
from clientevents.errors import ConfigError, StoreError
from clientevents.log.retention import DEFAULT_RETENTION_SECS
from clientevents.logthrottle import LogThrottle
from clientevents.store import driver_errors
from clientevents.store.datadir import warn_if_wider

if TYPE_CHECKING:
    from clientevents.runtime import Runtime

__all__ = ["worker"]


@click.command("worker")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Configuration file [default: the embedded blueprint].")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of the database and local files [default: data_dir, ./data].")
@click.option("--log-retention-hours", type=click.FloatRange(min=0.0), default=None,
              envvar="CLIENTEVENTS_LOG_RETENTION_HOURS", show_envvar=True,
              help=f"Keep routed events in the log this long "
                   f"[default: {DEFAULT_RETENTION_SECS / 3600:g}].")
def worker(config_file: Path | None, data_dir: Path | None,
           log_retention_hours: float | None) -> None:
    """Route and deliver events until SIGTERM or SIGINT, then stop cleanly (logs go to
    standard error).

    \b
    Example:
      clientevents worker --data-dir data --config clientevents.yaml
    """
    from clientevents.runtime import Runtime, run_until_signalled

    die_with_parent()

    try:
        settings = load_config(config_file) if config_file else default_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    setup_logging()
    data_path = Path(data_dir) if data_dir is not None else Path(settings.data_dir)
    retention = (
        DEFAULT_RETENTION_SECS if log_retention_hours is None else log_retention_hours * 3600.0
    )
    if not started_by_serve():
        warn_if_wider(data_path)  # serve checked before it started this process
        # Other workers may run beside this one: API destinations' limits live in the store.
        from clientevents.ratelimit.shared import ENV_SHARED

        os.environ.setdefault(ENV_SHARED, "1")
    runtime = _open_runtime(lambda: Runtime(settings, data_path, log_retention_secs=retention,
                                            direct_streams=True))
    if runtime is None:
        return
    rules = len(settings.rules)
    targets = sum(len(rule.targets) for rule in settings.rules)
    logging.getLogger("clientevents.worker").info(
        "Workers started. data_dir=%s buses=%d rules=%d targets=%d pid=%d",
        data_path, len(settings.buses), rules, targets, os.getpid(),
    )
    run_until_signalled(runtime)


#: The first and the longest wait between two attempts to reach the store at start.
FIRST_BACKOFF_SECS = 0.5
MAX_BACKOFF_SECS = 30.0


def _open_runtime(build: Callable[[], Runtime]) -> Runtime | None:
    """Build the runtime; while the store cannot be reached (it is starting, it is down), wait
    and try again with a back-off, logging once an interval, rather than exit and be restarted
    in a loop. ``None`` when SIGTERM or SIGINT arrives meanwhile. A configuration error or a
    folder that cannot be used ends the command."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    throttle = LogThrottle(logging.getLogger("clientevents.worker"))
    backoff = FIRST_BACKOFF_SECS
    try:
        while True:
            try:
                return build()
            except (ConfigError, OSError) as exc:
                raise click.ClickException(f"Cannot start the workers: {exc}") from None
            except driver_errors(StoreError) as exc:
                throttle.error("open", "The store cannot be reached; the workers wait for it. "
                               "error=%s", exc)
            if stop.wait(backoff):
                return None
            backoff = min(backoff * 2, MAX_BACKOFF_SECS)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
