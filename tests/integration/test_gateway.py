"""The gateway over real HTTP on loopback: uvicorn in a thread, httpx and boto3 as clients.

One app serves the whole module: the built-in user pool, an external OpenID Connect issuer whose
JWKS is served on loopback (so tests can mint valid, expired and forged tokens with real RSA
keys), several stages, a JSON Schema, a stream with an API key, and the workers running in the
app so events reach the lake file and the stream.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from store_helpers import SharedBackend, with_test_storage

from clientevents.config import validate_settings
from clientevents.config.identity import DEFAULT_CLIENT_ID
from clientevents.server.app import create_app

pytestmark = pytest.mark.integration

#: The sample request in the exact wire format (five entries, one of each event type).
SAMPLE_FILE = Path(__file__).resolve().parents[2] / "examples" / "ingest-request.json"
MALFORMED_ENTRY = {
    "entry": '{"eventType": "shopping", "schemaVersion":1, "data": {"itemSku":123}}}'
}
BUS = "client_event_bus"
CORP_ISSUER = "https://idp.example"
STREAM_KEY = "stream-key-1"
ADMIN = {"access_key_id": "AKIDGATEWAYTEST", "secret_access_key": "gateway-test-secret"}
PASSWORD = "Passw0rd!-gateway"
ORIGIN = "https://app.example"

SEARCH_SCHEMA = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "type": "object",
            "required": ["searchTerm"],
            "properties": {"searchTerm": {"type": "string"}},
        }
    },
}


def sample_request() -> dict[str, Any]:
    """A fresh copy of the sample request body."""
    body: dict[str, Any] = json.loads(SAMPLE_FILE.read_text())
    return body


# -- an external issuer on loopback -----------------------------------------------------------


@dataclass
class Issuer:
    url: str
    key: rsa.RSAPrivateKey
    kid: str

    def token(self, *, sub: str = "corp-user-1", exp_in: float = 600.0, **extra: Any) -> str:
        now = time.time()
        claims = {"iss": CORP_ISSUER, "aud": "app", "sub": sub, "iat": int(now),
                  "exp": int(now + exp_in), **extra}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = "corp-key-1"
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    document = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Issuer(f"http://127.0.0.1:{server.server_address[1]}/jwks.json", key, kid)
    finally:
        server.shutdown()
        server.server_close()


# -- the gateway on loopback ------------------------------------------------------------------


class LiveServer:
    """uvicorn serving an app in a thread, on a free loopback port."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, loop="asyncio", http="httptools", ws="none",
                                lifespan="on", access_log=False, log_config=None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("The test server did not start.")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


@dataclass
class Live:
    url: str
    data_dir: Path
    http: httpx.Client
    cognito: Any
    admin: Any
    issuer: Issuer

    def sign_up(self, username: str) -> str:
        """Sign up, confirm with the code from the data folder, sign in: the access token."""
        self.cognito.sign_up(ClientId=DEFAULT_CLIENT_ID, Username=username, Password=PASSWORD,
                             UserAttributes=[{"Name": "email", "Value": f"{username}@ex.com"}])
        records = [json.loads(line) for line in
                   (self.data_dir / "codes" / "messages.jsonl").read_text().splitlines()]
        code = [r["code"] for r in records if r["username"] == username][-1]
        self.cognito.confirm_sign_up(ClientId=DEFAULT_CLIENT_ID, Username=username,
                                     ConfirmationCode=code)
        answer = self.cognito.initiate_auth(
            ClientId=DEFAULT_CLIENT_ID, AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
        token: str = answer["AuthenticationResult"]["AccessToken"]
        return token

    def ingest(self, token: str | None, body: Any, stage: str = "prod",
               headers: dict[str, str] | None = None) -> httpx.Response:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            sent["Authorization"] = token
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.http.post(f"/{stage}/event", content=content, headers=sent)


def _settings(data_dir: Path, issuer: Issuer) -> Any:
    return validate_settings(with_test_storage({
        "data_dir": str(data_dir),
        "server": {"cors_allowed_origins": [ORIGIN]},
        "stages": [
            {"name": "prod", "bus": BUS, "environment": "prod",
             "rate_limit": {"requests_per_sec": 1000.0, "burst": 1000}},
            {"name": "pool_only", "bus": BUS, "environment": "staging",
             "allowed_issuers": ["user_pool"], "rate_limit": None},
            {"name": "tight", "bus": BUS, "environment": "tight",
             "rate_limit": {"requests_per_sec": 0.01, "burst": 2}},
        ],
        "schemas": [{"event_type": "searching", "schema_version": 1, "schema": SEARCH_SCHEMA}],
        "buses": [{"name": BUS}],
        "rules": [
            {"name": "to_lake", "bus": BUS, "event_pattern": {"source": ["clientevents"]},
             "targets": [{"id": "lake", "type": "log", "path": "lake/events.jsonl",
                          "input_transformer": {"input_paths_map": {},
                                                "input_template": "<aws.events.event.json>\n"}}]},
            {"name": "clicks", "bus": BUS, "event_pattern": {"detail": {"eventType": ["click"]}},
             "targets": [{"id": "s", "type": "stream", "stream": "clicks",
                          "input_path": "$.detail"}]},
        ],
        "streams": [{"name": "clicks", "api_keys": [STREAM_KEY], "visibility_timeout_secs": 30}],
        "identity": {
            "user_pool": {"enabled": True},
            "issuers": [{"name": "corp", "issuer": CORP_ISSUER, "jwks_url": issuer.url,
                         "audience": ["app"], "algorithms": ["RS256"],
                         "client_id_claim": "sub"}],
            "admin": ADMIN,
        },
    }), file="<test>", environ={})


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, issuer: Issuer,
         shared_backend: SharedBackend) -> Iterator[Live]:
    data_dir = tmp_path_factory.mktemp("gateway") / "data"
    app = create_app(_settings(data_dir, issuer), data_dir=data_dir, run_workers=True)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        common = {"endpoint_url": server.url, "region_name": "local"}
        cognito = boto3.client("cognito-idp", aws_access_key_id="x", aws_secret_access_key="x",
                               **common)
        admin = boto3.client("cognito-idp", aws_access_key_id=ADMIN["access_key_id"],
                             aws_secret_access_key=ADMIN["secret_access_key"], **common)
        yield Live(server.url, data_dir, http, cognito, admin, issuer)


@pytest.fixture(scope="module")
def token(live: Live) -> str:
    return live.sign_up("alice")


def _message(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"message"}, body
    message: str = body["message"]
    return message


# -- the happy path ---------------------------------------------------------------------------


def test_sample_request_is_accepted_with_bare_and_bearer_tokens(live: Live, token: str) -> None:
    for auth in (token, f"Bearer {token}"):
        response = live.ingest(auth, sample_request())
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["FailedEntryCount"] == 0
        assert len(body["Entries"]) == 5
        assert all(set(e) == {"EventId"} for e in body["Entries"])
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-amzn-RequestId"]


def test_malformed_entry_fails_alone_in_request_order(live: Live, token: str) -> None:
    body = sample_request()
    body["entries"].insert(2, MALFORMED_ENTRY)
    response = live.ingest(token, body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["FailedEntryCount"] == 1
    assert len(answer["Entries"]) == 6
    assert answer["Entries"][2]["ErrorCode"] == "MalformedDetail"
    assert "not valid JSON" in answer["Entries"][2]["ErrorMessage"]
    ok = [e for i, e in enumerate(answer["Entries"]) if i != 2]
    assert all("EventId" in e for e in ok)


def test_events_reach_the_lake_as_envelopes(live: Live, token: str) -> None:
    marker = str(uuid.uuid4())
    entries = [{"entry": json.dumps({"eventType": "marker", "marker": marker})},
               {"entry": {"eventType": "marker", "marker": marker, "as": "object"}}]
    answer = live.ingest(token, {"entries": entries}).json()
    ids = [e["EventId"] for e in answer["Entries"]]
    lake = live.data_dir / "lake" / "events.jsonl"
    found: dict[str, Any] = {}
    deadline = time.monotonic() + 20
    while len(found) < 2 and time.monotonic() < deadline:
        if lake.exists():
            for line in lake.read_text().splitlines():
                event = json.loads(line)
                if event["id"] in ids:
                    found[event["id"]] = event
        time.sleep(0.1)
    assert sorted(found) == sorted(ids)
    claims = jwt.decode(token, options={"verify_signature": False})
    for event in found.values():
        assert event["version"] == "0"
        assert event["source"] == "clientevents"
        assert event["detail-type"] == "prod"
        assert event["account"] == "000000000000"
        assert event["region"] == "local"
        assert event["resources"] == [claims.get("custom:clientId") or event["resources"][0]]
        assert event["detail"]["marker"] == marker
    assert {e["detail"].get("as") for e in found.values()} == {None, "object"}


def test_entries_may_be_objects_and_detail_type_follows_the_stage(live: Live, token: str) -> None:
    response = live.ingest(token, {"entries": [{"entry": {"eventType": "x"}}]},
                           stage="pool_only")
    assert response.status_code == 200
    assert response.json()["FailedEntryCount"] == 0


def test_missing_content_type_is_accepted(live: Live, token: str) -> None:
    response = live.http.post("/prod/event", content=json.dumps(sample_request()),
                              headers={"Authorization": token})
    assert response.status_code == 200


# -- request-level errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "empty"),
        (b"{nope", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b"{}", 'no "entries"'),
        (b'{"entries": {"entry": "{}"}}', "must be an array"),
        (b'{"entries": []}', "is empty"),
        (json.dumps({"entries": [{"entry": "{}"}] * 11}).encode(), "at most 10"),
        (b'{"entries": ["{}"]}', "entries[0] must be an object"),
        (b'{"entries": [{"entry": "{}"}, {"data": "{}"}]}', 'entries[1] has no "entry"'),
    ],
)
def test_bad_bodies_are_400(live: Live, token: str, body: bytes, fragment: str) -> None:
    response = live.ingest(token, body)
    assert response.status_code == 400
    assert fragment in _message(response)


def test_missing_and_malformed_tokens_are_401(live: Live) -> None:
    for auth in (None, "", "Bearer", "Bearer not-a-jwt", "a.b.c", "Basic dXNlcjpwYXNz"):
        response = live.ingest(auth, sample_request())
        assert response.status_code == 401, (auth, response.text)
        assert _message(response)


def test_forged_token_is_401(live: Live, token: str) -> None:
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert live.ingest(forged, sample_request()).status_code == 401
    # Claims changed under the original signature.
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["custom:clientId"] = "someone-else"
    other = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    assert live.ingest(f"{header}.{other}.{signature}", sample_request()).status_code == 401
    # A token signed by a key nobody published.
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    strange = jwt.encode(claims, stranger, algorithm="RS256",
                         headers={"kid": jwt.get_unverified_header(token).get("kid", "k")})
    assert live.ingest(strange, sample_request()).status_code == 401


def test_external_issuer_tokens_work_and_expired_ones_are_401(live: Live) -> None:
    good = live.issuer.token()
    assert live.ingest(good, sample_request()).status_code == 200
    expired = live.issuer.token(exp_in=-3600)
    response = live.ingest(expired, sample_request())
    assert response.status_code == 401
    assert "expired" in _message(response).lower()


def test_issuer_not_allowed_on_stage_is_403(live: Live, token: str) -> None:
    response = live.ingest(live.issuer.token(), sample_request(), stage="pool_only")
    assert response.status_code == 403
    assert "corp" in _message(response)
    assert live.ingest(token, sample_request(), stage="pool_only").status_code == 200


def test_disabled_user_is_403(live: Live) -> None:
    bob = live.sign_up("bob")
    assert live.ingest(bob, sample_request()).status_code == 200
    live.admin.admin_disable_user(UserPoolId="local_clientevents", Username="bob")
    response = live.ingest(bob, sample_request())
    assert response.status_code == 403
    assert _message(response)


def test_unknown_stage_is_404_and_wrong_method_405(live: Live, token: str) -> None:
    response = live.ingest(token, sample_request(), stage="nope")
    assert response.status_code == 404
    assert "nope" in _message(response)
    response = live.http.get("/prod/event", headers={"Authorization": token})
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]
    assert "POST" in _message(response)
    assert live.http.get("/no/such/route/here").status_code == 404


def test_body_over_1_mib_is_413_with_or_without_content_length(live: Live, token: str) -> None:
    big = b'{"entries": [{"entry": "' + b"x" * (1024 * 1024) + b'"}]}'
    response = live.ingest(token, big)
    assert response.status_code == 413
    assert "1048576" in _message(response)

    def chunks() -> Iterator[bytes]:
        yield b'{"entries": [{"entry": "'
        for _ in range(40):
            yield b"y" * 32768
        yield b'"}]}'

    response = live.http.post("/prod/event", content=chunks(),
                              headers={"Authorization": token,
                                       "Content-Type": "application/json"})
    assert response.status_code == 413


def test_entry_over_256_kib_is_a_per_entry_error(live: Live, token: str) -> None:
    large = json.dumps({"eventType": "big", "blob": "z" * (256 * 1024)})
    body = {"entries": [{"entry": large}, sample_request()["entries"][0]]}
    response = live.ingest(token, body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["FailedEntryCount"] == 1
    assert answer["Entries"][0]["ErrorCode"] == "InvalidArgument"
    assert "262144" in answer["Entries"][0]["ErrorMessage"]
    assert "EventId" in answer["Entries"][1]


def test_non_json_content_type_is_415(live: Live, token: str) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = live.ingest(token, sample_request(), headers={"Content-Type": content_type})
        assert response.status_code == 415
        assert "application/json" in _message(response)


def test_rate_limit_is_429_with_retry_after(live: Live) -> None:
    carol = live.sign_up("carol")
    statuses = [live.ingest(carol, sample_request(), stage="tight").status_code
                for _ in range(3)]
    assert statuses == [200, 200, 429]
    response = live.ingest(carol, sample_request(), stage="tight")
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert "tight" in _message(response)
    # Another client has its own bucket.
    assert live.ingest(live.issuer.token(sub="corp-2"), sample_request(),
                       stage="tight").status_code == 200


# -- schemas ----------------------------------------------------------------------------------


def test_schema_validation_names_the_failing_field(live: Live, token: str) -> None:
    good = {"eventType": "searching", "schemaVersion": 1, "data": {"searchTerm": "games"}}
    bad = {"eventType": "searching", "schemaVersion": 1, "data": {"searchTerm": 42}}
    other_version = {"eventType": "searching", "schemaVersion": 2, "data": {"searchTerm": 42}}
    body = {"entries": [{"entry": json.dumps(e)} for e in (good, bad, other_version)]}
    answer = live.ingest(token, body).json()
    assert answer["FailedEntryCount"] == 1
    assert "EventId" in answer["Entries"][0]
    assert answer["Entries"][1]["ErrorCode"] == "SchemaValidationFailed"
    assert "/data/searchTerm" in answer["Entries"][1]["ErrorMessage"]
    assert "EventId" in answer["Entries"][2]


# -- CORS, health, metrics --------------------------------------------------------------------


def test_cors_preflight_and_answers(live: Live, token: str) -> None:
    preflight = live.http.options("/prod/event", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "POST" in preflight.headers["access-control-allow-methods"]
    response = live.ingest(token, sample_request(), headers={"Origin": ORIGIN})
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "x-amzn-requestid" in response.headers["access-control-expose-headers"].lower()
    refused = live.http.options("/prod/event", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


def test_health_and_ready(live: Live) -> None:
    assert live.http.get("/health").json() == {"status": "ok"}
    ready = live.http.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["log"]["last_seq"] >= 0
    assert body["store"]["tables"] > 0


def test_metrics_count_requests_entries_and_auth_failures(live: Live, token: str) -> None:
    body = sample_request()
    body["entries"].append(MALFORMED_ENTRY)
    live.ingest(token, body)
    live.ingest("Bearer garbage", body)
    text = live.http.get("/metrics").text
    assert 'clientevents_http_requests_total{method="POST",route="/{stage}/event",status="200"}' \
        in text
    assert 'clientevents_ingest_entries_total{reason="ok",result="accepted",stage="prod"}' in text
    assert ('clientevents_ingest_entries_total{reason="malformed_detail",result="rejected",'
            'stage="prod"}') in text
    assert 'clientevents_auth_failures_total{reason="malformed"}' in text
    assert 'clientevents_http_request_duration_seconds_bucket{le="0.005",route="/{stage}/event"}' \
        in text
    # The pipeline's state follows the gateway's own figures.
    assert 'clientevents_consumer_lag_seconds{bus=' in text
    assert 'clientevents_delivery_pending{target=' in text
    assert 'clientevents_deliveries_total{outcome="delivered",target=' in text


def test_openapi_document_is_served(live: Live) -> None:
    doc = live.http.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "/{stage}/event" in doc["paths"]


# -- streams ----------------------------------------------------------------------------------


def test_stream_consumer_reads_long_polls_and_acks(live: Live, token: str) -> None:
    key = {"X-Api-Key": STREAM_KEY}
    first = live.http.post("/streams/clicks/read", headers=key,
                           json={"group": "g1", "max_records": 10, "wait_secs": 0,
                                 "start": "latest"})
    assert first.status_code == 200
    assert first.json() == {"records": []}
    marker = str(uuid.uuid4())
    live.ingest(token, {"entries": [{"entry": json.dumps({"eventType": "click", "m": marker})}]})
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while not records and time.monotonic() < deadline:
        records = live.http.post("/streams/clicks/read", headers=key, json={
            "group": "g1", "max_records": 10, "wait_secs": 5}).json()["records"]
    assert len(records) == 1
    assert json.loads(records[0]["payload"])["m"] == marker
    assert records[0]["delivery_count"] == 1
    acked = live.http.post("/streams/clicks/ack", headers=key,
                           json={"group": "g1", "ids": [records[0]["id"]]})
    assert acked.json() == {"acked": 1}
    again = live.http.post("/streams/clicks/read", headers=key,
                           json={"group": "g1", "wait_secs": 0.2})
    assert again.json() == {"records": []}


def test_stream_api_refuses_bad_keys_and_requests(live: Live) -> None:
    body = {"group": "g2"}
    assert live.http.post("/streams/clicks/read", json=body).status_code == 401
    assert live.http.post("/streams/clicks/read", json=body,
                          headers={"X-Api-Key": "wrong"}).status_code == 403
    assert live.http.post("/streams/nope/read", json=body,
                          headers={"X-Api-Key": STREAM_KEY}).status_code == 404
    for bad in ({"group": ""}, {"group": "g", "max_records": 0}, {"group": "g", "wait_secs": 99},
                {"group": "g", "start": "yesterday"}, {}):
        response = live.http.post("/streams/clicks/read", json=bad,
                                  headers={"X-Api-Key": STREAM_KEY})
        assert response.status_code == 400, bad
        assert _message(response)
    response = live.http.post("/streams/clicks/ack", json={"group": "g", "ids": ["x"]},
                              headers={"X-Api-Key": STREAM_KEY})
    assert response.status_code == 400
