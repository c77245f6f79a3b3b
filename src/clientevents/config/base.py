"""Building blocks shared by every configuration model: the strict base class and name types.

Every model is strict about its keys (``extra="forbid"``: a misspelt key is an error, not a
silently ignored setting) and frozen (a loaded configuration cannot change under the running
components). Values are validated in pydantic's lax mode so that strings produced by
``${env:NAME}`` interpolation (``port: "${env:PORT}"``) still become numbers and booleans.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "NAME_PATTERN",
    "ConfigModel",
    "ConfigProblems",
    "Name",
    "Problem",
    "duplicates",
]

NAME_PATTERN = r"^[.\-_A-Za-z0-9]+$"
"""The characters AWS allows in bus, rule, archive and target names."""

Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=NAME_PATTERN,
        description="1 to 64 characters: letters, digits, '.', '-' and '_'.",
    ),
]
"""A resource name: bus, rule, target id, archive, stream, issuer."""


class ConfigModel(BaseModel):
    """Base of every configuration model: unknown keys are errors and instances are frozen."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_default=True,
    )


Location = tuple[str | int, ...]
"""A field path as pydantic reports it: keys and list indexes."""

Problem = tuple[Location, str]
"""One problem: its location relative to the model that found it, and the message."""


class ConfigProblems(ValueError):
    """One or more problems a model validator found, each at its own relative location.

    Pydantic reports an error raised by a model validator at the model's own location; this
    exception carries the precise location of every problem, and the loader expands it into one
    error per problem (``rules[1].targets[2].bus`` rather than ``rules[1]``).
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("; ".join(_describe(loc, message) for loc, message in self.problems))


def _describe(loc: Location, message: str) -> str:
    from clientevents.config.errors import format_location
    from clientevents.config.targets import TARGET_TYPES

    # Target locations carry the target's type after its index, as pydantic's do; hide it.
    shown = [
        part
        for i, part in enumerate(loc)
        if not (part in TARGET_TYPES and i >= 2 and loc[i - 2] == "targets")
    ]
    return f"{format_location(shown)}: {message}" if shown else message


def duplicates(
    values: Iterable[tuple[int, str]], what: str, collection: str, key: str = "name"
) -> list[Problem]:
    """Problems for every repeated value: ``[(index, value)]`` in order of appearance."""
    seen: dict[str, int] = {}
    problems: list[Problem] = []
    for index, value in values:
        if value in seen:
            problems.append(
                (
                    (collection, index, key),
                    f"duplicate {what} {value!r}: {collection}[{seen[value]}] already uses it; "
                    f"give each {what} a unique {key}.",
                )
            )
        else:
            seen[value] = index
    return problems
