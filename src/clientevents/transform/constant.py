"""``Input``: a constant JSON text sent to the target instead of the event."""

from __future__ import annotations

from typing import Final

import orjson

from clientevents.transform.errors import TransformError

MAX_INPUT_LENGTH: Final = 8192
"""EventBridge's limit on a target's constant ``Input``."""


def constant_input(text: str) -> str:
    """Check a target's constant ``Input`` and return it unchanged.

    EventBridge requires "valid JSON text" of at most 8192 characters; nothing from the event is
    passed to the target.

    Raises:
        TransformError: ``text`` is not a string, is empty or too long, or is not valid JSON.
    """
    if not isinstance(text, str):
        raise TransformError(f"Input must be a string of JSON, not {type(text).__name__}.")
    if not text.strip():
        raise TransformError("Input is empty; it must be valid JSON text, for example '{}'.")
    if len(text) > MAX_INPUT_LENGTH:
        raise TransformError(
            f"Input is {len(text)} characters long; EventBridge allows at most {MAX_INPUT_LENGTH}."
        )
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise TransformError(
            f"Input must be valid JSON text and is not: {exc}. A plain string needs its quotes: "
            "'\"hello\"', not 'hello'."
        ) from exc
    return text
