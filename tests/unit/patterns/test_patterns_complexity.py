"""Wildcard complexity: EventBridge's "rule is too complex" measure and limit.

The figures below are event-ruler's own (MachineComplexityEvaluatorTest on bare values and
MachineComplexityEvaluatorCorpus on JSON rules): the largest number of wildcard match states
one input can keep active at once, each counted once per pattern it leads to. EventBridge
refuses a rule when one field's wildcards exceed 10.
"""

from __future__ import annotations

from typing import Any

import pytest

from clientevents.patterns import EventPattern, InvalidEventPattern, Matcher
from clientevents.patterns.complexity import MAX_WILDCARD_COMPLEXITY, wildcard_complexity
from clientevents.patterns.wildcard import parse_wildcard

UNCAPPED = 10_000


def bare(*wildcards: str) -> int:
    """Complexity of plain wildcard values measured without JSON quotes."""
    return wildcard_complexity([(parse_wildcard(w),) for w in wildcards], UNCAPPED, quoted=False)


def quoted(*wildcards: str) -> int:
    """Complexity of plain wildcard values as EventBridge measures them (JSON text)."""
    return wildcard_complexity([(parse_wildcard(w),) for w in wildcards], UNCAPPED)


# (values, complexity, an input reaching it: the states it keeps active)
BARE_FIGURES: list[tuple[tuple[str, ...], int, str]] = [
    (("*",), 1, "a: *"),
    (("abc",), 1, "abc: abc"),
    (("*ab",), 2, "ab: *, *ab"),
    (("*aa",), 3, "aa: *, *a, *aa"),
    (("a*b",), 2, "ab: a*, a*b"),
    (("aa*",), 2, "aa: aa, aa*"),
    (("a*bbb",), 4, "abbb: a*, a*b, a*bb, a*bbb"),
    (("*ab*ad",), 4, "aba: *, *a, *ab*, *ab*a"),
    (("*aba*",), 4, "aba: *, *a, *aba, *aba*"),
    (("a*b*bb",), 5, "abbb: a*, a*b, a*b*, a*b*b, a*b*bb"),
    (("a*b*cd",), 3, "abcd: a*, a*b*, a*b*cd"),
    (("*ab*b*b*",), 7, "abbbab: every prefix"),
    (("*a*a*a*a*a*a*a*a*",), 17, "aaaaaaaa: all 17 prefixes"),
    (("*", "ab*c"), 3, "abc: *, ab*, ab*c"),
    (("ab*c", "x*xx"), 3, "xxx: x*, x*x, x*xx (the patterns never overlap)"),
    (("*abc", "*abcde"), 4, "abc: *, *abc for each pattern"),
    (("a*aaa", "aa*aa"), 7, "aaaa: a*, a*a, a*aa, a*aaa, aa*, aa*a, aa*aa"),
    (("a*aaa", "aaa*a"), 6, "aaaa: a*, a*a, a*aa, a*aaa, aaa*, aaa*a"),
    (("abc*", "abcde*"), 3, "abc: abc, abc*, abc"),
    (("ab*cd", "ab*wx", "ab*yz"), 6, "ab: ab, ab* for each pattern"),
    (("ab*c", "ab*c"), 2, "duplicates count once"),
    (("F*eatureFeature", "Fe*atureFeature", "Fea*tureFeature"), 10, "FeatureFeature"),
]


@pytest.mark.parametrize(("values", "expected", "witness"), BARE_FIGURES)
def test_bare_values_match_event_ruler_figures(
    values: tuple[str, ...], expected: int, witness: str
) -> None:
    assert bare(*values) == expected, witness


QUAMINA_EXPLODER = [
    "aahed*",
    "aal*ii",
    "aargh*",
    "aarti*",
    "a*baca",
    "*abaci",
    "a*back",
    "ab*acs",
    "abaf*t",
    "*abaka",
    "ab*amp",
    "a*band",
    "*abase",
    "abash*",
    "abas*k",
    "ab*ate",
    "aba*ya",
    "abbas*",
    "abbed*",
    "ab*bes",
    "abbey*",
    "*abbot",
    "ab*cee",
    "abea*m",
    "abe*ar",
    "a*bele",
    "a*bers",
    "abet*s",
    "*abhor",
    "abi*de",
    "a*bies",
    "*abled",
]


def test_quamina_exploder_set() -> None:
    # 32 wildcards with heavy prefix sharing: event-ruler reports 45, bare and as JSON.
    assert bare(*QUAMINA_EXPLODER) == 45
    assert quoted(*QUAMINA_EXPLODER) == 45


@pytest.mark.parametrize("repeats", [3, 50, 100])
def test_repeated_character_after_stars(repeats: int) -> None:
    # "*a*a*...*a*": on a run of "a" every star and every "a" stays live: 2n + 1.
    assert quoted("*a" * repeats + "*") == 2 * repeats + 1


@pytest.mark.parametrize("count", [4, 8])
def test_leading_star_sets(count: int) -> None:
    # m values "*xy*": after all have been seen, the closing quote keeps both stars and the
    # final state of each: 3m (event-ruler's corpus: 12 for 4, 24 for 8).
    values = ["*" + chr(97 + i % 26) + chr(97 + i // 26) + "*" for i in range(count)]
    assert quoted(*values) == 3 * count


LEADING_STAR_STRINGS = ("*kiwi*", "*BASE_QuxB*", "*Delta*", "*a/example-lake-abc98765432*")


def test_anything_but_list_is_one_pattern() -> None:
    # One anything-but list shares its first star and final state: 7; the same strings as
    # four wildcard values count each of their states: 12.
    as_set = tuple(parse_wildcard(w) for w in LEADING_STAR_STRINGS)
    assert wildcard_complexity([as_set], UNCAPPED) == 7
    assert quoted(*LEADING_STAR_STRINGS) == 12


def test_evaluation_is_capped_and_cheap() -> None:
    # Uncapped, these take event-ruler seconds to minutes; capped they stop at once.
    sixteen = [(parse_wildcard("*" + chr(97 + i) + "a*"),) for i in range(16)]
    assert wildcard_complexity(sixteen) == MAX_WILDCARD_COMPLEXITY + 1
    assert wildcard_complexity([(parse_wildcard("*a" * 2022 + "*"),)]) == 11
    # The work budget also ends the evaluation (counted as too complex).
    assert wildcard_complexity([(parse_wildcard("a*b*c"),)], 100, budget=1) == 100
    assert wildcard_complexity([]) == 0


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (("*.png",), 2),  # '"': the opening quote and the star
        (("arn:aws:s3:::bucket/*/report-*.csv",), 3),  # '...report-': star, '-', star
        (("arn:aws:events:us-east-1:*:event-bus/*",), 3),
        (("/Users/*/dir/dir/dir/dir/dir/doc.txt",), 7),  # star + six '/' positions
        (("*a*b*c*d*e*f*g",), 8),  # seven stars and the last letter
        (tuple(f"*{c}" for c in "vwxyz"), 10),  # quote and star of each
        (tuple(f"v{i}" for i in range(10)), 10),  # the opening quote of each
        (("*:*:*:*:*:event-bus/*",), 11),  # ':::::' six stars and five colons
        (tuple(f"*{c}" for c in "uvwxyz"), 12),
        (tuple(f"v{i}" for i in range(11)), 11),
    ],
)
def test_figures_of_the_examples_below(values: tuple[str, ...], expected: int) -> None:
    assert quoted(*values) == expected
    assert (expected > MAX_WILDCARD_COMPLEXITY) == (
        wildcard_complexity([(parse_wildcard(w),) for w in values]) > MAX_WILDCARD_COMPLEXITY
    )


ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("suffix-like: quote, star, then '.png' (2)", {"f": [{"wildcard": "*.png"}]}),
    (
        "two stars in a path (3)",
        {"key": [{"wildcard": "arn:aws:s3:::bucket/*/report-*.csv"}]},
    ),
    (
        "EventBridge's own example (3)",
        {"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]},
    ),
    (
        "repeating segment after one star, accepted by AWS (7)",
        {"FileName": [{"wildcard": "/Users/*/dir/dir/dir/dir/dir/doc.txt"}]},
    ),
    ("seven stars, nothing repeats (8)", {"f": [{"wildcard": "*a*b*c*d*e*f*g"}]}),
    ("five leading-star values (10)", {"f": [{"wildcard": f"*{c}"} for c in "vwxyz"]}),
    ("ten star-free wildcards (10)", {"f": [{"wildcard": f"v{i}"} for i in range(10)]}),
    (
        "four-string anything-but list (7)",
        {"f": [{"anything-but": {"wildcard": list(LEADING_STAR_STRINGS)}}]},
    ),
    (
        "$or alternatives on different states (6 each)",
        {
            "$or": [
                {"a": ["1"], "f": [{"wildcard": "*p*"}, {"wildcard": "*q*"}]},
                {"a": ["2"], "f": [{"wildcard": "*r*"}, {"wildcard": "*s*"}]},
            ]
        },
    ),
]


@pytest.mark.parametrize(("why", "pattern"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_accepted(why: str, pattern: dict[str, Any]) -> None:
    EventPattern(pattern)
    Matcher().add("rule", pattern)


REJECTED: list[tuple[str, dict[str, Any], str]] = [
    (
        "recorded against AWS: ':::::' keeps six stars and five colons (11)",
        {"EventBusArn": [{"wildcard": "*:*:*:*:*:event-bus/*"}]},
        "EventBusArn",
    ),
    ("repeating 'a' after stars (11)", {"f": [{"wildcard": "*a*a*a*a*a*"}]}, "f"),
    ("six leading-star values (12)", {"f": [{"wildcard": f"*{c}"} for c in "uvwxyz"]}, "f"),
    (
        "eleven star-free wildcards share the opening quote (11)",
        {"f": [{"wildcard": f"v{i}"} for i in range(11)]},
        "f",
    ),
    (
        "the same strings as four wildcard values (12)",
        {"detail": {"f": [{"wildcard": w} for w in LEADING_STAR_STRINGS]}},
        "detail.f",
    ),
    (
        "$or alternatives reaching the same state add up (4 x 3)",
        {
            "$or": [
                {"f": [{"wildcard": "*p*"}, {"wildcard": "*q*"}]},
                {"f": [{"wildcard": "*r*"}, {"wildcard": "*s*"}]},
            ]
        },
        "f",
    ),
    (
        "behind an exists:false field (11)",
        {"a": [{"exists": False}], "z": [{"wildcard": "*a*a*a*a*a*"}]},
        "z",
    ),
    (
        "anything-but wildcards count too (11)",
        {"f": [{"anything-but": {"wildcard": "*a*a*a*a*a*"}}]},
        "f",
    ),
]


@pytest.mark.parametrize(("why", "pattern", "path"), REJECTED, ids=[r[0] for r in REJECTED])
def test_rejected(why: str, pattern: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidEventPattern) as info:
        EventPattern(pattern)
    assert info.value.path == path
    assert "too complex" in info.value.problem
    assert "fewer wildcard characters or fewer repeating character sequences" in str(info.value)
    matcher = Matcher()
    with pytest.raises(InvalidEventPattern):
        matcher.add("rule", pattern)
    assert len(matcher) == 0
