"""Server-side verification of AWS Signature Version 4, for the admin operations.

The signature is recomputed from the request as received (method, path, query, the signed
headers, the SHA-256 of the body) with the admin secret, following the SigV4 specification:
canonical request → string to sign (``AWS4-HMAC-SHA256``, ``X-Amz-Date``, credential scope,
hash of the canonical request) → HMAC chain ``AWS4<secret>`` / date / region / service /
``aws4_request``. The scope must name service ``cognito-idp`` (any region: ``local``,
``us-east-1``...) and the request date must be within 15 minutes of the server clock.

As AWS requires for its JSON protocols, ``host``, ``x-amz-date`` and ``x-amz-target`` must be
among the signed headers (the operation is named by ``X-Amz-Target``, so a signature that does
not cover it could be replayed for another operation), and so must every other ``x-amz-*``
header the request carries. The body is always covered: the canonical request ends with the
SHA-256 of the bytes received, and an ``x-amz-content-sha256`` header, when sent, must be
signed and equal that hash (``UNSIGNED-PAYLOAD`` is not accepted).

Every header value is untrusted text: an impossible date or a signature that is not
hexadecimal is refused with the errors below, never an exception of another kind.

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
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")
REQUIRED_SIGNED_HEADERS = ("host", "x-amz-date", "x-amz-target")
"""What a signature for the Cognito JSON protocol must cover (the operation is X-Amz-Target)."""

REST_SIGNED_HEADERS = ("host", "x-amz-date")
"""What a signature for a REST service (the admin API, ``execute-api``) must cover: there the
method and path name the operation, and both are always part of the canonical request."""
"""Headers every signature must cover (the request's other ``x-amz-*`` headers too)."""


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


def _bad_date(value: str) -> CognitoError:
    return _incomplete(
        f"Date must be in ISO-8601 'basic format' (YYYYMMDD'T'HHMMSS'Z'). Got {value[:40]!r}."
    )


def _check_signed_headers(
    request: SignedRequest, signed_headers: list[str], required: tuple[str, ...]
) -> None:
    """Refuse a signature that leaves out a header this protocol needs signed."""
    signed = set(signed_headers)
    for name in required:
        if name not in signed:
            raise _incomplete(
                f"'{name}' must be a 'SignedHeader' in the AWS Authorization; it was signed "
                f"over {';'.join(signed_headers)[:200]!r}."
            )
        if not request.header_values(name):
            raise _incomplete(f"The request is signed over '{name}' but has no {name} header.")
    for name, _ in request.headers:
        if name.startswith("x-amz-") and name not in signed:
            raise _incomplete(
                f"Header '{name[:64]}' is not signed; every x-amz-* header must be a "
                "'SignedHeader' in the AWS Authorization."
            )


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
    if not hmac.compare_digest(
        access_key.encode("utf-8", "surrogatepass"),
        credentials.access_key_id.encode("utf-8", "surrogatepass"),
    ):
        raise CognitoError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    date, region, scope_service, terminator = scope
    if scope_service != service or terminator != "aws4_request":
        raise CognitoError(
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: '{service}'.",
        )
    required = REQUIRED_SIGNED_HEADERS if service == SERVICE else REST_SIGNED_HEADERS
    _check_signed_headers(request, signed_headers, required)
    amz_date = request.header_values("x-amz-date")[0]
    if not _AMZ_DATE.fullmatch(amz_date):
        raise _bad_date(amz_date)
    if amz_date[:8] != date:
        raise CognitoError(
            "InvalidSignatureException",
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{date[:16]}' != '{amz_date[:8]}', from '{amz_date}'.",
        )
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:  # matches the shape but is no date, like month 13 or hour 99
        raise _bad_date(amz_date) from None
    if abs(now - signed_at.timestamp()) > MAX_SKEW_SECS:
        server = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
        raise CognitoError(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is not within 15 minutes of the server time {server}.",
        )
    body_hash = hashlib.sha256(request.body).hexdigest()
    declared = request.header_values("x-amz-content-sha256")
    if declared and declared[0] != body_hash:
        raise CognitoError(
            "InvalidSignatureException",
            "The provided x-amz-content-sha256 header does not match what was computed "
            "(this service needs the SHA-256 of the body; UNSIGNED-PAYLOAD is not accepted).",
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
    # A signature that is not 64 lower-case hex digits cannot match; comparing bytes keeps
    # compare_digest from raising on non-ASCII text.
    if not _HEX_SIGNATURE.fullmatch(signature) or not hmac.compare_digest(
        expected.encode("ascii"), signature.encode("utf-8", "surrogatepass")
    ):
        raise CognitoError("InvalidSignatureException", _MISMATCH)
