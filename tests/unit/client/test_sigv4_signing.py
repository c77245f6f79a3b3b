"""The client's one SigV4 signer is what the server's verifier accepts: over the headers AWS
requires for its JSON protocols (the Cognito API), and over the query string (the admin API)."""

from __future__ import annotations

import time

import pytest

from clientevents.client.sigv4 import sign
from clientevents.identity.errors import CognitoError
from clientevents.identity.sigv4 import Credentials, SignedRequest, verify_sigv4

CREDS = Credentials("AKCEEXAMPLE000000001", "s" * 40)
BODY = b'{"UserPoolId": "local_clientevents", "Username": "alice"}'


def _signed(body: bytes = BODY, *, now: float | None = None, path: str = "/") -> dict[str, str]:
    return sign(
        CREDS, method="POST", host="127.0.0.1:8080", path=path,
        headers={"Content-Type": "application/x-amz-json-1.1",
                 "X-Amz-Target": "AWSCognitoIdentityProviderService.AdminGetUser"},
        body=body, region="local", service="cognito-idp", now=now,
    )


def _request(headers: dict[str, str], body: bytes = BODY, path: str = "/") -> SignedRequest:
    return SignedRequest("POST", path, "", [(k.lower(), v) for k, v in headers.items()], body)


def test_the_server_accepts_the_signature() -> None:
    headers = _signed()
    verify_sigv4(_request(headers), CREDS, now=time.time())
    signed = headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert signed == ["content-type", "host", "x-amz-content-sha256", "x-amz-date",
                      "x-amz-target"]


def test_a_changed_target_or_body_breaks_the_signature() -> None:
    headers = _signed()
    swapped = {**headers, "X-Amz-Target": "AWSCognitoIdentityProviderService.AdminDeleteUser"}
    with pytest.raises(CognitoError) as raised:
        verify_sigv4(_request(swapped), CREDS, now=time.time())
    assert raised.value.error_type == "InvalidSignatureException"
    with pytest.raises(CognitoError):
        verify_sigv4(_request(headers, body=BODY + b" "), CREDS, now=time.time())


def test_another_secret_does_not_verify_and_an_old_signature_expires() -> None:
    with pytest.raises(CognitoError):
        verify_sigv4(_request(_signed()), Credentials(CREDS.access_key_id, "t" * 40),
                     now=time.time())
    with pytest.raises(CognitoError, match="Signature expired"):
        verify_sigv4(_request(_signed(now=time.time() - 3600)), CREDS, now=time.time())


def test_a_path_prefix_is_signed_as_sent() -> None:
    headers = _signed(path="/cognito/")
    verify_sigv4(_request(headers, path="/cognito/"), CREDS, now=time.time())


def test_a_query_string_is_signed_in_canonical_form() -> None:
    # Given a GET of the admin API with a query whose order and escaping differ from the
    # canonical form,
    query = "target=client_event_bus/r/t&limit=20&bus=b%20c"
    headers = sign(CREDS, method="GET", host="127.0.0.1:8080", path="/admin/api/dead-letters",
                   query=query, region="local", service="execute-api")

    def request(q: str) -> SignedRequest:
        return SignedRequest("GET", "/admin/api/dead-letters", q,
                             [(k.lower(), v) for k, v in headers.items()], b"")

    # then the server verifies it as sent, and refuses it when a parameter changes.
    verify_sigv4(request(query), CREDS, now=time.time(), service="execute-api")
    with pytest.raises(CognitoError) as raised:
        verify_sigv4(request(query.replace("limit=20", "limit=500")), CREDS, now=time.time(),
                     service="execute-api")
    assert raised.value.error_type == "InvalidSignatureException"
