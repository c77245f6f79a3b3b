"""Bounded body reading and the Content-Type rule, driven through the ASGI protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from starlette.types import Message, Scope

from clientevents.server.body import (
    ClientDisconnected,
    check_json_content_type,
    read_body,
)
from clientevents.server.errors import RequestRejected


def _scope(headers: list[tuple[bytes, bytes]]) -> Scope:
    return {"type": "http", "method": "POST", "path": "/prod/event", "headers": headers}


def _receiver(messages: list[Message]) -> tuple[Callable[[], Awaitable[Message]], list[int]]:
    served = [0]

    async def receive() -> Message:
        served[0] += 1
        return messages.pop(0)

    return receive, served


def _chunks(*parts: bytes) -> list[Message]:
    return [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]


def test_reads_a_body_in_one_or_many_chunks() -> None:
    receive, _ = _receiver(_chunks(b'{"entries"'))
    assert asyncio.run(read_body(_scope([]), receive, 100)) == b'{"entries"'
    receive, _ = _receiver(_chunks(b"ab", b"", b"cd", b"e"))
    assert asyncio.run(read_body(_scope([]), receive, 5)) == b"abcde"


def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    receive, served = _receiver(_chunks(b"x" * 10))
    with pytest.raises(RequestRejected) as info:
        asyncio.run(read_body(_scope([(b"content-length", b"11")]), receive, 10))
    assert info.value.status == 413
    assert "larger than 10 bytes" in info.value.message
    assert served[0] == 0


def test_undeclared_body_is_cut_as_soon_as_it_passes_the_limit() -> None:
    # The third chunk would cross the limit: the fourth is never asked for.
    receive, served = _receiver(_chunks(b"aaaa", b"bbbb", b"cccc", b"dddd"))
    with pytest.raises(RequestRejected) as info:
        asyncio.run(read_body(_scope([]), receive, 10))
    assert info.value.status == 413
    assert served[0] == 3


def test_a_lying_content_length_does_not_help() -> None:
    receive, _ = _receiver(_chunks(b"a" * 8, b"b" * 8))
    with pytest.raises(RequestRejected):
        asyncio.run(read_body(_scope([(b"content-length", b"4")]), receive, 10))


def test_disconnect_while_reading() -> None:
    receive, _ = _receiver([{"type": "http.request", "body": b"ab", "more_body": True},
                            {"type": "http.disconnect"}])
    with pytest.raises(ClientDisconnected):
        asyncio.run(read_body(_scope([]), receive, 10))


@pytest.mark.parametrize(
    "value",
    [None, b"application/json", b"application/json; charset=utf-8", b"Application/JSON",
     b"application/vnd.clientevents+json"],
)
def test_json_content_types_are_accepted(value: bytes | None) -> None:
    headers = [] if value is None else [(b"content-type", value)]
    check_json_content_type(_scope(headers))


@pytest.mark.parametrize(
    "value", [b"text/plain", b"application/x-www-form-urlencoded", b"multipart/form-data", b""]
)
def test_other_content_types_are_415(value: bytes) -> None:
    with pytest.raises(RequestRejected) as info:
        check_json_content_type(_scope([(b"content-type", value)]))
    assert info.value.status == 415
    assert "application/json" in info.value.message
