"""SigV4 verification, checked against requests signed by botocore's own signer."""

from __future__ import annotations

import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from clientevents.identity.errors import CognitoError
from clientevents.identity.sigv4 import Credentials, SignedRequest, verify_sigv4

KEY = Credentials("AKCETESTKEY000000000", "s3cret/key+value")
BODY = b'{"UserPoolId": "local_clientevents", "Username": "alice"}'


def signed(
    *,
    access_key: str = KEY.access_key_id,
    secret: str = KEY.secret_access_key,
    service: str = "cognito-idp",
    region: str = "local",
    url: str = "http://127.0.0.1:8080/",
    body: bytes = BODY,
) -> AWSRequest:
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSCognitoIdentityProviderService.AdminGetUser",
        },
    )
    SigV4Auth(BotoCredentials(access_key, secret), service, region).add_auth(request)
    return request


def as_received(request: AWSRequest, *, body: bytes | None = None) -> SignedRequest:
    from urllib.parse import urlsplit

    parts = urlsplit(request.url)
    headers = [(k.lower(), v) for k, v in request.headers.items()]
    headers.append(("host", parts.netloc))
    data = request.body if isinstance(request.body, bytes) else str(request.body).encode()
    return SignedRequest("POST", parts.path or "/", parts.query, headers,
                         data if body is None else body)


def failure(request: SignedRequest, *, now: float | None = None) -> CognitoError:
    with pytest.raises(CognitoError) as caught:
        verify_sigv4(request, KEY, now=time.time() if now is None else now)
    return caught.value


def test_a_request_signed_by_botocore_verifies() -> None:
    verify_sigv4(as_received(signed()), KEY, now=time.time())


def test_any_region_and_a_query_string_are_fine() -> None:
    request = signed(region="us-east-1", url="http://localhost:9000/?b=2&a=1%20x")
    verify_sigv4(as_received(request), KEY, now=time.time())


def test_a_changed_body_is_refused() -> None:
    error = failure(as_received(signed(), body=BODY.replace(b"alice", b"admin")))
    assert error.error_type == "InvalidSignatureException"


def test_a_wrong_secret_is_refused() -> None:
    error = failure(as_received(signed(secret="not-the-secret")))
    assert error.error_type == "InvalidSignatureException"
    assert error.message.startswith("The request signature we calculated does not match")


def test_an_unknown_access_key_is_refused() -> None:
    error = failure(as_received(signed(access_key="AKIAOTHER")))
    assert error.error_type == "UnrecognizedClientException"


def test_another_service_scope_is_refused() -> None:
    assert failure(as_received(signed(service="s3"))).error_type == "InvalidSignatureException"


def test_an_unsigned_request_is_refused() -> None:
    request = SignedRequest("POST", "/", "", [("host", "127.0.0.1:8080")], BODY)
    error = failure(request)
    assert error.error_type == "MissingAuthenticationTokenException"


def test_a_malformed_authorization_header_is_refused() -> None:
    for value in ("Basic abc", "AWS4-HMAC-SHA256 Credential=a/b", "AWS4-HMAC-SHA256 junk"):
        request = SignedRequest("POST", "/", "", [("authorization", value)], BODY)
        assert failure(request).error_type == "IncompleteSignatureException"


def test_a_signature_older_than_15_minutes_is_refused() -> None:
    request = as_received(signed())
    error = failure(request, now=time.time() + 16 * 60)
    assert error.error_type == "InvalidSignatureException"
    assert error.message.startswith("Signature expired")
    verify_sigv4(request, KEY, now=time.time() + 14 * 60)


def test_the_host_header_must_be_signed() -> None:
    request = as_received(signed())
    headers = [
        (k, v.replace("host;", "") if k == "authorization" else v) for k, v in request.headers
    ]
    error = failure(SignedRequest("POST", "/", "", headers, request.body))
    assert error.error_type == "IncompleteSignatureException"


def with_headers(request: SignedRequest, **replace: str) -> SignedRequest:
    """``request`` with some header values replaced (names in lower case, ``_`` for ``-``)."""
    changes = {name.replace("_", "-"): value for name, value in replace.items()}
    headers = [(k, changes.get(k, v)) for k, v in request.headers]
    return SignedRequest("POST", "/", "", headers, request.body)


def test_an_impossible_date_is_refused_not_a_crash() -> None:
    request = as_received(signed())
    date = request.header_values("x-amz-date")[0]
    impossible = "20261399T999999Z"
    authorization = request.header_values("authorization")[0].replace(
        f"/{date[:8]}/", f"/{impossible[:8]}/"
    )
    error = failure(with_headers(request, x_amz_date=impossible, authorization=authorization))
    assert error.error_type == "IncompleteSignatureException"
    assert impossible in error.message


def test_non_ascii_digits_in_the_date_are_refused() -> None:
    request = as_received(signed())
    date = request.header_values("x-amz-date")[0]
    error = failure(with_headers(request, x_amz_date=date.replace("2", "\u0662")))
    assert error.error_type == "IncompleteSignatureException"


@pytest.mark.parametrize("bad", ["é" * 64, "\u00ff" + "0" * 63, "zz", "A" * 64, ""])
def test_a_signature_that_is_not_hex_is_refused_not_a_crash(bad: str) -> None:
    request = as_received(signed())
    authorization = request.header_values("authorization")[0]
    head, _, _ = authorization.rpartition("Signature=")
    error = failure(with_headers(request, authorization=f"{head}Signature={bad}"))
    assert error.error_type in ("InvalidSignatureException", "IncompleteSignatureException")


def signed_over_host_and_date(*, target: str) -> SignedRequest:
    """A request signed over ``host;x-amz-date`` only, then given a target and content type."""
    request = AWSRequest(method="POST", url="http://127.0.0.1:8080/", data=BODY, headers={})
    SigV4Auth(BotoCredentials(KEY.access_key_id, KEY.secret_access_key), "cognito-idp",
              "local").add_auth(request)
    received = as_received(request)
    authorization = received.header_values("authorization")[0]
    assert "SignedHeaders=host;x-amz-date," in authorization, authorization
    headers = list(received.headers)
    headers.append(("x-amz-target", f"AWSCognitoIdentityProviderService.{target}"))
    headers.append(("content-type", "application/x-amz-json-1.1"))
    return SignedRequest("POST", "/", "", headers, received.body)


def test_the_target_header_must_be_signed() -> None:
    # Signed over host;x-amz-date only, the target could be swapped for another operation.
    error = failure(signed_over_host_and_date(target="AdminDisableUser"))
    assert error.error_type == "IncompleteSignatureException"
    assert "x-amz-target" in error.message


def test_the_date_header_must_be_signed() -> None:
    request = as_received(signed())
    authorization = request.header_values("authorization")[0].replace(";x-amz-date", "")
    error = failure(with_headers(request, authorization=authorization))
    assert error.error_type == "IncompleteSignatureException"
    assert "x-amz-date" in error.message


def test_every_x_amz_header_must_be_signed() -> None:
    request = as_received(signed())
    headers = [*request.headers, ("x-amz-security-token", "smuggled")]
    error = failure(SignedRequest("POST", "/", "", headers, request.body))
    assert error.error_type == "IncompleteSignatureException"
    assert "x-amz-security-token" in error.message


def test_an_unsigned_payload_is_refused() -> None:
    request = as_received(signed())
    headers = [*request.headers, ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]
    error = failure(SignedRequest("POST", "/", "", headers, request.body))
    assert error.error_type in ("InvalidSignatureException", "IncompleteSignatureException")


def test_a_signed_content_hash_that_fits_the_body_verifies() -> None:
    import hashlib

    request = AWSRequest(
        method="POST", url="http://127.0.0.1:8080/", data=BODY,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSCognitoIdentityProviderService.AdminGetUser",
            "X-Amz-Content-SHA256": hashlib.sha256(BODY).hexdigest(),
        },
    )
    SigV4Auth(BotoCredentials(KEY.access_key_id, KEY.secret_access_key), "cognito-idp",
              "local").add_auth(request)
    verify_sigv4(as_received(request), KEY, now=time.time())
