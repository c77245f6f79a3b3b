"""``clientevents worker`` waits for a store it cannot reach at start instead of exiting."""

from __future__ import annotations

import logging
import sqlite3

import click
import pytest

from clientevents.cli import worker as worker_module
from clientevents.errors import ConfigError, StoreError


def test_the_worker_waits_for_the_store_and_logs_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(worker_module, "FIRST_BACKOFF_SECS", 0.001)
    failures = [StoreError("connection refused"), sqlite3.OperationalError("unable to open"),
                StoreError("connection refused")]

    def build() -> str:
        if failures:
            raise failures.pop(0)
        return "runtime"

    with caplog.at_level(logging.ERROR, logger="clientevents.worker"):
        assert worker_module._open_runtime(build) == "runtime"  # type: ignore[arg-type,comparison-overlap]
    lines = [r for r in caplog.records if "cannot be reached" in r.getMessage()]
    assert len(lines) == 1  # once per interval, not once per attempt


def test_a_configuration_error_still_ends_the_worker() -> None:
    def build() -> None:
        raise ConfigError("storage.postgres.dsn: missing")

    with pytest.raises(click.ClickException, match="Cannot start the workers"):
        worker_module._open_runtime(build)  # type: ignore[arg-type]
