"""Attacks on the running gateway, over real HTTP on loopback, each of which once got a 500 or
a wrong answer: hostile bodies, hostile tokens, tampered SigV4 requests.

One gateway (``create_app`` served by uvicorn in a thread, the same server the gateway tests
use) with the built-in user pool and a known admin key serves the whole module. Requests are
sent the way an attacker would: raw bytes with httpx, SigV4 signatures made by botocore's own
signer and then tampered with.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import jwt
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from store_helpers import SharedBackend, open_storage_store, with_test_storage
from test_gateway import LiveServer

from clientevents.config import validate_settings
from clientevents.config.identity import DEFAULT_CLIENT_ID, DEFAULT_USER_POOL_ID, UserPoolSettings
from clientevents.identity.notifier import latest_code
from clientevents.identity.passwords import PasswordHasher
from clientevents.identity.userpool import UserPool
from clientevents.server.app import create_app

pytestmark = pytest.mark.integration

ADMIN = {"access_key_id": "AKCESECURITYATTACKS1", "secret_access_key": "attack/secret+key"}
PASSWORD = "Passw0rd!-attacks"
TARGET = "AWSCognitoIdentityProviderService."
LOCKOUT_CHILD = Path(__file__).with_name("_lockout_child.py")


@dataclass
class Gateway:
    url: str
    data_dir: Path
    http: httpx.Client
    cognito: Any
    pool: UserPool

    def user(self, name: str | None = None) -> tuple[str, str]:
        """A new confirmed user: its name and an access token."""
        name = name or f"user-{uuid.uuid4().hex[:8]}"
        self.cognito.sign_up(ClientId=DEFAULT_CLIENT_ID, Username=name, Password=PASSWORD,
                             UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}])
        record = latest_code(self.data_dir, name)
        assert record is not None
        self.cognito.confirm_sign_up(ClientId=DEFAULT_CLIENT_ID, Username=name,
                                     ConfirmationCode=record["code"])
        answer = self.cognito.initiate_auth(
            ClientId=DEFAULT_CLIENT_ID, AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})
        return name, str(answer["AuthenticationResult"]["AccessToken"])

    def ingest(self, token: str, body: bytes) -> httpx.Response:
        return self.http.post("/prod/event", content=body,
                              headers={"Authorization": token, "Content-Type": "application/json"})

    def admin_request(self, operation: str, body: dict[str, Any]) -> AWSRequest:
        """An admin request signed by botocore's SigV4 signer (not sent)."""
        request = AWSRequest(
            method="POST", url=f"{self.url}/", data=json.dumps(body).encode(),
            headers={"Content-Type": "application/x-amz-json-1.1",
                     "X-Amz-Target": TARGET + operation},
        )
        credentials = BotoCredentials(ADMIN["access_key_id"], ADMIN["secret_access_key"])
        SigV4Auth(credentials, "cognito-idp", "local").add_auth(request)
        return request

    def send(self, request: AWSRequest, **replace: str | bytes) -> httpx.Response:
        """Send ``request`` with some headers replaced (``X_Amz_Target`` → ``X-Amz-Target``)."""
        headers: dict[str, str | bytes] = dict(request.headers.items())
        for name, value in replace.items():
            headers[name.replace("_", "-")] = value
        body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
        return self.http.post("/", content=body, headers=headers)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory,
            shared_backend: SharedBackend) -> Iterator[Gateway]:
    data_dir = tmp_path_factory.mktemp("attacks") / "data"
    settings = validate_settings(with_test_storage({
        "data_dir": str(data_dir),
        "stages": [{"name": "prod", "bus": "client_event_bus", "environment": "prod",
                    "rate_limit": None}],
        "buses": [{"name": "client_event_bus"}],
        "rules": [],
        "identity": {"user_pool": {"enabled": True}, "admin": ADMIN},
    }), file="<test>", environ={})
    app = create_app(settings, data_dir=data_dir)
    pool = app.state.gateway.identity.user_pool
    # Argon2id with small parameters: the same code paths, a fraction of the time per answer.
    pool.hasher = PasswordHasher(time_cost=1, memory_kib=1024)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        cognito = boto3.client("cognito-idp", endpoint_url=server.url, region_name="local",
                               aws_access_key_id="x", aws_secret_access_key="x")
        yield Gateway(server.url, data_dir, http, cognito, pool)


@pytest.fixture(scope="module")
def user(gateway: Gateway) -> tuple[str, str]:
    return gateway.user()


def cognito_error(response: httpx.Response) -> str:
    assert response.status_code == 400, (response.status_code, response.text)
    error_type: str = response.json()["__type"]
    return error_type


# -- hostile bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [255, 256, 600, 1021])
def test_a_deeply_nested_entry_object_gets_its_own_error(
    gateway: Gateway, user: tuple[str, str], levels: int
) -> None:
    deep = b'{"a": ' * levels + b"1" + b"}" * levels
    body = b'{"entries": [{"entry": ' + deep + b'}, {"entry": "{\\"eventType\\": \\"ok\\"}"}]}'
    response = gateway.ingest(user[1], body)
    assert response.status_code == 200, response.text
    first, second = response.json()["Entries"]
    assert first["ErrorCode"] == "InvalidArgument" and "levels deep" in first["ErrorMessage"]
    assert "EventId" in second


# -- hostile tokens -----------------------------------------------------------------------------


def forged_claims(gateway: Gateway, token: str, **claims: Any) -> str:
    """``token``'s claims changed and signed again with the pool's own key: the checks after
    the signature must hold even for a token the pool could have signed."""
    body = jwt.decode(token, options={"verify_signature": False})
    return gateway.pool.keys.sign({**body, **claims})


@pytest.mark.parametrize(
    "claims",
    [
        {"nbf": 10**400},
        {"iat": 10**400},
        {"iat": -(10**400)},
        {"exp": float("inf")},
        {"exp": float("nan")},
        {"exp": 10**400},
        {"nbf": float("nan")},
    ],
    ids=["huge-nbf", "huge-iat", "huge-negative-iat", "exp-1e400", "exp-nan", "huge-exp",
         "nbf-nan"],
)
def test_time_claims_that_are_not_sane_numbers_are_refused(
    gateway: Gateway, user: tuple[str, str], claims: dict[str, Any]
) -> None:
    token = forged_claims(gateway, user[1], **claims)
    response = gateway.ingest(token, b'{"entries": [{"entry": "{}"}]}')
    assert response.status_code == 401, response.text
    assert "time" in response.json()["message"]


# -- tampered SigV4 requests --------------------------------------------------------------------


def test_an_impossible_amz_date_is_a_400(gateway: Gateway) -> None:
    request = gateway.admin_request("ListUsers", {"UserPoolId": DEFAULT_USER_POOL_ID})
    date = str(request.headers["X-Amz-Date"])
    authorization = str(request.headers["Authorization"]).replace(
        f"/{date[:8]}/", "/20261399/"
    )
    response = gateway.send(request, X_Amz_Date="20261399T999999Z", Authorization=authorization)
    assert cognito_error(response) == "IncompleteSignatureException"


@pytest.mark.parametrize("signature", ["é" * 64, "\xff" * 64, "00" * 31 + "é"])
def test_a_non_ascii_signature_is_a_400(gateway: Gateway, signature: str) -> None:
    request = gateway.admin_request("ListUsers", {"UserPoolId": DEFAULT_USER_POOL_ID})
    head, _, _ = str(request.headers["Authorization"]).rpartition("Signature=")
    raw = f"{head}Signature={signature}".encode("latin-1")
    response = gateway.send(request, Authorization=raw)
    assert cognito_error(response) == "InvalidSignatureException"


def test_a_signature_without_the_target_cannot_be_replayed_for_another_operation(
    gateway: Gateway,
) -> None:
    victim, _ = gateway.user()
    # Given an AdminGetUser request signed over host;x-amz-date only
    request = AWSRequest(method="POST", url=f"{gateway.url}/",
                         data=json.dumps({"UserPoolId": DEFAULT_USER_POOL_ID,
                                          "Username": victim}).encode())
    credentials = BotoCredentials(ADMIN["access_key_id"], ADMIN["secret_access_key"])
    SigV4Auth(credentials, "cognito-idp", "local").add_auth(request)
    assert "SignedHeaders=host;x-amz-date," in str(request.headers["Authorization"])
    content_type = "application/x-amz-json-1.1"
    # When it is sent for AdminGetUser, or replayed as AdminDisableUser
    for operation in ("AdminGetUser", "AdminDisableUser"):
        response = gateway.send(request, X_Amz_Target=TARGET + operation,
                                Content_Type=content_type)
        # Then both are refused, and the user can still sign in
        assert cognito_error(response) == "IncompleteSignatureException"
        assert "x-amz-target" in response.json()["message"]
    gateway.cognito.initiate_auth(ClientId=DEFAULT_CLIENT_ID, AuthFlow="USER_PASSWORD_AUTH",
                                  AuthParameters={"USERNAME": victim, "PASSWORD": PASSWORD})


def test_a_properly_signed_admin_request_still_works(gateway: Gateway) -> None:
    name, _ = gateway.user()
    request = gateway.admin_request(
        "AdminGetUser", {"UserPoolId": DEFAULT_USER_POOL_ID, "Username": name}
    )
    response = gateway.send(request)
    assert response.status_code == 200, response.text
    assert response.json()["Username"] == name
    # A signature is good for one operation: changing the signed target breaks it.
    replayed = gateway.send(request, X_Amz_Target=TARGET + "AdminDeleteUser")
    assert cognito_error(replayed) == "InvalidSignatureException"
    assert gateway.send(request).status_code == 200


# -- sign-in lockout under concurrency ----------------------------------------------------------


def allowed_evaluations(elapsed: float) -> int:
    """How many wrong passwords the lockout lets through in ``elapsed`` seconds of a storm:
    five, then one more each time a lock (1 s, 2 s, 4 s...) has run out."""
    extra = 0
    while 2 ** (extra + 1) - 1 <= elapsed:
        extra += 1
    return 5 + extra


def storm(gateway: Gateway, username: str, passwords: list[str]) -> tuple[list[str], float]:
    """Send one InitiateAuth per password, all at once; the answers and how long it took."""
    def attempt(password: str) -> str:
        response = httpx.post(f"{gateway.url}/", timeout=60, headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": TARGET + "InitiateAuth",
        }, content=json.dumps({"ClientId": DEFAULT_CLIENT_ID, "AuthFlow": "USER_PASSWORD_AUTH",
                               "AuthParameters": {"USERNAME": username,
                                                  "PASSWORD": password}}).encode())
        if response.status_code == 200:
            return "signed in"
        message: str = response.json()["message"]
        return message

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(passwords)) as pool:
        answers = list(pool.map(attempt, passwords))
    return answers, time.monotonic() - started


@pytest.mark.parametrize("known", [True, False], ids=["real-user", "unknown-name"])
def test_101_concurrent_sign_ins_cannot_get_past_the_lockout(
    gateway: Gateway, known: bool
) -> None:
    name = gateway.user()[0] if known else f"nobody-{uuid.uuid4().hex[:8]}"
    # 101 wrong passwords at once
    answers, elapsed = storm(gateway, name, [f"Wrong-{i}-Passw0rd!" for i in range(101)])
    evaluated = answers.count("Incorrect username or password.")
    assert evaluated <= allowed_evaluations(elapsed), (elapsed, evaluated)
    assert answers.count("Password attempts exceeded") == 101 - evaluated


def test_the_lockout_holds_across_processes(gateway: Gateway, tmp_path: Path) -> None:
    # Given a user pool (in the test's store), and four processes that open it, each with 25
    # threads
    data_dir = tmp_path / "racers"
    data_dir.mkdir()
    frozen = time.time()
    db = open_storage_store(data_dir)
    pool = UserPool(db, UserPoolSettings(), data_dir=data_dir,
                    hasher=PasswordHasher(time_cost=1, memory_kib=1024), clock=lambda: frozen)
    pool.sign_up("racer", PASSWORD)
    pool.admin_confirm_sign_up("racer")
    db.close()
    start_at = time.time() + 4.0
    racers = [
        subprocess.Popen(
            [sys.executable, str(LOCKOUT_CHILD), str(data_dir), "racer", "25", str(start_at),
             str(frozen)],
            stdout=subprocess.PIPE, text=True,
        )
        for _ in range(4)
    ]
    # When they all try wrong passwords at the same moment (their clocks stand still, so the
    # first lock never runs out)
    totals: dict[str, int] = {}
    for racer in racers:
        out, _ = racer.communicate(timeout=120)
        assert racer.returncode == 0
        for answer, count in json.loads(out).items():
            totals[answer] = totals.get(answer, 0) + count
    # Then no more than five passwords were checked in all
    assert sum(totals.values()) == 100
    assert totals.get("Incorrect username or password.", 0) <= 5, totals
    assert totals.get("Password attempts exceeded", 0) >= 95, totals


# -- which users exist --------------------------------------------------------------------------


def cognito_call(gateway: Gateway, operation: str, **body: Any) -> tuple[int, dict[str, Any]]:
    response = gateway.http.post("/", content=json.dumps(
        {"ClientId": DEFAULT_CLIENT_ID, **body}).encode(), headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + operation})
    answer: dict[str, Any] = response.json()
    return response.status_code, answer


def shape(answer: tuple[int, dict[str, Any]]) -> Any:
    """An answer with a code destination reduced to its shape (``x***@y***``)."""
    status, body = answer
    details = body.get("CodeDeliveryDetails")
    if details is None:
        return status, body
    destination = details["Destination"]
    assert len(destination) == 9 and destination[1:5] == "***@" and destination[6:] == "***"
    assert destination[0].isalpha() and destination[5].isalpha(), destination
    return status, {**body, "CodeDeliveryDetails": {**details, "Destination": "?***@?***"}}


def test_nothing_tells_real_users_from_unknown_names(gateway: Gateway) -> None:
    # Given real users in every state an attacker could probe for
    tag = uuid.uuid4().hex[:6]
    confirmed, _ = gateway.user(f"confirmed-{tag}")
    unconfirmed = f"unconfirmed-{tag}"
    gateway.cognito.sign_up(ClientId=DEFAULT_CLIENT_ID, Username=unconfirmed, Password=PASSWORD,
                            UserAttributes=[{"Name": "email", "Value": "u@example.com"}])
    disabled, _ = gateway.user(f"disabled-{tag}")
    gateway.pool.admin_disable_user(disabled)
    names = {"confirmed": confirmed, "unconfirmed": unconfirmed, "disabled": disabled,
             "unknown": f"nobody-{tag}"}
    probes = {
        "ForgotPassword": {},
        "ResendConfirmationCode": {},
        "ConfirmSignUp": {"ConfirmationCode": "123456"},
        "ConfirmForgotPassword": {"ConfirmationCode": "123456", "Password": "N3w-Passw0rd!"},
        "InitiateAuth": {},
    }
    for operation, extra in probes.items():
        # When each name gets the same requests, past every limit (5 code guesses, 5 sign-ins,
        # 10 codes sent an hour)
        seen: dict[str, list[Any]] = {}
        repeats = 11 if operation in ("ForgotPassword", "ResendConfirmationCode") else 7
        for state, name in names.items():
            body = dict(extra, Username=name)
            if operation == "InitiateAuth":
                body = {"AuthFlow": "USER_PASSWORD_AUTH",
                        "AuthParameters": {"USERNAME": name, "PASSWORD": "Wr0ng-password!"}}
            seen[state] = [shape(cognito_call(gateway, operation, **body))
                           for _ in range(repeats)]
        # Then every name gets the very same answers
        assert all(answers == seen["unknown"] for answers in seen.values()), (operation, seen)
    # and the lockout message is given to unknown names too
    assert seen["unknown"][-1] == (400, {"__type": "NotAuthorizedException",
                                         "message": "Password attempts exceeded"})


def test_a_simulated_destination_is_the_same_every_time_for_a_name(gateway: Gateway) -> None:
    name = f"nobody-{uuid.uuid4().hex[:6]}"
    first = cognito_call(gateway, "ForgotPassword", Username=name)
    again = cognito_call(gateway, "ForgotPassword", Username=name.upper())
    assert first == again and first[0] == 200


# -- usernames in any case and Unicode form -----------------------------------------------------


def test_case_and_unicode_forms_of_a_name_are_one_user(gateway: Gateway) -> None:
    tag = uuid.uuid4().hex[:6]
    gateway.user(f"ÜNÏCØDÉ-{tag}")
    for variant in (f"ünïcødé-{tag}", f"u\u0308nïcødé-{tag}", f"ÜＮÏＣØＤÉ-{tag}"):
        with pytest.raises(gateway.cognito.exceptions.UsernameExistsException):
            gateway.cognito.sign_up(ClientId=DEFAULT_CLIENT_ID, Username=variant,
                                    Password=PASSWORD)
        answer = gateway.cognito.initiate_auth(
            ClientId=DEFAULT_CLIENT_ID, AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": variant, "PASSWORD": PASSWORD})
        claims = jwt.decode(answer["AuthenticationResult"]["AccessToken"],
                            options={"verify_signature": False})
        assert claims["username"] == f"ÜNÏCØDÉ-{tag}"  # the name as it was signed up
