"""The Cognito JSON API over real HTTP: boto3, the aws command line and raw requests.

One uvicorn server on 127.0.0.1 (a free port) serves the identity routes for the whole module,
over a real store (the SQLite file, or the test backend's PostgreSQL schema); confirmation
codes are read back from the file notifier's output.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import jwt
import pytest
import uvicorn
from botocore.config import Config
from starlette.applications import Starlette
from store_helpers import SharedBackend, current_storage, open_storage_store

from clientevents.config.identity import (
    AdminCredentials,
    IdentitySettings,
    SmtpNotifierConfig,
    UserPoolSettings,
)
from clientevents.identity import CognitoError, IdentityService
from clientevents.identity.notifier import latest_code
from clientevents.identity.passwords import PasswordHasher
from clientevents.identity.userpool import UserPool

pytestmark = pytest.mark.integration

POOL_ID = "local_clientevents"
CLIENT_ID = "clientevents-local-app"
ADMIN = AdminCredentials(
    access_key_id="AKCEINTEGRATION00001", secret_access_key="integration/secret"
)
PASSWORD = "Passw0rd!"
AWS = Path(sys.executable).with_name("aws")


@dataclass
class Server:
    url: str
    data_dir: Path
    service: IdentityService
    db_path: Path

    def client(self, *, key: str = "anonymous", secret: str = "anonymous",
               region: str = "local") -> Any:
        return boto3.client(
            "cognito-idp",
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1}),
        )

    def admin(self, **kwargs: Any) -> Any:
        return self.client(key=ADMIN.access_key_id, secret=ADMIN.secret_access_key, **kwargs)

    def code(self, username: str) -> str:
        record = latest_code(self.data_dir, username)
        assert record is not None, f"no code for {username}"
        return record["code"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory,
           shared_backend: SharedBackend) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("cognito")
    db = open_storage_store(data_dir, shared_backend.storage)
    service = IdentityService(IdentitySettings(admin=ADMIN), db, data_dir)
    app = Starlette(routes=service.routes())
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not runner.started:
        if time.monotonic() > deadline:
            pytest.fail("uvicorn did not start within 10 s")
        time.sleep(0.01)
    yield Server(f"http://127.0.0.1:{port}", data_dir, service, data_dir / "clientevents.db")
    runner.should_exit = True
    thread.join(timeout=10)
    db.close()


def unique(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sign_up(server: Server, username: str, *, confirm: bool = True) -> str:
    client = server.client()
    answer = client.sign_up(
        ClientId=CLIENT_ID,
        Username=username,
        Password=PASSWORD,
        UserAttributes=[{"Name": "email", "Value": f"{username}@example.com"}],
    )
    if confirm:
        client.confirm_sign_up(
            ClientId=CLIENT_ID, Username=username, ConfirmationCode=server.code(username)
        )
    sub: str = answer["UserSub"]
    return sub


def login(server: Server, username: str, password: str = PASSWORD) -> dict[str, Any]:
    answer = server.client().initiate_auth(
        ClientId=CLIENT_ID,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    result: dict[str, Any] = answer["AuthenticationResult"]
    return result


def raw(server: Server, operation: str, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(
        server.url + "/",
        content=content,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"AWSCognitoIdentityProviderService.{operation}",
            **headers,
        },
    )


# -- boto3: the user flow ------------------------------------------------------------------------


def test_boto3_sign_up_confirm_sign_in_refresh_sign_out(server: Server) -> None:
    client = server.client()
    name = unique()
    answer = client.sign_up(
        ClientId=CLIENT_ID, Username=name, Password=PASSWORD,
        UserAttributes=[{"Name": "email", "Value": "someone@example.com"}],
    )
    assert answer["UserConfirmed"] is False
    assert answer["CodeDeliveryDetails"] == {
        "Destination": "s***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email",
    }
    client.confirm_sign_up(ClientId=CLIENT_ID, Username=name, ConfirmationCode=server.code(name))
    tokens = login(server, name)
    assert tokens["TokenType"] == "Bearer" and tokens["ExpiresIn"] == 3600

    me = client.get_user(AccessToken=tokens["AccessToken"])
    attributes = {a["Name"]: a["Value"] for a in me["UserAttributes"]}
    assert me["Username"] == name and attributes["sub"] == answer["UserSub"]
    client_id = attributes["custom:clientId"]
    assert uuid.UUID(client_id)
    access = jwt.decode(tokens["AccessToken"], options={"verify_signature": False})
    assert access["custom:clientId"] == client_id
    assert access["iss"] == f"{server.url}/{POOL_ID}"  # derived from the request's host

    refreshed = client.initiate_auth(
        ClientId=CLIENT_ID, AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]},
    )["AuthenticationResult"]
    assert "RefreshToken" not in refreshed
    client.get_user(AccessToken=refreshed["AccessToken"])

    client.global_sign_out(AccessToken=refreshed["AccessToken"])
    with pytest.raises(client.exceptions.NotAuthorizedException, match="revoked"):
        client.get_user(AccessToken=tokens["AccessToken"])
    with pytest.raises(client.exceptions.NotAuthorizedException, match="revoked"):
        client.initiate_auth(
            ClientId=CLIENT_ID, AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]},
        )


def test_boto3_errors_have_cognitos_names(server: Server) -> None:
    client = server.client()
    name = unique()
    sign_up(server, name, confirm=False)
    with pytest.raises(client.exceptions.UsernameExistsException):
        client.sign_up(ClientId=CLIENT_ID, Username=name, Password=PASSWORD)
    with pytest.raises(client.exceptions.InvalidPasswordException, match="uppercase"):
        client.sign_up(ClientId=CLIENT_ID, Username=unique(), Password="lowercase1!")
    with pytest.raises(client.exceptions.UserNotConfirmedException):
        login(server, name)
    wrong = f"{(int(server.code(name)) + 1) % 1_000_000:06d}"
    with pytest.raises(client.exceptions.CodeMismatchException):
        client.confirm_sign_up(ClientId=CLIENT_ID, Username=name, ConfirmationCode=wrong)
    with pytest.raises(client.exceptions.ResourceNotFoundException, match="client"):
        client.sign_up(ClientId="some-other-app", Username=unique(), Password=PASSWORD)
    with pytest.raises(client.exceptions.NotAuthorizedException, match="Incorrect"):
        login(server, unique("nobody"))
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.initiate_auth(ClientId=CLIENT_ID, AuthFlow="USER_SRP_AUTH",
                             AuthParameters={"USERNAME": name, "SRP_A": "1"})


def test_boto3_forgot_password(server: Server) -> None:
    client = server.client()
    name = unique()
    sign_up(server, name)
    answer = client.forgot_password(ClientId=CLIENT_ID, Username=name)
    assert answer["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"
    record = latest_code(server.data_dir, name)
    assert record is not None and record["purpose"] == "forgot_password"
    client.confirm_forgot_password(
        ClientId=CLIENT_ID, Username=name, ConfirmationCode=record["code"], Password="N3w-Passw0rd"
    )
    login(server, name, "N3w-Passw0rd")
    # An unknown user gets a simulated delivery, not an error.
    assert "CodeDeliveryDetails" in client.forgot_password(ClientId=CLIENT_ID, Username=unique())


# -- boto3: admin operations ---------------------------------------------------------------------


def test_boto3_admin_operations_with_the_admin_key(server: Server) -> None:
    admin = server.admin()
    name = unique("admin")
    sign_up(server, name, confirm=False)
    admin.admin_confirm_sign_up(UserPoolId=POOL_ID, Username=name)
    user = admin.admin_get_user(UserPoolId=POOL_ID, Username=name)
    assert user["UserStatus"] == "CONFIRMED" and user["Enabled"] is True
    assert user["UserCreateDate"].year >= 2024  # a timestamp botocore could parse
    admin.admin_disable_user(UserPoolId=POOL_ID, Username=name)
    with pytest.raises(admin.exceptions.NotAuthorizedException, match="disabled"):
        login(server, name)
    admin.admin_enable_user(UserPoolId=POOL_ID, Username=name)
    login(server, name)
    listed = admin.list_users(UserPoolId=POOL_ID, Filter=f'username = "{name}"')
    assert [u["Username"] for u in listed["Users"]] == [name]
    pages = admin.get_paginator("list_users").paginate(UserPoolId=POOL_ID, Limit=1)
    assert name in [u["Username"] for page in pages for u in page["Users"]]
    admin.admin_delete_user(UserPoolId=POOL_ID, Username=name)
    with pytest.raises(admin.exceptions.UserNotFoundException):
        admin.admin_get_user(UserPoolId=POOL_ID, Username=name)
    with pytest.raises(admin.exceptions.ResourceNotFoundException, match="pool"):
        admin.admin_get_user(UserPoolId="us-east-1_Other", Username=name)
    # The region in the signature does not matter.
    server.admin(region="us-east-1").list_users(UserPoolId=POOL_ID, Limit=1)


def test_admin_operations_refuse_bad_signatures(server: Server) -> None:
    name = unique()
    sign_up(server, name)
    wrong_secret = server.client(key=ADMIN.access_key_id, secret="not-the-secret")
    with pytest.raises(wrong_secret.exceptions.ClientError) as caught:
        wrong_secret.admin_get_user(UserPoolId=POOL_ID, Username=name)
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    wrong_key = server.client(key="AKIAUNKNOWN", secret=ADMIN.secret_access_key)
    with pytest.raises(wrong_key.exceptions.ClientError) as caught:
        wrong_key.admin_disable_user(UserPoolId=POOL_ID, Username=name)
    assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"
    unsigned = raw(server, "AdminDeleteUser", {"UserPoolId": POOL_ID, "Username": name})
    assert unsigned.status_code == 400
    assert unsigned.json()["__type"] == "MissingAuthenticationTokenException"
    login(server, name)  # nothing happened to the user


# -- the wire format -----------------------------------------------------------------------------


def test_error_wire_format(server: Server) -> None:
    response = raw(server, "InitiateAuth", {
        "ClientId": CLIENT_ID, "AuthFlow": "USER_PASSWORD_AUTH",
        "AuthParameters": {"USERNAME": unique("nobody"), "PASSWORD": "x"},
    })
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/x-amz-json-1.1"
    assert response.headers["x-amzn-errortype"] == "NotAuthorizedException:"
    assert response.headers["x-amzn-errormessage"] == "Incorrect username or password."
    assert uuid.UUID(response.headers["x-amzn-requestid"])
    assert response.json() == {
        "__type": "NotAuthorizedException", "message": "Incorrect username or password.",
    }


@pytest.mark.parametrize(
    ("operation", "body", "headers", "status", "error_type"),
    [
        ("DescribeUserPool", {}, {}, 400, "UnknownOperationException"),
        ("SignUp", b"{not json", {}, 400, "SerializationException"),
        ("SignUp", b"[1, 2]", {}, 400, "SerializationException"),
        ("SignUp", {}, {"Content-Type": "text/plain"}, 400, "SerializationException"),
        ("SignUp", {"ClientId": CLIENT_ID}, {}, 400, "InvalidParameterException"),
        ("SignUp", {"ClientId": CLIENT_ID, "Username": 5, "Password": "x"}, {}, 400,
         "InvalidParameterException"),
        ("SignUp", b"{" + b" " * 70_000 + b"}", {}, 413, "RequestEntityTooLargeException"),
        ("GetUser", {"AccessToken": "garbage"}, {}, 400, "NotAuthorizedException"),
    ],
)
def test_bad_requests_get_clear_errors(
    server: Server, operation: str, body: Any, headers: dict[str, str], status: int,
    error_type: str,
) -> None:
    response = raw(server, operation, body, **headers)
    assert response.status_code == status
    assert response.json()["__type"] == error_type
    assert response.json()["message"]


def test_missing_target_header(server: Server) -> None:
    response = httpx.post(server.url + "/", content=b"{}",
                          headers={"Content-Type": "application/x-amz-json-1.1"})
    assert response.status_code == 400
    assert response.json()["__type"] == "UnknownOperationException"


# -- JWKS and discovery --------------------------------------------------------------------------


def test_jwks_and_discovery_verify_the_tokens(server: Server) -> None:
    name = unique()
    sign_up(server, name)
    tokens = login(server, name)
    discovery = httpx.get(f"{server.url}/{POOL_ID}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == f"{server.url}/{POOL_ID}"
    assert discovery["jwks_uri"] == f"{server.url}/{POOL_ID}/.well-known/jwks.json"
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256"]
    jwks = httpx.get(discovery["jwks_uri"])
    assert jwks.headers["cache-control"] == "public, max-age=300"
    signing = jwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(tokens["IdToken"])
    claims = jwt.decode(tokens["IdToken"], signing.key, algorithms=["RS256"], audience=CLIENT_ID,
                        issuer=discovery["issuer"])
    assert claims["cognito:username"] == name
    missing = httpx.get(f"{server.url}/eu-west-1_nope/.well-known/jwks.json")
    assert missing.status_code == 404


# -- the aws command line ------------------------------------------------------------------------


def aws(server: Server, *args: str, key: str = "anonymous",
        secret: str = "anonymous") -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(server.data_dir),
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "local",
        "AWS_CONFIG_FILE": str(server.data_dir / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(server.data_dir / "no-aws-credentials"),
    }
    return subprocess.run(
        [str(AWS), "cognito-idp", *args, "--endpoint-url", server.url, "--output", "json"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def test_aws_cli_flow(server: Server) -> None:
    name = unique("cli")
    signed = aws(server, "sign-up", "--client-id", CLIENT_ID, "--username", name,
                 "--password", PASSWORD,
                 "--user-attributes", f"Name=email,Value={name}@example.com")
    assert signed.returncode == 0, signed.stderr
    assert json.loads(signed.stdout)["UserConfirmed"] is False
    confirmed = aws(server, "confirm-sign-up", "--client-id", CLIENT_ID, "--username", name,
                    "--confirmation-code", server.code(name))
    assert confirmed.returncode == 0, confirmed.stderr
    auth = aws(server, "initiate-auth", "--client-id", CLIENT_ID, "--auth-flow",
               "USER_PASSWORD_AUTH", "--auth-parameters", f"USERNAME={name},PASSWORD={PASSWORD}")
    assert auth.returncode == 0, auth.stderr
    assert json.loads(auth.stdout)["AuthenticationResult"]["TokenType"] == "Bearer"

    got = aws(server, "admin-get-user", "--user-pool-id", POOL_ID, "--username", name,
              key=ADMIN.access_key_id, secret=ADMIN.secret_access_key)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["UserStatus"] == "CONFIRMED"

    refused = aws(server, "admin-get-user", "--user-pool-id", POOL_ID, "--username", name,
                  key=ADMIN.access_key_id, secret="wrong-secret")
    assert refused.returncode != 0
    assert "InvalidSignatureException" in refused.stderr

    wrong_password = aws(server, "initiate-auth", "--client-id", CLIENT_ID, "--auth-flow",
                         "USER_PASSWORD_AUTH", "--auth-parameters",
                         f"USERNAME={name},PASSWORD=Wrong-passw0rd")
    assert wrong_password.returncode != 0
    assert "NotAuthorizedException" in wrong_password.stderr


# -- across processes ----------------------------------------------------------------------------

_AUTHENTICATE = """
import asyncio, json, sys
from pathlib import Path
from clientevents.config.identity import AdminCredentials, IdentitySettings
from clientevents.identity import AuthError, IdentityService
from clientevents.config import validate_settings
from clientevents.store.factory import open_store

data_dir, key_id, secret = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
# The server's store: its SQLite file, or the schema CLIENTEVENTS_STORAGE names
db = open_store(validate_settings({"data_dir": str(data_dir)}, file="<other>"), data_dir)
admin = AdminCredentials(access_key_id=key_id, secret_access_key=secret)
service = IdentityService(IdentitySettings(admin=admin), db, data_dir)
for line in sys.stdin:
    try:
        principal = asyncio.run(service.authenticator.authenticate(line.strip()))
        print(json.dumps({"ok": principal.username}), flush=True)
    except AuthError as error:
        print(json.dumps({"status": error.status, "reason": error.reason}), flush=True)
db.close()
"""


class OtherProcess:
    """A second Python process authenticating tokens against the same data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _AUTHENTICATE, str(data_dir), ADMIN.access_key_id,
             ADMIN.secret_access_key],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )

    def authenticate(self, token: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(token + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()

    def sees(self, token: str, expected: dict[str, Any]) -> dict[str, Any]:
        """The other process's answer for ``token`` once the change that makes it
        ``expected`` reached it: its next answer on SQLite (every commit is seen at the next
        read), the first answer after the change's notification arrived on PostgreSQL (the
        commit, then one network hop; docs: the user-state cache), polled up to a bound."""
        answer = self.authenticate(token)
        if current_storage() is None:
            return answer
        deadline = time.monotonic() + 10.0
        while answer != expected and time.monotonic() < deadline:
            time.sleep(0.01)
            answer = self.authenticate(token)
        return answer


@pytest.mark.usefixtures("on_shared_backend")  # the other process opens the server's store
def test_sign_out_and_disable_reach_another_process_at_once(server: Server) -> None:
    other = OtherProcess(server.data_dir)
    try:
        name = unique()
        sign_up(server, name)
        tokens = login(server, name)
        assert other.authenticate(tokens["AccessToken"]) == {"ok": name}  # now cached there
        server.admin().admin_disable_user(UserPoolId=POOL_ID, Username=name)
        disabled = {"status": 403, "reason": "user_disabled"}
        assert other.sees(tokens["AccessToken"], disabled) == disabled
        server.admin().admin_enable_user(UserPoolId=POOL_ID, Username=name)
        fresh = login(server, name)
        assert other.sees(fresh["AccessToken"], {"ok": name}) == {"ok": name}
        server.client().global_sign_out(AccessToken=fresh["AccessToken"])
        revoked = {"status": 401, "reason": "revoked"}
        assert other.sees(fresh["AccessToken"], revoked) == revoked
    finally:
        other.close()


# -- e-mail delivery -----------------------------------------------------------------------------


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP to take one message (no TLS, no auth)."""

    def handle(self) -> None:
        received: list[str] = self.server.received  # type: ignore[attr-defined]
        self.wfile.write(b"220 test ESMTP\r\n")
        while True:
            line = self.rfile.readline().decode("utf-8", "replace").strip()
            verb = line.split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250 test\r\n")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self.wfile.write(b"250 OK\r\n")
            elif verb == "DATA":
                self.wfile.write(b"354 go ahead\r\n")
                lines = []
                while (data := self.rfile.readline().decode("utf-8", "replace")) not in (
                    ".\r\n", ""
                ):
                    lines.append(data)
                received.append("".join(lines))
                self.wfile.write(b"250 queued\r\n")
            elif verb == "QUIT" or not line:
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"502 not implemented\r\n")


def test_smtp_notifier_sends_the_code(tmp_path: Path) -> None:
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    smtp.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=smtp.serve_forever, daemon=True)
    thread.start()
    db = open_storage_store(tmp_path)
    try:
        notifier = SmtpNotifierConfig(type="smtp", host="127.0.0.1",
                                      port=smtp.server_address[1], sender="noreply@example.com",
                                      starttls=False)
        pool = UserPool(db, UserPoolSettings(notifier=notifier), data_dir=tmp_path,
                        hasher=PasswordHasher(time_cost=1, memory_kib=1024))
        pool.sign_up("mailer", PASSWORD, [{"Name": "email", "Value": "mailer@example.com"}])
        received: list[str] = smtp.received  # type: ignore[attr-defined]
        assert len(received) == 1
        message = received[0]
        assert "To: mailer@example.com" in message and "From: noreply@example.com" in message
        code = message.split("Your confirmation code is ")[1][:6]
        pool.confirm_sign_up("mailer", code)
        assert not (tmp_path / "codes").exists()  # nothing went to the file notifier
        with pytest.raises(CognitoError, match="email: The attribute is required"):
            pool.sign_up("nomail", PASSWORD)
        assert pool.find_user("nomail") is None
    finally:
        smtp.shutdown()
        smtp.server_close()
        db.close()


# -- clientevents users ----------------------------------------------------------------------------


def test_users_command_line_against_the_server(server: Server) -> None:
    from click.testing import CliRunner

    from clientevents.cli import main

    runner = CliRunner()
    name = unique("cmd")
    common = ["--endpoint-url", server.url]
    signed = runner.invoke(main, ["users", "sign-up", name, "--password", PASSWORD,
                                  "--email", f"{name}@example.com", "--json", *common])
    assert signed.exit_code == 0, signed.output
    assert json.loads(signed.output)["UserConfirmed"] is False
    code = runner.invoke(main, ["users", "code", name, "--data-dir", str(server.data_dir)])
    assert code.exit_code == 0, code.output
    confirmed = runner.invoke(main, ["users", "confirm", name, code.output.strip(), *common])
    assert confirmed.exit_code == 0, confirmed.output
    token = runner.invoke(main, ["users", "login", name, "--password", PASSWORD,
                                 "--access-token-only", *common])
    assert token.exit_code == 0, token.output
    assert server.client().get_user(AccessToken=token.output.strip())["Username"] == name
    wrong = runner.invoke(main, ["users", "login", name, "--password", "Wrong-passw0rd", *common])
    assert wrong.exit_code == 1
    assert "NotAuthorizedException: Incorrect username or password." in wrong.output
    nowhere = runner.invoke(main, ["users", "login", name, "--password", PASSWORD,
                                   "--endpoint-url", "http://127.0.0.1:9"])
    assert nowhere.exit_code == 1 and "Cannot reach" in nowhere.output
