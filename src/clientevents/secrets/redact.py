"""Redaction: the one helper every text that leaves a component passes when it may hold a secret.

Errors from HTTP libraries quote URLs (with secret query parameters), receivers echo request
headers in their error bodies, an OAuth endpoint may repeat the client id. Before such text is
logged, stored in a delivery's last error, a dead letter or a connection's state reason, it goes
through :meth:`Redactor.redact`, which replaces every value the redactor was told about (and the
forms derived from them that travel on the wire, such as a Basic ``Authorization`` value) with
``***``.

Values shorter than :data:`MIN_LENGTH` characters are not replaced: masking every "a" would
garble messages, and such a credential protects nothing anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

__all__ = ["MASK", "MIN_LENGTH", "Redactor"]

MASK = "***"
MIN_LENGTH = 4


class Redactor:
    """A growing set of secret texts, and the function that masks them in any text.

    Example::

        redact = Redactor()
        redact.add("s3cr3t-token")
        redact.redact("401 for Bearer s3cr3t-token")      # '401 for Bearer ***'
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: tuple[str, ...] = ()
        self.add(*values)

    def add(self, *values: str) -> None:
        """Remember more secret texts (idempotent)."""
        fresh = {v for v in values if v and len(v) >= MIN_LENGTH} - set(self._values)
        if not fresh:
            return
        with self._lock:
            # Longest first, so a value that contains another is masked whole.
            self._values = tuple(sorted({*self._values, *fresh}, key=len, reverse=True))

    def redact(self, text: str) -> str:
        """``text`` with every known secret replaced by :data:`MASK`."""
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def __len__(self) -> int:
        return len(self._values)
