"""Java ``DateTimeFormatter`` patterns (the ``!{timestamp:...}`` expressions), for UTC instants.

Supported pattern letters: ``u``/``y`` (year: ``yyyy``, ``yy``, ``y``), ``M``/``L`` (month:
``M``, ``MM``, ``MMM`` = Jan, ``MMMM`` = January), ``d`` (day of month), ``D`` (day of year),
``E`` (``EEE`` = Mon, ``EEEE`` = Monday), ``a`` (AM/PM), ``H`` (0-23), ``k`` (1-24), ``K``
(0-11), ``h`` (1-12), ``m``, ``s``, ``S`` (fraction of a second, as many digits as letters).
Text in single quotes is literal (``''`` is a quote); other characters that are not letters are
literal too. Any other letter, and the reserved ``[ ] { } #``, is an error, as in Java.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

__all__ = ["compile_pattern"]

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

Part = Callable[[datetime.datetime], str]


def _year(width: int) -> Part:
    if width == 2:
        return lambda t: f"{t.year % 100:02d}"
    return lambda t: str(t.year).zfill(width)


def _number(get: Callable[[datetime.datetime], int], width: int, letter: str) -> Part:
    if width > 2 and letter not in "D":
        raise ValueError(f"too many pattern letters: {letter * width!r}")
    return lambda t: str(get(t)).zfill(width)


def _month(width: int) -> Part:
    if width == 3:
        return lambda t: _MONTHS[t.month - 1][:3]
    if width == 4:
        return lambda t: _MONTHS[t.month - 1]
    if width > 4:
        raise ValueError(f"too many pattern letters: {'M' * width!r}")
    return lambda t: str(t.month).zfill(width)


def _weekday(width: int) -> Part:
    if width <= 3:
        return lambda t: _DAYS[t.weekday()][:3]
    if width == 4:
        return lambda t: _DAYS[t.weekday()]
    raise ValueError(f"too many pattern letters: {'E' * width!r}")


def _fraction(width: int) -> Part:
    return lambda t: f"{t.microsecond:06d}000"[:width].ljust(width, "0")


def _hour12(t: datetime.datetime) -> int:
    return t.hour % 12 or 12


_FIELDS: dict[str, Callable[[int], Part]] = {
    "y": _year,
    "u": _year,
    "M": _month,
    "L": _month,
    "d": lambda w: _number(lambda t: t.day, w, "d"),
    "D": lambda w: _number(lambda t: t.timetuple().tm_yday, w, "D"),
    "H": lambda w: _number(lambda t: t.hour, w, "H"),
    "k": lambda w: _number(lambda t: t.hour or 24, w, "k"),
    "K": lambda w: _number(lambda t: t.hour % 12, w, "K"),
    "h": lambda w: _number(_hour12, w, "h"),
    "m": lambda w: _number(lambda t: t.minute, w, "m"),
    "s": lambda w: _number(lambda t: t.second, w, "s"),
    "S": _fraction,
    "E": _weekday,
    "a": lambda w: (lambda t: "AM" if t.hour < 12 else "PM"),
}


def _literal(text: str) -> Part:
    return lambda t: text


def compile_pattern(pattern: str) -> Callable[[float], str]:
    """Compile ``pattern``; the result formats an epoch time (seconds) in UTC.

    Raises:
        ValueError: an unsupported or reserved pattern letter, or an unclosed quote.
    """
    parts: list[Part] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "'":
            end = i + 1
            text = ""
            while True:
                if end >= n:
                    raise ValueError(f"unclosed quote in {pattern!r}")
                if pattern[end] == "'":
                    if end + 1 < n and pattern[end + 1] == "'":
                        text += "'"
                        end += 2
                        continue
                    break
                text += pattern[end]
                end += 1
            parts.append(_literal(text if end > i + 1 else "'"))
            i = end + 1
            continue
        if ch in "[]{}#":
            raise ValueError(f"{ch!r} is reserved in date-time patterns ({pattern!r})")
        if ch.isascii() and ch.isalpha():
            width = 1
            while i + width < n and pattern[i + width] == ch:
                width += 1
            factory = _FIELDS.get(ch)
            if factory is None:
                raise ValueError(
                    f"pattern letter {ch!r} is not supported (in {pattern!r}); use letters "
                    "from y u M L d D E a H k K h m s S, and quote literal text ('T')"
                )
            parts.append(factory(width))
            i += width
            continue
        parts.append(_literal(ch))
        i += 1

    def render(epoch: float) -> str:
        when = datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)
        return "".join(part(when) for part in parts)

    return render
