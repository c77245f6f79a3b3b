"""The outbound address guard: names, redirects and the address actually connected to."""

from __future__ import annotations

import asyncio
import typing
from collections.abc import Iterator
from pathlib import Path

import httpcore
import pytest
from api_helpers import BASIC, Answer, Call, Harness, api_settings, pipeline, recording_server

from clientevents.targets.api_destination import AddressNotAllowed, AddressPolicy
from clientevents.targets.api_destination.guard import GuardedBackend


@pytest.fixture
def harnesses() -> Iterator[list[Harness]]:
    made: list[Harness] = []
    yield made
    for harness in made:
        harness.close()


def _run(harnesses: list[Harness], tmp_path: Path, text: str) -> Harness:
    harness = Harness(api_settings(text, TOKEN="zendesk-token"), tmp_path)
    harnesses.append(harness)
    harness.publish({"n": 1})
    harness.drain()
    return harness


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_is_refused_by_default_even_through_a_name(
    harnesses: list[Harness], tmp_path: Path, host: str
) -> None:
    with recording_server() as server:
        text = pipeline(f"http://{host}:{server.port}/x", connection=BASIC, allow="[]")
        harness = _run(harnesses, tmp_path, text)
    assert server.calls == []
    [dead] = harness.dead_letters()
    assert dead["error_code"] == "AddressNotAllowed" and dead["exhausted"] == "Permanent"
    assert "loopback" in dead["error_message"]
    assert "allow_private_networks" in dead["error_message"]
    if host == "localhost":
        assert "'localhost' resolves to" in dead["error_message"]


def _redirect_to(location: str) -> typing.Callable[[Call], Answer]:
    def handler(call: Call) -> Answer:
        if call.path == "/start":
            return 302, {"Location": location}, b""
        return 201, {}, b""
    return handler


def test_a_redirect_to_the_metadata_address_is_refused(
    harnesses: list[Harness], tmp_path: Path
) -> None:
    with recording_server(_redirect_to("http://169.254.169.254/latest/meta-data/")) as server:
        harness = _run(harnesses, tmp_path, pipeline(f"{server.url}/start", connection=BASIC))
    assert [c.path for c in server.calls] == ["/start"]
    [dead] = harness.dead_letters()
    assert dead["error_code"] == "AddressNotAllowed"
    assert "169.254.169.254 (a link-local address)" in dead["error_message"]


def test_a_same_origin_redirect_is_followed_with_the_credentials_and_a_303_becomes_get(
    harnesses: list[Harness], tmp_path: Path
) -> None:
    with recording_server(_redirect_to("/moved")) as server:
        _run(harnesses, tmp_path, pipeline(f"{server.url}/start", connection=BASIC))
    _start, moved = server.calls
    assert (moved.method, moved.path) == ("GET", "/moved")  # 302 after POST: GET, no body
    assert moved.body == b"" and moved.headers["authorization"].startswith("Basic ")


def test_a_redirect_to_another_origin_drops_the_connection_credentials(
    harnesses: list[Harness], tmp_path: Path
) -> None:
    with recording_server(lambda call: (201, {}, b"")) as other:
        location = f"http://localhost:{other.port}/elsewhere"

        def handler(call: Call) -> Answer:
            return 307, {"Location": location}, b""

        with recording_server(handler) as server:
            text = pipeline(f"{server.url}/start", connection=BASIC)
            harness = _run(harnesses, tmp_path, text)
    [moved] = other.calls
    assert moved.method == "POST" and moved.json()["detail"] == {"n": 1}  # 307 keeps both
    assert "authorization" not in moved.headers
    assert moved.headers["x-clientevents-event-id"]
    assert harness.dead_letters() == []


def test_too_many_redirects_are_dead_lettered(harnesses: list[Harness], tmp_path: Path) -> None:
    with recording_server(lambda call: (302, {"Location": "/again"}, b"")) as server:
        text = pipeline(f"{server.url}/start", connection=BASIC,
                        destination="    max_redirects: 2")
        harness = _run(harnesses, tmp_path, text)
    assert len(server.calls) == 3
    [dead] = harness.dead_letters()
    assert dead["error_code"] == "HTTP302" and "not followed" in dead["error_message"]


class _ElsewhereBackend(httpcore.AsyncNetworkBackend):
    """Connects to 127.0.0.1 whatever it is asked: a name answering differently at connect time
    than when it was checked."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable[typing.Any] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        return await self.inner.connect_tcp("127.0.0.1", port, timeout=timeout)


def test_the_address_actually_connected_to_is_checked() -> None:
    async def connect(port: int) -> None:
        backend = GuardedBackend(AddressPolicy(["127.0.0.2/32"]), inner=_ElsewhereBackend())
        await backend.connect_tcp("127.0.0.2", port)

    with recording_server() as server, pytest.raises(AddressNotAllowed, match=r"127\.0\.0\.1"):
        asyncio.run(connect(server.port))


@pytest.mark.parametrize(
    ("address", "refused"),
    [("8.8.8.8", None), ("10.1.2.3", "private"), ("172.16.0.1", "private"),
     ("192.168.1.1", "private"), ("169.254.169.254", "link-local"), ("::1", "loopback"),
     ("fd00::1", "private"), ("::ffff:10.0.0.1", "private"), ("224.0.0.1", "multicast"),
     ("0.0.0.0", "unspecified"), ("100.64.0.1", "not publicly routable")],
)
def test_the_default_policy(address: str, refused: str | None) -> None:
    reason = AddressPolicy().refusal(address)
    assert (reason is None) if refused is None else (reason is not None and refused in reason)
    assert AddressPolicy(["0.0.0.0/0", "::/0"]).refusal(address) is None
