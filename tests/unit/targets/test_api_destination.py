"""The api_destination target against a real HTTP server on loopback."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import BASIC, Answer, Call, Harness, api_settings, pipeline, recording_server

from clientevents import __version__


@pytest.fixture
def harnesses() -> Iterator[list[Harness]]:
    made: list[Harness] = []
    yield made
    for harness in made:
        harness.close()


def _harness(harnesses: list[Harness], tmp_path: Path, text: str, **env: str) -> Harness:
    harness = Harness(api_settings(text, **env), tmp_path)
    harnesses.append(harness)
    return harness


def test_a_delivery_is_one_call_with_basic_auth_event_id_and_user_agent(
    harnesses: list[Harness], tmp_path: Path
) -> None:
    with recording_server() as server:
        text = pipeline(f"{server.url}/api/v2/tickets.json", connection=BASIC,
                        target="        input_path: $.detail.ticket")
        harness = _harness(harnesses, tmp_path, text, TOKEN="zendesk-token")
        [event_id] = harness.publish({"ticket": {"ticket": {"subject": "hi"}}})
        assert harness.drain() == 1
    [call] = server.calls
    assert (call.method, call.path) == ("POST", "/api/v2/tickets.json")
    assert call.json() == {"ticket": {"subject": "hi"}}
    expected = base64.b64encode(b"agent:zendesk-token").decode()
    assert call.headers["authorization"] == f"Basic {expected}"
    assert call.headers["x-clientevents-event-id"] == event_id
    assert call.headers["user-agent"] == f"clientevents/{__version__}"
    assert call.headers["content-type"] == "application/json; charset=utf-8"
    assert harness.queued() == 0 and harness.dead_letters() == []


def test_path_header_and_query_parameters_from_the_event_and_the_connection(
    harnesses: list[Harness], tmp_path: Path
) -> None:
    connection = """    authorization_type: api_key
    api_key: {name: x-api-key, value: "${env:KEY}"}
    invocation_http_parameters:
      header_parameters: [{key: X-Team, value: support}]
      query_string_parameters:
        - {key: tenant, value: acme}
        - {key: sig, value: "${env:SIG}", is_value_secret: true}
      body_parameters: [{key: source_system, value: clientevents}]"""
    target = """        http_parameters:
          path_parameter_values: [$.detail.shop, fixed]
          header_parameters: {X-Kind: $.detail.kind, X-Static: yes-static, X-Team: ignored}
          query_string_parameters: {tenant: overridden, page: $.detail.page, gone: $.detail.nope}"""
    with recording_server() as server:
        text = pipeline(f"{server.url}/shops/*/orders/*?v=2", connection=connection,
                        target=target)
        harness = _harness(harnesses, tmp_path, text, KEY="api-key-1234", SIG="sig-5678")
        harness.publish({"shop": "a b/c", "kind": "order", "page": 3})
        assert harness.drain() == 1
    [call] = server.calls
    assert call.path == "/shops/a%20b%2Fc/orders/fixed"
    assert call.query == {"v": "2", "tenant": "acme", "page": "3", "sig": "sig-5678"}
    assert call.headers["x-api-key"] == "api-key-1234"
    assert call.headers["x-kind"] == "order" and call.headers["x-static"] == "yes-static"
    assert call.headers["x-team"] == "support"  # the connection wins over the target
    body = call.json()
    assert body["source_system"] == "clientevents" and body["detail"]["shop"] == "a b/c"


def test_a_missing_path_parameter_is_dead_lettered_at_routing(
    harnesses: list[Harness], tmp_path: Path
) -> None:
    target = """        http_parameters: {path_parameter_values: [$.detail.id]}"""
    with recording_server() as server:
        text = pipeline(f"{server.url}/items/*", connection=BASIC, target=target)
        harness = _harness(harnesses, tmp_path, text, TOKEN="zendesk-token")
        harness.publish({"other": 1})
        assert harness.drain() == 0
    assert server.calls == []
    [dead] = harness.dead_letters()
    assert dead["exhausted"] == "TransformError" and "$.detail.id" in dead["error_message"]


def _answer(status: int, headers: dict[str, str] | None = None,
            body: bytes = b"") -> Answer:
    return status, headers or {}, body


@pytest.mark.parametrize(
    ("status", "retried"),
    [(401, True), (407, True), (409, True), (429, True), (500, True), (503, True),
     (400, False), (403, False), (404, False), (422, False)],
)
def test_each_status_class_is_retried_or_dead_lettered_at_once(
    harnesses: list[Harness], tmp_path: Path, status: int, retried: bool
) -> None:
    answers = iter([_answer(status, body=b"nope " * 100), _answer(201)])
    with recording_server(lambda call: next(answers)) as server:
        harness = _harness(harnesses, tmp_path, pipeline(f"{server.url}/x", connection=BASIC),
                           TOKEN="zendesk-token")
        harness.publish({"n": 1})
        harness.drain()
        harness.drain()
    if retried:
        assert len(server.calls) == 2 and harness.dead_letters() == []
    else:
        assert len(server.calls) == 1
        [dead] = harness.dead_letters()
        assert dead["exhausted"] == "Permanent" and dead["error_code"] == f"HTTP{status}"
        assert f"HTTP {status}" in dead["error_message"] and "nope" in dead["error_message"]
        assert len(dead["error_message"]) < 400
    assert harness.queued() == 0


def test_retry_after_sets_the_next_attempt_and_a_negative_one_stops_retries(
    harnesses: list[Harness], tmp_path: Path
) -> None:
    answers = iter([_answer(429, {"Retry-After": "120"}), _answer(503, {"Retry-After": "-1"})])
    with recording_server(lambda call: next(answers)) as server:
        harness = _harness(harnesses, tmp_path, pipeline(f"{server.url}/x", connection=BASIC),
                           TOKEN="zendesk-token")
        harness.publish({"n": 1})
        harness.drain()
        due = harness.db.read(lambda c: c.execute("SELECT due_at FROM deliveries").fetchone())
        assert due is not None and due[0] > harness.options.clock() + 100
        harness.db.write(lambda c: c.execute("UPDATE deliveries SET due_at = 0"))
        harness.drain()
    assert len(server.calls) == 2
    [dead] = harness.dead_letters()
    assert dead["error_code"] == "HTTP503" and "negative Retry-After" in dead["error_message"]


def test_a_slow_answer_times_out_and_is_retried(harnesses: list[Harness], tmp_path: Path) -> None:
    with recording_server() as server:
        server.delay_secs = 1.0
        text = pipeline(f"{server.url}/x", connection=BASIC, destination="    timeout_secs: 0.2")
        harness = _harness(harnesses, tmp_path, text, TOKEN="zendesk-token")
        harness.publish({"n": 1})
        harness.drain()
        row = harness.db.read(lambda c: c.execute(
            "SELECT attempts, last_error_code, last_error_message FROM deliveries").fetchone())
    assert row[0] == 1 and row[1] == "Timeout" and "0.2 s" in row[2]


def test_a_refused_connection_is_retried(harnesses: list[Harness], tmp_path: Path) -> None:
    with recording_server() as server:
        url = server.url
    harness = _harness(harnesses, tmp_path, pipeline(f"{url}/x", connection=BASIC),
                       TOKEN="zendesk-token")
    harness.publish({"n": 1})
    harness.drain()
    row = harness.db.read(lambda c: c.execute(
        "SELECT attempts, last_error_code FROM deliveries").fetchone())
    assert row == (1, "ConnectionError")


def test_get_sends_no_body_and_any_method_but_connect_and_trace_is_accepted(
    harnesses: list[Harness], tmp_path: Path
) -> None:
    with recording_server(lambda call: _answer(200)) as server:
        text = pipeline(f"{server.url}/x", connection=BASIC, destination="    http_method: GET")
        harness = _harness(harnesses, tmp_path, text, TOKEN="zendesk-token")
        harness.publish({"n": 1})
        harness.drain()
    [call] = server.calls
    assert call.method == "GET" and call.body == b""
    with pytest.raises(Exception, match=r"CONNECT|http_method"):
        api_settings(pipeline("http://127.0.0.1:1/x", connection=BASIC,
                              destination="    http_method: CONNECT"), TOKEN="t")


def _echo_headers(call: Call) -> Answer:
    return 400, {}, repr(call.headers).encode() + repr(call.query).encode()


def test_an_answer_echoing_the_credentials_does_not_put_them_in_the_dead_letter(
    harnesses: list[Harness], tmp_path: Path
) -> None:
    connection = """    authorization_type: basic
    basic: {username: agent, password: "${env:TOKEN}"}
    invocation_http_parameters:
      query_string_parameters: [{key: sig, value: "${env:SIG}", is_value_secret: true}]"""
    with recording_server(_echo_headers) as server:
        text = pipeline(f"{server.url}/x", connection=connection)
        harness = _harness(harnesses, tmp_path, text, TOKEN="very-secret-token", SIG="sig-secret")
        harness.publish({"n": 1})
        harness.drain()
    [dead] = harness.dead_letters()
    text = repr(dead)
    assert "very-secret-token" not in text and "sig-secret" not in text
    assert base64.b64encode(b"agent:very-secret-token").decode() not in text
    assert "***" in text


def _oauth(token_url: str, extra: str = "") -> str:
    return f"""    authorization_type: oauth_client_credentials
    oauth:
      authorization_endpoint: "{token_url}"
      client_id: my-client
      client_secret: "${{env:CLIENT_SECRET}}"
      oauth_http_parameters:
        body_parameters: [{{key: scope, value: tickets}}]
{extra}"""


def test_oauth_token_is_fetched_cached_and_refreshed_after_a_401(
    harnesses: list[Harness], tmp_path: Path
) -> None:
    tokens = iter(["token-one-aaaa", "token-two-bbbb"])
    api_answers = iter([201, 201, 401, 201])

    def handler(call: Call) -> Answer:
        if call.path == "/oauth/token":
            body = b'{"access_token": "%s", "token_type": "Bearer", "expires_in": 3600}'
            return 200, {"Content-Type": "application/json"}, body % next(tokens).encode()
        return next(api_answers), {}, b""

    with recording_server(handler) as server:
        text = pipeline(f"{server.url}/api", connection=_oauth(f"{server.url}/oauth/token"))
        harness = _harness(harnesses, tmp_path, text, CLIENT_SECRET="client-secret-xyz")
        harness.publish({"n": 1}, {"n": 2})
        harness.drain()
        harness.publish({"n": 3})
        harness.drain()   # answered 401: retried with a new token
        harness.drain()
    token_calls = [c for c in server.calls if c.path == "/oauth/token"]
    api_calls = [c for c in server.calls if c.path == "/api"]
    assert len(token_calls) == 2 and len(api_calls) == 4
    first = token_calls[0]
    assert first.method == "POST"
    form = dict(pair.split("=") for pair in first.body.decode().split("&"))
    assert form == {"grant_type": "client_credentials", "scope": "tickets"}
    client = base64.b64encode(b"my-client:client-secret-xyz").decode()
    assert first.headers["authorization"] == f"Basic {client}"
    assert [c.headers["authorization"] for c in api_calls] == [
        "Bearer token-one-aaaa", "Bearer token-one-aaaa", "Bearer token-one-aaaa",
        "Bearer token-two-bbbb"]
    assert harness.queued() == 0


def test_a_refused_client_deauthorizes_the_connection_and_deliveries_wait(
    harnesses: list[Harness], tmp_path: Path
) -> None:
    from clientevents.targets.api_destination import read_states

    refuse = [True]

    def handler(call: Call) -> Answer:
        if call.path == "/oauth/token":
            if refuse[0]:
                return 401, {}, b'{"error": "invalid_client"}'
            return 200, {}, b'{"access_token": "good-token-1", "expires_in": 60}'
        return 201, {}, b""

    with recording_server(handler) as server:
        text = pipeline(f"{server.url}/api", connection=_oauth(f"{server.url}/oauth/token"))
        harness = _harness(harnesses, tmp_path, text, CLIENT_SECRET="client-secret-xyz")
        harness.publish({"n": 1})
        assert harness.drain() == 0
        state = read_states(harness.db)["c"]
        assert state.state == "DEAUTHORIZED"
        assert "refused the client: HTTP 401" in state.reason and "invalid_client" in state.reason
        # The delivery waits unclaimed: no attempt spent, nothing dead-lettered.
        row = harness.db.read(lambda c: c.execute("SELECT attempts FROM deliveries").fetchone())
        assert row == (0,) and harness.dead_letters() == []
        refuse[0] = False
        destination = next(iter(harness.context.shared.values()))
        destination.authorizer._next_check_at = 0.0  # the re-check is due
        assert harness.drain() == 1
    assert read_states(harness.db)["c"].state == "AUTHORIZED"
    assert [c.path for c in server.calls].count("/api") == 1
