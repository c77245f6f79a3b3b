"""Server-side verification of AWS Signature Version 4, for the admin operations.

The signature is recomputed from the request as received (method, path, query, the signed
headers, the SHA-256 of the body) with the admin secret, following the SigV4 specification:
canonical request → string to sign (``AWS4-HMAC-SHA256``, ``X-Amz-Date``, credential scope,
hash of the canonical request) → HMAC chain ``AWS4<secret>`` / date / region / service /
``aws4_request``. The scope must name service ``cognito-idp`` (any region: ``local``,
``us-east-1``...) and the request date must be within 15 minutes of the server clock.

Failures raise :class:`CognitoError` with the names AWS JSON services use:
``MissingAuthenticationTokenException``, ``IncompleteSignatureException``,
``UnrecognizedClientException`` (unknown access key) and ``InvalidSignatureException``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from clientevents.identity.errors import CognitoError

__all__ = ["ALGORITHM", "MAX_SKEW_SECS", "SERVICE", "Credentials", "SignedRequest", "verify_sigv4"]

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "cognito-idp"
MAX_SKEW_SECS = 15 * 60

_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")


@dataclass(frozen=True, slots=True)
class Credentials:
    """An access key pair."""

    access_key_id: str
    secret_access_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """The parts of an HTTP request a signature covers; header names in lower case."""

    method: str
    path: str
    query_string: str
    headers: Sequence[tuple[str, str]]
    body: bytes

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


def _incomplete(message: str) -> CognitoError:
    return CognitoError("IncompleteSignatureException", message)


def _parse_authorization(value: str) -> tuple[str, list[str], list[str], str]:
    """(access key id, scope parts, signed headers, signature) of an Authorization header."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(
            f"Unsupported authorization algorithm {algorithm[:40]!r}; use {ALGORITHM}."
        )
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            parts[key] = val
    for needed in ("Credential", "SignedHeaders", "Signature"):
        if not parts.get(needed):
            raise _incomplete(
                f"Authorization header requires '{needed}' parameter. Authorization={value[:200]}"
            )
    credential = parts["Credential"].split("/")
    if len(credential) != 5:
        raise _incomplete(
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            "keyid/date/region/service/term."
        )
    signed = parts["SignedHeaders"].split(";")
    return credential[0], credential[1:], signed, parts["Signature"]


def _canonical_query(query_string: str) -> str:
    pairs: list[tuple[str, str]] = []
    for item in query_string.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        pairs.append(
            (quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~"))
        )
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key for one day, region and service."""
    k_date = _hmac(("AWS4" + secret).encode("utf-8"), date)
    return _hmac(_hmac(_hmac(k_date, region), service), "aws4_request")


def verify_sigv4(
    request: SignedRequest, credentials: Credentials, *, now: float, service: str = SERVICE
) -> None:
    """Raise :class:`CognitoError` unless ``request`` is signed by ``credentials``."""
    authorizations = request.header_values("authorization")
    if not authorizations:
        raise CognitoError("MissingAuthenticationTokenException", "Missing Authentication Token")
    access_key, scope, signed_headers, signature = _parse_authorization(authorizations[0])
    if not hmac.compare_digest(access_key.encode(), credentials.access_key_id.encode()):
        raise CognitoError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    date, region, scope_service, terminator = scope
    if scope_service != service or terminator != "aws4_request":
        raise CognitoError(
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: '{service}'.",
        )
    if "host" not in signed_headers:
        raise _incomplete("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    amz_dates = request.header_values("x-amz-date")
    if not amz_dates or not _AMZ_DATE.match(amz_dates[0]):
        raise _incomplete("The request needs an X-Amz-Date header in the form YYYYMMDDTHHMMSSZ.")
    amz_date = amz_dates[0]
    if amz_date[:8] != date:
        raise CognitoError(
            "InvalidSignatureException",
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{date}' != '{amz_date[:8]}', from '{amz_date}'.",
        )
    signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    if abs(now - signed_at) > MAX_SKEW_SECS:
        server = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
        raise CognitoError(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is not within 15 minutes of the server time {server}.",
        )
    body_hash = hashlib.sha256(request.body).hexdigest()
    declared = request.header_values("x-amz-content-sha256")
    if declared and declared[0] not in (body_hash, "UNSIGNED-PAYLOAD"):
        raise CognitoError(
            "InvalidSignatureException",
            "The provided x-amz-content-sha256 header does not match what was computed.",
        )
    canonical_headers = ""
    for name in signed_headers:
        values = request.header_values(name)
        canonical_headers += f"{name}:{','.join(' '.join(v.split()) for v in values)}\n"
    canonical_request = "\n".join(
        (
            request.method.upper(),
            quote(request.path or "/", safe="/~"),
            _canonical_query(request.query_string),
            canonical_headers,
            ";".join(signed_headers),
            body_hash,
        )
    )
    string_to_sign = "\n".join(
        (
            ALGORITHM,
            amz_date,
            f"{date}/{region}/{scope_service}/{terminator}",
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        )
    )
    key = signing_key(credentials.secret_access_key, date, region, scope_service)
    expected = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise CognitoError("InvalidSignatureException", _MISMATCH)
