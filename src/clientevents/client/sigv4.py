"""Signing a request with AWS Signature Version 4: the client side of ``identity/sigv4.py``.

One signer for every signed call clientevents makes: the Cognito JSON API's admin operations
(service ``cognito-idp``; ``X-Amz-Target`` and ``Content-Type`` among the signed headers) and
the admin API (service ``execute-api``; the query string signed in canonical form). Signed
headers: ``host``, ``x-amz-date``, ``x-amz-content-sha256`` (the body's SHA-256) and any given
ones; the scope is ``<date>/<region>/<service>/aws4_request``. Any SigV4 signer works as well
against clientevents (botocore's ``SigV4Auth``, ``awscurl``).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote

from clientevents.identity.sigv4 import ALGORITHM, Credentials, signing_key

__all__ = ["sign"]


def _canonical_query(query: str) -> str:
    pairs = sorted(
        (quote(k, safe="-_.~"), quote(v, safe="-_.~"))
        for k, v in parse_qsl(query, keep_blank_values=True)
    )
    return "&".join(f"{k}={v}" for k, v in pairs)


def sign(
    credentials: Credentials,
    *,
    method: str,
    host: str,
    path: str,
    query: str = "",
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    region: str = "local",
    service: str = "execute-api",
    now: float | None = None,
) -> dict[str, str]:
    """The headers to send: ``headers`` plus ``Host``, ``X-Amz-Date``,
    ``X-Amz-Content-Sha256`` and ``Authorization``.

    Args:
        credentials: the access key pair.
        host: the ``Host`` header as it will be sent (``127.0.0.1:8080``).
        path: the request path, not percent-encoded (``/admin/api/replays/my replay``).
        query: the query string as sent (``limit=20&bus=b``).
        body: the request body, exactly as sent.
        headers: the other headers to sign (names in any case).
        region: the scope's region (clientevents accepts any, ``local`` by convention).
        service: the scope's service (``execute-api`` for the admin API, ``cognito-idp``).
        now: the signing time (epoch seconds; default: now).
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    payload = hashlib.sha256(body).hexdigest()
    signed = {k.lower(): " ".join(v.split()) for k, v in (headers or {}).items()}
    signed.update({"host": host, "x-amz-date": stamp, "x-amz-content-sha256": payload})
    names = sorted(signed)
    canonical = "\n".join((
        method.upper(),
        quote(path or "/", safe="/~"),
        _canonical_query(query),
        "".join(f"{name}:{signed[name]}\n" for name in names),
        ";".join(names),
        payload,
    ))
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        (ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest())
    )
    key = signing_key(credentials.secret_access_key, stamp[:8], region, service)
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return {
        **(headers or {}),
        "Host": host,
        "X-Amz-Date": stamp,
        "X-Amz-Content-Sha256": payload,
        "Authorization": f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}",
    }
