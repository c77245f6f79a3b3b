"""LogThrottle: the first occurrence in full, then one line per interval with a count."""

from __future__ import annotations

import logging

import pytest

from clientevents.logthrottle import LogThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_repeats_are_counted_and_reported_once_an_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    throttle = LogThrottle(logging.getLogger("test.throttle"), interval_secs=10, clock=clock)
    with caplog.at_level(logging.ERROR, logger="test.throttle"):
        # Given 1,000 identical failures within 9.9 s
        for i in range(1000):
            clock.now = i * 0.0099
            throttle.error("append", "Appending failed. error=%s", "disk full")
        # I expect one line
        assert _lines(caplog) == ["Appending failed. error=disk full"]
        # When it happens again after the interval, one line with the count held back
        clock.now = 10.5
        assert throttle.error("append", "Appending failed. error=%s", "disk full")
        assert _lines(caplog)[-1] == (
            "Appending failed. error=disk full (and 999 more like it in 10 s)")


def test_keys_are_throttled_independently(caplog: pytest.LogCaptureFixture) -> None:
    throttle = LogThrottle(logging.getLogger("test.throttle"), clock=Clock())
    with caplog.at_level(logging.WARNING, logger="test.throttle"):
        assert throttle.warning("a", "A failed.")
        assert throttle.warning("b", "B failed.")
        assert not throttle.warning("a", "A failed.")
    assert _lines(caplog) == ["A failed.", "B failed."]


def test_flush_reports_what_is_held_back(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    throttle = LogThrottle(logging.getLogger("test.throttle"), clock=clock)
    with caplog.at_level(logging.ERROR, logger="test.throttle"):
        for _ in range(4):
            throttle.error("x", "X failed. n=%d", 1)
        clock.now = 3.0
        assert throttle.flush() == 3
        assert _lines(caplog) == ["X failed. n=1", "X failed. n=1 (and 2 more like it in 3 s)"]
        # a key flushed starts afresh
        assert throttle.error("x", "X failed. n=%d", 2)
        assert throttle.flush() == 0


def test_the_traceback_comes_with_the_first_line_only(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    throttle = LogThrottle(logging.getLogger("test.throttle"), interval_secs=1, clock=clock)
    with caplog.at_level(logging.ERROR, logger="test.throttle"):
        for step in range(3):
            clock.now = step * 0.6
            try:
                raise OSError("no space left on device")
            except OSError:
                throttle.error("loop", "Loop failed.", exc_info=True)
    assert [r.exc_info is not None for r in caplog.records] == [True, False]
