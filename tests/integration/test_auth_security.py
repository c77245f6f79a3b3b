"""Forged, stale and misdirected tokens are refused over real HTTP.

A Starlette app on 127.0.0.1 mounts the identity routes and one protected route that calls the
authenticator, as the gateway does. Two external OpenID Connect issuers are served by a tiny
HTTP server in this module: one found through discovery, one through its JWKS URL; the tests
rotate their keys. The service runs on a clock the tests can move forward, so the JWKS refetch
rate limit (10 s) is exercised without waiting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import boto3
import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from store_helpers import SharedBackend, open_storage_store

from clientevents.config.identity import AdminCredentials, IdentitySettings, IssuerConfig
from clientevents.identity import AuthError, IdentityService
from clientevents.identity.notifier import latest_code

pytestmark = pytest.mark.integration

POOL_ID = "local_clientevents"
CLIENT_ID = "clientevents-local-app"
ADMIN = AdminCredentials(access_key_id="AKCESECURITYTEST0001", secret_access_key="security/secret")
PASSWORD = "Passw0rd!"


class MovableClock:
    """Real time plus an offset the tests can increase."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(data: dict[str, Any]) -> str:
    return b64(json.dumps(data, separators=(",", ":")).encode())


# -- external issuers on loopback ---------------------------------------------------------------


@dataclass
class ExternalIssuer:
    """An OpenID Connect provider: discovery document, JWKS, and token minting."""

    base: str
    path: str
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    jwks_requests: int = 0

    @property
    def issuer(self) -> str:
        return f"{self.base}/{self.path}"

    def add_key(self) -> str:
        kid = uuid.uuid4().hex[:12]
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return kid

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def token(self, kid: str, *, exp_in: float = 600.0, **claims: Any) -> str:
        """A token signed by key ``kid``; ``claims`` override, add or (``None``) drop claims."""
        now = time.time()
        body = {"iss": self.issuer, "aud": "corp-app", "sub": "corp-user-1",
                "iat": int(now), "exp": int(now + exp_in), **claims}
        body = {name: value for name, value in body.items() if value is not None}
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})


class _IdpHandler(BaseHTTPRequestHandler):
    issuers: ClassVar[dict[str, ExternalIssuer]] = {}

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/", 1)
        issuer = self.issuers.get(parts[0])
        if issuer is None:
            return self._send(404, {"message": "no such issuer"})
        rest = parts[1] if len(parts) > 1 else ""
        if rest == ".well-known/openid-configuration":
            return self._send(200, {"issuer": issuer.issuer,
                                    "jwks_uri": f"{issuer.issuer}/keys.json"})
        if rest == "keys.json":
            issuer.jwks_requests += 1
            return self._send(200, issuer.jwks())
        return self._send(404, {"message": "not found"})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def idp() -> Iterator[dict[str, ExternalIssuer]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _IdpHandler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    issuers = {name: ExternalIssuer(base, name) for name in ("corp", "partner", "cognito")}
    for issuer in issuers.values():
        issuer.add_key()
    _IdpHandler.issuers = issuers
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield issuers
    server.shutdown()
    server.server_close()


# -- the service under test ---------------------------------------------------------------------


@dataclass
class App:
    url: str
    data_dir: Path
    service: IdentityService
    clock: MovableClock

    def get(self, token: str | None = None, *, header: str | None = None) -> httpx.Response:
        headers = {}
        if header is not None:
            headers["Authorization"] = header
        elif token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.get(f"{self.url}/protected", headers=headers)

    def cognito(self, **kwargs: Any) -> Any:
        return boto3.client("cognito-idp", endpoint_url=self.url, region_name="local",
                            aws_access_key_id=kwargs.get("key", "anonymous"),
                            aws_secret_access_key=kwargs.get("secret", "anonymous"))

    def admin(self) -> Any:
        return self.cognito(key=ADMIN.access_key_id, secret=ADMIN.secret_access_key)

    def sign(self, claims: dict[str, Any]) -> str:
        """A token signed with the user pool's own current key (for forged-claims tests)."""
        pool = self.service.user_pool
        assert pool is not None
        return pool.keys.sign(claims)

    def user(self) -> tuple[str, dict[str, Any]]:
        """A new confirmed user and its tokens."""
        client = self.cognito()
        name = f"user-{uuid.uuid4().hex[:8]}"
        client.sign_up(ClientId=CLIENT_ID, Username=name, Password=PASSWORD,
                       UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}])
        record = latest_code(self.data_dir, name)
        assert record is not None
        client.confirm_sign_up(ClientId=CLIENT_ID, Username=name,
                               ConfirmationCode=record["code"])
        tokens = client.initiate_auth(
            ClientId=CLIENT_ID, AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD},
        )["AuthenticationResult"]
        return name, tokens


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory, idp: dict[str, ExternalIssuer],
    shared_backend: SharedBackend,
) -> Iterator[App]:
    data_dir = tmp_path_factory.mktemp("security")
    db = open_storage_store(data_dir, shared_backend.storage)
    settings = IdentitySettings(
        admin=ADMIN,
        issuers=[
            IssuerConfig(name="corp", issuer=idp["corp"].issuer, audience=["corp-app"],
                         client_id_claim="sub"),
            IssuerConfig(name="partner", issuer=idp["partner"].issuer,
                         jwks_url=f"{idp['partner'].issuer}/keys.json",
                         audience=["partner-app", "other-app"], client_id_claim="tenant"),
            IssuerConfig(name="cognito", issuer=idp["cognito"].issuer, audience=["pool-app"],
                         client_id_claim="custom:clientId", token_use="access"),
        ],
    )
    clock = MovableClock()
    service = IdentityService(settings, db, data_dir, clock=clock)

    async def protected(request: Request) -> Response:
        try:
            principal = await service.authenticator.authenticate(
                request.headers.get("authorization")
            )
        except AuthError as error:
            return JSONResponse({"message": error.message, "reason": error.reason},
                                status_code=error.status)
        return JSONResponse({"client_id": principal.client_id, "issuer": principal.issuer_name,
                             "subject": principal.subject, "username": principal.username,
                             "token_use": principal.token_use})

    starlette = Starlette(routes=[*service.routes(), Route("/protected", protected)])
    port = free_port()
    runner = uvicorn.Server(uvicorn.Config(starlette, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not runner.started:
        if time.monotonic() > deadline:
            pytest.fail("uvicorn did not start within 10 s")
        time.sleep(0.01)
    yield App(f"http://127.0.0.1:{port}", data_dir, service, clock)
    runner.should_exit = True
    thread.join(timeout=10)
    db.close()


def refused(response: httpx.Response, reason: str, status: int = 401) -> None:
    assert (response.status_code, response.json()["reason"]) == (status, reason), response.text
    assert "eyJ" not in response.json()["message"]  # never echoes the token


def pool_claims(tokens: dict[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(tokens["AccessToken"], options={"verify_signature": False})
    return claims


# -- the built-in pool --------------------------------------------------------------------------


def test_a_valid_access_token_is_accepted(app: App) -> None:
    name, tokens = app.user()
    for header in (tokens["AccessToken"], f"Bearer {tokens['AccessToken']}"):
        response = app.get(header=header)
        assert response.status_code == 200
        body = response.json()
        assert body["issuer"] == "user_pool" and body["username"] == name
        assert body["client_id"] == pool_claims(tokens)["custom:clientId"]


def test_alg_none_is_refused(app: App) -> None:
    _, tokens = app.user()
    payload = tokens["AccessToken"].split(".")[1]
    for alg in ("none", "None", "NONE"):
        refused(app.get(f"{b64json({'alg': alg, 'typ': 'JWT'})}.{payload}."), "alg_not_allowed")


def test_hs256_signed_with_the_public_key_is_refused(app: App) -> None:
    _, tokens = app.user()
    jwk = httpx.get(f"{app.url}/{POOL_ID}/.well-known/jwks.json").json()["keys"][0]
    public_key = RSAAlgorithm.from_jwk(jwk)
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64json({"alg": "HS256", "kid": jwk["kid"], "typ": "JWT"})
    payload = tokens["AccessToken"].split(".")[1]
    signing_input = f"{header}.{payload}".encode()
    signature = b64(hmac.new(public_pem, signing_input, hashlib.sha256).digest())
    refused(app.get(f"{header}.{payload}.{signature}"), "alg_not_allowed")


def test_expired_token_is_refused(app: App) -> None:
    _, tokens = app.user()
    claims = pool_claims(tokens)
    stale = app.sign({**claims, "iat": claims["iat"] - 7200, "exp": claims["iat"] - 3600})
    refused(app.get(stale), "expired")


def test_not_yet_valid_token_is_refused(app: App) -> None:
    _, tokens = app.user()
    claims = pool_claims(tokens)
    future = app.sign({**claims, "nbf": claims["iat"] + 3000})
    refused(app.get(future), "not_yet_valid")


def test_wrong_issuer_is_refused(app: App) -> None:
    _, tokens = app.user()
    claims = pool_claims(tokens)
    for iss in ("https://evil.example/local_clientevents/x", "https://evil.example/other_pool",
                "local_clientevents"):
        forged = app.sign({**claims, "iss": iss})
        refused(app.get(forged), "wrong_issuer")


def test_wrong_client_id_is_refused(app: App) -> None:
    _, tokens = app.user()
    claims = pool_claims(tokens)
    forged = app.sign({**claims, "client_id": "another-app-client"})
    refused(app.get(forged), "wrong_audience")


def test_id_token_where_an_access_token_is_required(app: App) -> None:
    _, tokens = app.user()
    refused(app.get(tokens["IdToken"]), "wrong_token_use")


def test_tampered_payload_is_refused(app: App) -> None:
    _, tokens = app.user()
    header, payload, signature = tokens["AccessToken"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["custom:clientId"] = str(uuid.uuid4())
    refused(app.get(f"{header}.{b64json(claims)}.{signature}"), "bad_signature")
    # Flipping one signature bit is caught too.
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    refused(app.get(f"{header}.{payload}.{flipped}"), "bad_signature")


def test_unknown_kid_is_refused(app: App) -> None:
    _, tokens = app.user()
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(pool_claims(tokens), stranger, algorithm="RS256",
                        headers={"kid": "not-a-pool-key"})
    refused(app.get(forged), "unknown_kid")


def test_signed_out_user_is_refused_on_the_next_request(app: App) -> None:
    _, tokens = app.user()
    assert app.get(tokens["AccessToken"]).status_code == 200  # now cached
    app.cognito().global_sign_out(AccessToken=tokens["AccessToken"])
    refused(app.get(tokens["AccessToken"]), "revoked")


def test_disabled_user_gets_403(app: App) -> None:
    name, tokens = app.user()
    assert app.get(tokens["AccessToken"]).status_code == 200
    app.admin().admin_disable_user(UserPoolId=POOL_ID, Username=name)
    refused(app.get(tokens["AccessToken"]), "user_disabled", status=403)


def test_deleted_user_is_refused(app: App) -> None:
    name, tokens = app.user()
    app.admin().admin_delete_user(UserPoolId=POOL_ID, Username=name)
    refused(app.get(tokens["AccessToken"]), "user_not_found")


def test_a_100_kb_token_is_refused(app: App) -> None:
    _, tokens = app.user()
    header, payload, signature = tokens["AccessToken"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["padding"] = "x" * 100_000
    refused(app.get(f"{header}.{b64json(claims)}.{signature}"), "too_large")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("garbage", "malformed"),
        ("Bearer garbage.garbage.garbage", "malformed"),
        ("Bearer " + "\u00e9" * 10, "malformed"),
        ("Bearer", "malformed"),
        ("Basic dXNlcjpwYXNzd29yZA==", "malformed"),
        ("Bearer a.b.c d", "malformed"),
        (f"Bearer {b64json({'alg': 'RS256'})}.{b64(b'[1,2]')}.sig", "malformed"),
    ],
)
def test_garbage_is_refused(app: App, header: str, reason: str) -> None:
    response = httpx.get(f"{app.url}/protected",
                         headers=[(b"Authorization", header.encode("utf-8"))])
    refused(response, reason)


def test_no_header_is_refused(app: App) -> None:
    refused(app.get(), "missing")


# -- external issuers ---------------------------------------------------------------------------


def test_external_issuer_through_discovery(app: App, idp: dict[str, ExternalIssuer]) -> None:
    corp = idp["corp"]
    kid = next(iter(corp.keys))
    response = app.get(corp.token(kid, sub="corp-user-7"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["issuer"], body["client_id"], body["subject"]) == ("corp", "corp-user-7",
                                                                  "corp-user-7")


def test_external_issuer_through_its_jwks_url_and_client_id_claim(
    app: App, idp: dict[str, ExternalIssuer]
) -> None:
    partner = idp["partner"]
    kid = next(iter(partner.keys))
    response = app.get(partner.token(kid, aud=["x", "other-app"], tenant="tenant-42"))
    assert response.status_code == 200, response.text
    assert response.json()["client_id"] == "tenant-42"
    refused(app.get(partner.token(kid, aud="partner-app")), "malformed")  # no 'tenant' claim


def test_external_issuer_checks(app: App, idp: dict[str, ExternalIssuer]) -> None:
    corp = idp["corp"]
    kid = next(iter(corp.keys))
    refused(app.get(corp.token(kid, aud="someone-else")), "wrong_audience")
    refused(app.get(corp.token(kid, exp_in=-3600)), "expired")
    refused(app.get(corp.token(kid, nbf=int(time.time()) + 3600)), "not_yet_valid")
    refused(app.get(corp.token(kid, iss="http://127.0.0.1:1/unknown")), "wrong_issuer")
    refused(app.get(corp.token(kid, token_use="id")), "wrong_token_use")
    es_key = ec.generate_private_key(ec.SECP256R1())
    es_token = jwt.encode({"iss": corp.issuer, "aud": "corp-app", "sub": "x",
                           "exp": int(time.time()) + 60}, es_key, algorithm="ES256",
                          headers={"kid": kid})
    refused(app.get(es_token), "alg_not_allowed")
    header, payload, signature = corp.token(kid).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    refused(app.get(f"{header}.{b64json({**claims, 'sub': 'admin'})}.{signature}"),
            "bad_signature")


def test_external_cognito_issuer_requires_access_tokens(
    app: App, idp: dict[str, ExternalIssuer]
) -> None:
    pool = idp["cognito"]
    kid = next(iter(pool.keys))
    extra: dict[str, Any] = {"custom:clientId": "c-1"}
    access = pool.token(kid, aud=None, client_id="pool-app", token_use="access", **extra)
    response = app.get(access)
    assert response.status_code == 200, response.text
    assert response.json()["client_id"] == "c-1"
    ident = pool.token(kid, aud="pool-app", token_use="id", **extra)
    refused(app.get(ident), "wrong_token_use")


def test_key_rotation_refetches_the_jwks_at_most_every_10_seconds(
    app: App, idp: dict[str, ExternalIssuer]
) -> None:
    corp = idp["corp"]
    old_kid = next(iter(corp.keys))
    assert app.get(corp.token(old_kid)).status_code == 200
    before = corp.jwks_requests

    # Tokens with made-up kids do not make us hammer the provider.
    for _ in range(5):
        forged = jwt.encode({"iss": corp.issuer, "aud": "corp-app", "sub": "x",
                             "exp": int(time.time()) + 60}, corp.keys[old_kid],
                            algorithm="RS256", headers={"kid": uuid.uuid4().hex})
        refused(app.get(forged), "unknown_kid")
    app.clock.offset += 11
    refused(app.get(jwt.encode({"iss": corp.issuer, "aud": "corp-app", "sub": "x",
                                "exp": int(time.time()) + 60}, corp.keys[old_kid],
                               algorithm="RS256", headers={"kid": "made-up"})), "unknown_kid")
    assert corp.jwks_requests - before <= 2

    # The provider rotates: a token signed by the new key makes us refetch once.
    app.clock.offset += 11
    new_kid = corp.add_key()
    fetched = corp.jwks_requests
    response = app.get(corp.token(new_kid, sub="after-rotation"))
    assert response.status_code == 200, response.text
    assert corp.jwks_requests == fetched + 1
    assert app.get(corp.token(old_kid)).status_code == 200  # the old key is still published
    assert corp.jwks_requests == fetched + 1  # and both are cached

    # The provider withdraws the old key: after the next refetch its tokens stop working.
    old_token = corp.token(old_kid, jti=uuid.uuid4().hex)  # not seen before, so not cached
    del corp.keys[old_kid]
    app.clock.offset += 11
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    unknown = jwt.encode({"iss": corp.issuer, "aud": "corp-app", "sub": "x",
                          "exp": int(time.time()) + 60}, stranger, algorithm="RS256",
                         headers={"kid": "still-unknown"})
    refused(app.get(unknown), "unknown_kid")
    assert corp.jwks_requests == fetched + 2
    refused(app.get(old_token), "unknown_kid")
    assert app.get(corp.token(new_kid)).status_code == 200


def test_user_pool_key_rotation_keeps_old_tokens_valid(app: App) -> None:
    pool = app.service.user_pool
    assert pool is not None
    _, before = app.user()
    old_kid = jwt.get_unverified_header(before["AccessToken"])["kid"]
    pool.keys.rotate()
    _, after = app.user()
    new_kid = jwt.get_unverified_header(after["AccessToken"])["kid"]
    assert new_kid != old_kid
    kids = [k["kid"] for k in httpx.get(f"{app.url}/{POOL_ID}/.well-known/jwks.json")
            .json()["keys"]]
    assert kids[0] == new_kid and old_kid in kids
    assert app.get(before["AccessToken"]).status_code == 200
    assert app.get(after["AccessToken"]).status_code == 200
