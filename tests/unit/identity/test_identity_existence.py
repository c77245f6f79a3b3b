"""With prevent_user_existence_errors on, an unknown name is answered exactly as a real one.

"Exactly" is checked three ways for every operation that takes a username from anyone: the
answers (errors by type and message; code destinations by shape), the number of Argon2id
evaluations (the slow part of every answer), and the durable writes (how many, and whether each
changed rows, so each costs a commit to disk). A real user is compared in every state an
attacker could probe for: confirmed, unconfirmed, disabled, without an e-mail.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from identity_helpers import (
    PASSWORD,
    CountingDatabase,
    CountingHasher,
    FakeClock,
    code_for,
    make_pool,
    signed_up,
)

from clientevents.identity import codes
from clientevents.identity.errors import CognitoError
from clientevents.identity.userpool import UserPool

WRONG = "Wr0ng-password!"


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def cdb(tmp_path: Path) -> Any:
    database = CountingDatabase(tmp_path / "clientevents.db")
    yield database
    database.close()


@pytest.fixture
def hiding_pool(cdb: CountingDatabase, tmp_path: Path, clock: FakeClock,
                hasher: CountingHasher) -> UserPool:
    pool = make_pool(cdb, tmp_path, clock, hasher)
    signed_up(pool, tmp_path, "confirmed")
    signed_up(pool, tmp_path, "unconfirmed", confirm=False)
    signed_up(pool, tmp_path, "disabled")
    pool.admin_disable_user("disabled")
    signed_up(pool, tmp_path, "disabled_unconfirmed", confirm=False)
    pool.admin_disable_user("disabled_unconfirmed")
    signed_up(pool, tmp_path, "no_email", email=None)
    return pool


_MASK = re.compile(r"^[a-z]\*\*\*@[a-z]\*\*\*$")


def outcome(answer: Any) -> Any:
    """What a caller sees, with a code destination reduced to its shape."""
    if isinstance(answer, CognitoError):
        return (answer.error_type, answer.message)
    details = answer.get("CodeDeliveryDetails") if isinstance(answer, dict) else None
    if details is not None:
        assert _MASK.match(details["Destination"]), details
        return {**answer, "CodeDeliveryDetails": {**details, "Destination": "?***@?***"}}
    return answer


def observe(
    pool: UserPool, hasher: CountingHasher, db: CountingDatabase, call: Callable[[], Any]
) -> tuple[Any, int, list[bool]]:
    """The outcome of ``call``, the Argon2id evaluations and the writes it made."""
    evaluations, writes = hasher.evaluations, len(db.writes)
    try:
        answer: Any = call()
    except CognitoError as error:
        answer = error
    return outcome(answer), hasher.evaluations - evaluations, db.writes[writes:]


def sign_in(pool: UserPool, username: str, password: str = WRONG) -> Any:
    return pool.initiate_auth("USER_PASSWORD_AUTH", {"USERNAME": username, "PASSWORD": password})


OPERATIONS: dict[str, Callable[[UserPool, str], Any]] = {
    "InitiateAuth": sign_in,
    "ForgotPassword": lambda pool, name: pool.forgot_password(name),
    "ResendConfirmationCode": lambda pool, name: pool.resend_confirmation_code(name),
    "ConfirmSignUp": lambda pool, name: pool.confirm_sign_up(name, "123456"),
    "ConfirmForgotPassword": lambda pool, name: pool.confirm_forgot_password(
        name, "123456", "N3w-Passw0rd!"
    ),
}

STATES = ["confirmed", "unconfirmed", "disabled", "disabled_unconfirmed", "no_email"]


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("state", STATES)
def test_a_real_user_in_any_state_is_answered_like_an_unknown_name(
    hiding_pool: UserPool, hasher: CountingHasher, cdb: CountingDatabase, operation: str,
    state: str,
) -> None:
    # Given a real user and a name nobody has, When each is sent the same operation twelve
    # times (past the lockout, the code attempts and the hourly send limit)
    call = OPERATIONS[operation]
    real = [observe(hiding_pool, hasher, cdb, lambda: call(hiding_pool, state))
            for _ in range(12)]
    unknown = [observe(hiding_pool, hasher, cdb, lambda: call(hiding_pool, f"nobody_{state}"))
               for _ in range(12)]
    # Then the answers, the Argon2id work and the writes are the same, call after call
    assert real == unknown


def test_code_requests_then_guesses_are_answered_alike(
    hiding_pool: UserPool, hasher: CountingHasher, cdb: CountingDatabase
) -> None:
    # A reset code requested for a real user, and for a name nobody has, then guessed at.
    for name in ("confirmed", "nobody"):
        hiding_pool.forgot_password(name)
    guesses = {
        name: [observe(hiding_pool, hasher, cdb, lambda n=name: hiding_pool.confirm_forgot_password(
            n, "000000", "N3w-Passw0rd!")) for _ in range(7)]
        for name in ("confirmed", "nobody")
    }
    assert guesses["confirmed"] == guesses["nobody"]
    assert [o[0][0] for o in guesses["nobody"]] == (
        ["CodeMismatchException"] * codes.MAX_ATTEMPTS
        + ["TooManyFailedAttemptsException"] * 2
    )


def test_simulated_destinations_look_real_and_stay_put(hiding_pool: UserPool) -> None:
    destinations = {
        name: hiding_pool.forgot_password(name)["CodeDeliveryDetails"]["Destination"]
        for name in ("nobody", "somebody", "anybody", "nobody_else", "NOBODY")
    }
    assert all(_MASK.match(d) for d in destinations.values())
    assert destinations["NOBODY"] == destinations["nobody"]  # the same every time for a name
    assert len(set(destinations.values())) > 1  # not one telltale constant
    assert hiding_pool.forgot_password("confirmed")["CodeDeliveryDetails"]["Destination"] == (
        "a***@e***"  # the real user's masked address (alice@example.com)
    )


def test_nobody_can_lock_a_user_out_of_password_resets(
    hiding_pool: UserPool, tmp_path: Path
) -> None:
    # Given someone asking for reset codes for a victim until the hourly limit
    for _ in range(codes.MAX_SENDS_PER_HOUR):
        hiding_pool.forgot_password("confirmed")
    last = code_for(tmp_path, "confirmed")
    # When the victim asks again, Then the answer is the usual one (no LimitExceeded), and the
    # last code the victim was sent still resets the password
    assert "CodeDeliveryDetails" in hiding_pool.forgot_password("confirmed")
    hiding_pool.confirm_forgot_password("confirmed", last, "N3w-Passw0rd!")
    sign_in(hiding_pool, "confirmed", "N3w-Passw0rd!")


def test_the_lockout_answer_comes_after_the_same_argon2_work(
    hiding_pool: UserPool, hasher: CountingHasher, cdb: CountingDatabase
) -> None:
    for name in ("confirmed", "nobody"):
        answers = [observe(hiding_pool, hasher, cdb, lambda n=name: sign_in(hiding_pool, n))
                   for _ in range(7)]
        assert [a[0][1] for a in answers] == (
            ["Incorrect username or password."] * 5 + ["Password attempts exceeded"] * 2
        )
        assert [a[1] for a in answers] == [1] * 7


def test_the_right_password_of_a_locked_user_is_not_evaluated(
    hiding_pool: UserPool, hasher: CountingHasher
) -> None:
    for _ in range(5):
        with pytest.raises(CognitoError):
            sign_in(hiding_pool, "confirmed")
    with pytest.raises(CognitoError) as caught:
        sign_in(hiding_pool, "confirmed", PASSWORD)
    assert caught.value.message == "Password attempts exceeded"


def test_the_timing_benchmark_runs_in_quick_mode(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[3]))
    import importlib

    results = importlib.import_module("bench.identity").main(["--quick"])
    assert "unknown/real" in capsys.readouterr().out
    assert len(results) == 6 and all(r["real_secs"] > 0 for r in results.values())
