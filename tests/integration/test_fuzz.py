"""No client input makes the gateway answer 500: Hypothesis generates requests.

Requests go straight into the ASGI app (no sockets: hundreds of examples a second). Each
example picks a method, a path (real routes, unknown stages, odd text), headers (a valid token,
garbage tokens, every kind of Content-Type, stream keys, Cognito targets) and a body (valid
ingest requests, almost-valid ones built from arbitrary JSON, or arbitrary bytes). Every answer
must be below 500, and every 4xx must be JSON with a ``message`` (the Cognito API answers its own
``{"__type", "message"}`` shape).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from store_helpers import SharedBackend, with_test_storage

from clientevents.config import validate_settings
from clientevents.config.identity import DEFAULT_CLIENT_ID
from clientevents.server.app import close_app, create_app

pytestmark = pytest.mark.integration

BUS = "client_event_bus"
STREAM_KEY = "fuzz-key"
PASSWORD = "Fuzz-passw0rd!"


@dataclass
class Answer:
    """What the app sent back for one request."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class InProcess:
    """Drives the ASGI app directly: any path, header or body bytes reach it unchanged."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()

    def request(self, method: str, path: str, headers: dict[str, str],
                content: bytes | None, chunks: int = 1) -> Answer:
        return self.loop.run_until_complete(self._request(method, path, headers, content, chunks))

    async def _request(self, method: str, path: str, headers: dict[str, str],
                       content: bytes | None, chunks: int) -> Answer:
        raw_path, _, query = path.partition("?")
        raw_headers = [(k.lower().encode("latin-1"), v.encode("utf-8", "surrogateescape"))
                       for k, v in headers.items()]
        if content is not None and chunks == 1:
            raw_headers.append((b"content-length", str(len(content)).encode()))
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": raw_path,
            "raw_path": raw_path.encode("utf-8", "surrogateescape"), "root_path": "",
            "query_string": query.encode("utf-8", "surrogateescape"), "headers": raw_headers,
            "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 80),
        }
        body = content or b""
        size = max(1, -(-len(body) // max(1, chunks)))
        parts = [body[i:i + size] for i in range(0, len(body), size)] or [b""]
        messages = [{"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
                    for i, part in enumerate(parts)]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await asyncio.sleep(3600)  # like a server: nothing more until the client leaves
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        return Answer(
            start["status"],
            {k.decode("latin-1"): v.decode("latin-1") for k, v in start.get("headers", [])},
            b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"),
        )

    def close(self) -> None:
        self.loop.close()


def _cognito(app: InProcess, target: str, body: dict[str, Any]) -> dict[str, Any]:
    response = app.request("POST", "/", {
        "Host": "fuzz", "X-Amz-Target": f"AWSCognitoIdentityProviderService.{target}",
        "Content-Type": "application/x-amz-json-1.1"}, json.dumps(body).encode())
    assert response.status == 200, response.body
    answer: dict[str, Any] = response.json()
    return answer


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory,
        shared_backend: SharedBackend) -> Iterator[InProcess]:
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    config = validate_settings(with_test_storage({
        "data_dir": str(data_dir),
        "server": {"cors_allowed_origins": ["https://app.example"], "access_log": False},
        "stages": [{"name": "prod", "bus": BUS, "environment": "prod",
                    "rate_limit": {"requests_per_sec": 1e6, "burst": 1_000_000}}],
        "schemas": [{"event_type": "searching", "schema": {
            "type": "object", "properties": {"data": {"type": "object", "required": ["q"]}}}}],
        "buses": [{"name": BUS}],
        "streams": [{"name": "clicks", "api_keys": [STREAM_KEY]}],
        "identity": {"user_pool": {"enabled": True}},
    }), file="<fuzz>", environ={})
    starlette_app = create_app(config, data_dir=data_dir)
    driver = InProcess(starlette_app)
    try:
        yield driver
    finally:
        driver.close()
        close_app(starlette_app)


@pytest.fixture(scope="module")
def token(app: InProcess, tmp_path_factory: pytest.TempPathFactory) -> str:
    data_dir = Path(app.app.state.gateway.data_dir)
    _cognito(app, "SignUp", {"ClientId": DEFAULT_CLIENT_ID, "Username": "fuzzer",
                             "Password": PASSWORD,
                             "UserAttributes": [{"Name": "email", "Value": "f@example.com"}]})
    lines = (data_dir / "codes" / "messages.jsonl").read_text().splitlines()
    code = json.loads(lines[-1])["code"]
    _cognito(app, "ConfirmSignUp", {"ClientId": DEFAULT_CLIENT_ID, "Username": "fuzzer",
                                    "ConfirmationCode": code})
    answer = _cognito(app, "InitiateAuth", {
        "ClientId": DEFAULT_CLIENT_ID, "AuthFlow": "USER_PASSWORD_AUTH",
        "AuthParameters": {"USERNAME": "fuzzer", "PASSWORD": PASSWORD}})
    access: str = answer["AuthenticationResult"]["AccessToken"]
    return access


# -- strategies -------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)
detail_objects = st.dictionaries(
    st.sampled_from(["eventType", "schemaVersion", "data", "x"]) | st.text(max_size=6),
    json_values, max_size=5,
)
entry_values = st.one_of(
    detail_objects.map(json.dumps),        # the blueprint's shape: JSON text of an object
    detail_objects,                         # an object in place of the text
    json_values.map(json.dumps),            # JSON text of anything
    st.text(max_size=40),                   # not JSON at all
    json_values,
    st.just('{"eventType": "shopping", "schemaVersion":1, "data": {"itemSku":123}}}'),
    st.just("[" * 80 + "]" * 80),
    st.just(json.dumps({"eventType": "searching", "data": {"q": 1}})),
    st.just(json.dumps({"eventType": "searching", "data": 5})),
)
good_items = st.fixed_dictionaries({"entry": entry_values})
items = st.one_of(
    good_items,
    st.dictionaries(st.text(max_size=6), json_values, max_size=3),
    json_values,
)
ingest_docs = st.one_of(
    # Mostly well-formed requests (so entries reach validation and the log) ...
    st.fixed_dictionaries({"entries": st.lists(good_items, min_size=1, max_size=10)}),
    st.fixed_dictionaries({"entries": st.lists(good_items, min_size=1, max_size=10)}),
    # ... and every way a request can be wrong.
    st.fixed_dictionaries({"entries": st.lists(items, min_size=0, max_size=12)}),
    st.dictionaries(st.sampled_from(["entries", "Entries", "entry"]), json_values, max_size=2),
    json_values,
)
stream_docs = st.dictionaries(
    st.sampled_from(["group", "max_records", "wait_secs", "start", "ids"]),
    json_values | st.sampled_from(["oldest", "latest", "g1", 0.01, 1]), max_size=5,
)
bodies = st.one_of(
    ingest_docs.map(lambda d: json.dumps(d).encode()),
    stream_docs.map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=200),
    st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.none(),
)
known_paths = st.sampled_from([
        "/prod/event", "/staging/event", "/prod/event/", "/prod", "/", "/health", "/ready",
        "/metrics", "/openapi.json", "/streams/clicks/read", "/streams/clicks/ack",
        "/streams/nope/read", "/local_clientevents/.well-known/jwks.json",
        "/local_clientevents/.well-known/openid-configuration", "/%00/event", "/prod/event?x=1",
])
paths = st.one_of(
    known_paths, known_paths, known_paths, st.just("/prod/event"), st.just("/prod/event"),
    st.text(max_size=20).map(lambda t: "/" + t),
    st.text(max_size=12).map(lambda t: f"/{t}/event"),
)
header_values = st.text(max_size=40)
content_types = st.one_of(
    st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain",
                     "application/x-amz-json-1.1", "multipart/form-data", "", "*/*"]),
    header_values,
)
targets = st.sampled_from([
    "AWSCognitoIdentityProviderService.SignUp", "AWSCognitoIdentityProviderService.InitiateAuth",
    "AWSCognitoIdentityProviderService.GetUser", "AWSCognitoIdentityProviderService.Nope", "x",
])


@st.composite
def requests(draw: st.DrawFn, token: str) -> tuple[str, str, dict[str, str], bytes | None, int]:
    method = draw(st.sampled_from(["POST"] * 8 + ["GET", "GET", "PUT", "DELETE", "OPTIONS",
                                   "HEAD", "BREW"]))
    path = draw(paths)
    headers: dict[str, str] = {}
    auth = draw(st.sampled_from(["valid", "bearer", "none", "garbage", "truncated"]))
    if auth == "valid":
        headers["Authorization"] = token
    elif auth == "bearer":
        headers["Authorization"] = f"Bearer {token}"
    elif auth == "garbage":
        headers["Authorization"] = draw(header_values)
    elif auth == "truncated":
        headers["Authorization"] = token[: draw(st.integers(0, len(token)))]
    if draw(st.booleans()):
        headers["Content-Type"] = draw(content_types)
    if draw(st.booleans()):
        headers["X-Api-Key"] = draw(st.sampled_from([STREAM_KEY, "nope"]) | header_values)
    if path == "/" and draw(st.booleans()):
        headers["X-Amz-Target"] = draw(targets)
    if method == "OPTIONS" and draw(st.booleans()):
        headers["Origin"] = draw(st.sampled_from(["https://app.example", "https://x.example"]))
        headers["Access-Control-Request-Method"] = draw(st.sampled_from(["POST", "GET", "X"]))
    return method, path, headers, draw(bodies), draw(st.integers(1, 4))


def _check(response: Answer, request: tuple[Any, ...]) -> None:
    assert response.status < 500, (request, response.status, response.body)
    if 400 <= response.status < 500 and response.headers.get(
        "content-type", ""
    ).startswith("application/") and response.body:
        body = response.json()
        assert isinstance(body.get("message"), str), (request, body)
    assert "x-amzn-requestid" in response.headers


@settings(max_examples=600, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_request_gets_a_500(app: InProcess, token: str, data: st.DataObject) -> None:
    method, path, headers, body, chunks = data.draw(requests(token))
    response = app.request(method, path, headers, body, chunks)
    event(f"status {response.status}")
    _check(response, (method, path, headers, body, chunks))


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(doc=ingest_docs)
def test_authenticated_ingest_bodies_never_500(app: InProcess, token: str, doc: Any) -> None:
    response = app.request("POST", "/prod/event", {"Authorization": f"Bearer {token}",
                                                   "Content-Type": "application/json"},
                           json.dumps(doc).encode())
    _check(response, (doc,))
    event(f"status {response.status}")
    if response.status == 200:
        answer = response.json()
        entries = doc["entries"]
        assert len(answer["Entries"]) == len(entries)
        assert answer["FailedEntryCount"] == sum("EventId" not in e for e in answer["Entries"])
