"""How an API destination's answer becomes a delivery outcome (EventBridge's classes).

| answer | outcome |
|---|---|
| 2xx | ``Ok`` |
| 401, 407 | ``Retry`` (the connection re-reads its secrets or fetches a new OAuth token first) |
| 409, 429, 5xx | ``Retry``, honouring ``Retry-After`` (seconds or an HTTP date); a negative
  ``Retry-After`` stops the retries (dead-lettered, as EventBridge does) |
| any other status (other 4xx, a 3xx not followed) | ``Permanent``: dead-lettered at once
  with the status and the first bytes of the answer |
| timeout, connection error | ``Retry`` |
| an address the policy refuses | ``Permanent`` (``AddressNotAllowed``) |

Every message passes the destination's redactor: a receiver that echoes the request's headers
in its error page does not put a credential into the dead-letter queue.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable

from clientevents.targets.base import Ok, Outcome, Permanent, Retry

__all__ = ["RETRIED_STATUSES", "SNIPPET_BYTES", "classify", "parse_retry_after"]

RETRIED_STATUSES = frozenset({401, 407, 409, 429})
"""4xx statuses that are retried (with every 5xx)."""

SNIPPET_BYTES = 256
"""How much of an error answer's body a dead letter keeps."""


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    try:
        return float(int(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(when.timestamp() - now(), 0.0)


def _snippet(body: bytes, redact: Callable[[str], str]) -> str:
    text = body[:SNIPPET_BYTES].decode("utf-8", errors="replace")
    text = " ".join(text.split())
    return redact(text)


def classify(
    status: int,
    *,
    body: bytes,
    retry_after: str | None,
    redact: Callable[[str], str],
) -> Outcome:
    """The outcome of one answer (see the module docstring)."""
    if 200 <= status < 300:
        return Ok()
    snippet = _snippet(body, redact)
    said = f": {snippet}" if snippet else "."
    code = f"HTTP{status}"
    if status in RETRIED_STATUSES or 500 <= status < 600:
        delay = parse_retry_after(retry_after)
        if delay is not None and delay < 0:
            return Permanent(code, f"The API destination answered HTTP {status} with a negative "
                                   f"Retry-After ({retry_after}); not retried{said}")
        return Retry(code, f"The API destination answered HTTP {status}{said}", delay)
    if 300 <= status < 400:
        return Permanent(code, f"The API destination answered HTTP {status} (a redirect that "
                               f"was not followed: max_redirects reached or not allowed){said}")
    return Permanent(code, f"The API destination answered HTTP {status}; not retried{said}")
