"""Event values as the matcher sees them: one hashable key per JSON leaf.

EventBridge compares JSON values, not Python ones: ``true`` is not ``1``, ``1`` is not ``"1"``,
and two numbers are equal when their values are equal (``300`` equals ``300.0``) as long as
both are *comparable*: within [-5e9, 5e9] with at most six digits after the decimal point
(the range and precision of EventBridge's numeric matching). Other numbers only equal the same
literal. :func:`leaf_key` turns a leaf into a key with exactly those equalities, so one dict
lookup implements exact matching for every JSON type:

- a string is its own key;
- ``true``, ``false`` and ``null`` are the three :data:`TRUE`, :data:`FALSE`, :data:`NULL`
  sentinels (never ``True``/``False``/``None``, which would collide with ``1``/``0``);
- a comparable number is the number itself (``hash(300) == hash(300.0)``);
- any other number is ``("lit", <JSON text>)``.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Final

FIVE_BILLION: Final = 5_000_000_000
MAX_DECIMALS: Final = 6


class _Literal:
    """A JSON literal (true/false/null) as a key that equals nothing else."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


TRUE: Final = _Literal("true")
FALSE: Final = _Literal("false")
NULL: Final = _Literal("null")

LeafKey = str | int | float | _Literal | tuple[str, str]


def number_text(value: int | float) -> str:
    """The JSON text of a number (``1e+20``, ``300``, ``0.5``)."""
    return json.dumps(value)


def is_comparable(value: int | float) -> bool:
    """True when ``value`` is inside EventBridge's numeric range and precision.

    ``round(v, 6) == v`` holds exactly when the shortest decimal form of the float has at most
    six decimals: for |v| <= 5e9 half a float ulp is below 5e-7, so rounding cannot land on a
    different six-decimal value.
    """
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -FIVE_BILLION <= value <= FIVE_BILLION
    return (
        math.isfinite(value)
        and -FIVE_BILLION <= value <= FIVE_BILLION
        and round(value, MAX_DECIMALS) == value
    )


def number_problem(value: int | float) -> str | None:
    """Why a pattern operand cannot be compared numerically, or None when it can."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    if not -FIVE_BILLION <= value <= FIVE_BILLION:
        return (
            f"{number_text(value)} is outside the numeric range: values must be between "
            "-5000000000 and 5000000000 inclusive"
        )
    exponent = Decimal(repr(value)).normalize().as_tuple().exponent
    if isinstance(value, float) and isinstance(exponent, int) and -exponent > MAX_DECIMALS:
        return f"{number_text(value)} has more than 6 digits after the decimal point"
    return None


def leaf_key(value: object) -> LeafKey:
    """The exact-match key of one JSON leaf (see the module docstring)."""
    t = type(value)
    if t is str:
        return value  # type: ignore[return-value]
    if t is bool:
        return TRUE if value else FALSE
    if value is None:
        return NULL
    if t is int:
        if -FIVE_BILLION <= value <= FIVE_BILLION:  # type: ignore[operator]
            return value  # type: ignore[return-value]
        return ("lit", str(value))
    if t is float:
        if is_comparable(value):  # type: ignore[arg-type]
            return value  # type: ignore[return-value]
        return ("lit", number_text(value))  # type: ignore[arg-type]
    if isinstance(value, bool):
        return TRUE if value else FALSE
    if isinstance(value, int | float):
        return leaf_key(float(value) if isinstance(value, float) else int(value))
    if isinstance(value, str):
        return str(value)
    raise TypeError(
        f"event values must be JSON values (dict, list, str, int, float, bool, None); "
        f"got {type(value).__name__} {value!r}"
    )


def is_number_key(key: LeafKey) -> bool:
    """True when ``key`` is a comparable number (so numeric operators apply)."""
    t = type(key)
    return t is int or t is float
