"""Two claimers of one queue on two connections (two processes' views), each in a thread of its
own: what they are handed must never overlap, and together they must take everything."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

__all__ = ["claim_from_two"]

#: Takes one batch for a claimer: the ids it was handed (none when nothing is left).
Take = Callable[[], Sequence[int]]


def claim_from_two(first: Take, second: Take, count: int, *, what: str) -> None:
    """Run ``first`` and ``second`` at once, each until it is handed nothing (at most ``count``
    batches: one still handed ``what`` after that fails), and check that neither failed, that no
    id was handed to both and that the ``count`` ids were all claimed."""
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def loop(take: Take, name: str) -> None:
        try:
            for _ in range(count):  # bounded: a claimer handed ids forever fails the test
                got = take()
                if not got:
                    return
                claimed[name].extend(got)
            errors.append(AssertionError(f"claimer {name} was still handed {what}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(first, "a")),
               threading.Thread(target=loop, args=(second, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert not set(claimed["a"]) & set(claimed["b"])
    assert len(claimed["a"]) + len(claimed["b"]) == count
    assert len(set(claimed["a"]) | set(claimed["b"])) == count
