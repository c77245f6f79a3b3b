"""The lockout holds under concurrency: attempts are claimed before passwords are checked."""

from __future__ import annotations

import threading
from pathlib import Path

from identity_helpers import PASSWORD, CountingHasher, FakeClock, make_pool, signed_up

from clientevents.identity import lockout
from clientevents.identity.errors import CognitoError
from clientevents.store.engine import Database


def test_101_concurrent_sign_ins_evaluate_no_more_passwords_than_the_lockout_allows(
    db: Database, tmp_path: Path, clock: FakeClock
) -> None:
    # Given a user, and a clock that stands still (so the first lock never runs out)
    hasher = CountingHasher()
    pool = make_pool(db, tmp_path, clock, hasher)
    signed_up(pool, tmp_path)
    checks_before = hasher.password_checks
    # When 101 sign-ins with wrong passwords arrive at once
    answers: list[str] = []
    start = threading.Barrier(101)

    def attempt(password: str) -> None:
        start.wait()
        try:
            pool.initiate_auth("USER_PASSWORD_AUTH", {"USERNAME": "alice", "PASSWORD": password})
            answers.append("signed in")
        except CognitoError as error:
            answers.append(error.message)

    threads = [threading.Thread(target=attempt, args=(f"Wrong-{i}-passw0rd",))
               for i in range(101)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then at most five passwords were checked (the fifth failure locks) and the rest were
    # refused without a check; the right password is refused too while the lock lasts
    checked = hasher.password_checks - checks_before
    assert checked <= lockout.FREE_FAILURES
    assert answers.count("Incorrect username or password.") == checked
    assert answers.count("Password attempts exceeded") == 101 - checked
    try:
        pool.initiate_auth("USER_PASSWORD_AUTH", {"USERNAME": "alice", "PASSWORD": PASSWORD})
        raise AssertionError("the right password got in while the user was locked out")
    except CognitoError as error:
        assert error.message == "Password attempts exceeded"
    assert hasher.password_checks - checks_before == checked
