"""Signing a request with AWS Signature Version 4 (the client side of ``identity/sigv4.py``).

The signed headers are ``content-type``, ``host``, ``x-amz-content-sha256``, ``x-amz-date`` and
``x-amz-target`` (what AWS requires for its JSON protocols), the payload hash is the SHA-256 of
the body, and the scope is ``<date>/<region>/<service>/aws4_request``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote

from clientevents.identity.sigv4 import ALGORITHM, Credentials, signing_key

__all__ = ["sign_headers"]


def sign_headers(
    credentials: Credentials,
    *,
    method: str,
    host: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    region: str,
    service: str,
    now: float | None = None,
) -> dict[str, str]:
    """``headers`` plus ``Host``, ``X-Amz-Date``, ``X-Amz-Content-Sha256`` and ``Authorization``.

    Args:
        credentials: the access key pair.
        host: the ``Host`` header as it will be sent (``127.0.0.1:8080``).
        path: the request path (``/``), unescaped.
        headers: the other headers to sign (names in any case).
        region: the scope's region (clientevents accepts any, ``local`` by convention).
        service: the scope's service (``cognito-idp``).
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    date = stamp[:8]
    payload_hash = hashlib.sha256(body).hexdigest()
    signed = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
    signed.update({"host": host, "x-amz-date": stamp, "x-amz-content-sha256": payload_hash})
    names = sorted(signed)
    canonical = "\n".join(
        (
            method.upper(),
            quote(path or "/", safe="/~"),
            "",
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            payload_hash,
        )
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        (ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest())
    )
    key = signing_key(credentials.secret_access_key, date, region, service)
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return {
        **headers,
        "Host": host,
        "X-Amz-Date": stamp,
        "X-Amz-Content-Sha256": payload_hash,
        "Authorization": f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}",
    }
