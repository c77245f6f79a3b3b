"""The console's sign-in lockout holds under concurrency: an attempt is claimed before its
password is checked, as the user pool does (``identity/lockout.py``)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from clientevents.admin.accounts import ConsoleAccounts
from clientevents.admin.errors import AdminError, NotSignedIn, TooManyAttempts
from clientevents.identity import lockout
from clientevents.identity.passwords import PasswordHasher
from clientevents.store.engine import Database

PASSWORD = "a long passphrase"
NOW = 1_800_000_000.0


class CountingHasher(PasswordHasher):
    """The real Argon2id hasher (small parameters), counting checks against a real hash."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_kib=1024)
        self.password_checks = 0
        self._lock = threading.Lock()

    def verify(self, encoded: str | None, password: str) -> bool:
        with self._lock:
            self.password_checks += encoded is not None
        return super().verify(encoded, password)


@pytest.fixture
def db(state_store: Database) -> Iterator[Database]:
    """A fresh store, on SQLite and on PostgreSQL."""
    yield state_store


def _race(accounts: ConsoleAccounts, username: str, count: int) -> Counter[str]:
    """``count`` sign-ins with wrong passwords, all released at once: the answers' codes."""
    answers: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(count)

    def attempt(i: int) -> None:
        start.wait()
        try:
            accounts.sign_in(username, f"wrong passphrase {i}")
            code = "signed in"
        except AdminError as error:
            code = error.code
        with lock:
            answers[code] += 1

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_101_concurrent_wrong_passwords_evaluate_no_more_than_the_lockout_allows(
    db: Database,
) -> None:
    # Given a console account, and a clock that stands still (the first lock never runs out)
    hasher = CountingHasher()
    accounts = ConsoleAccounts(db, hasher=hasher, clock=lambda: NOW)
    accounts.add_user("ops", PASSWORD, "admin")
    # When 101 sign-ins with wrong passwords arrive at once
    answers = _race(accounts, "ops", 101)
    # Then at most five passwords were checked (the fifth failure locks) and the rest were
    # refused without a check
    assert hasher.password_checks <= lockout.FREE_FAILURES
    assert answers["NotSignedIn"] == hasher.password_checks
    assert answers["TooManyAttempts"] == 101 - hasher.password_checks
    # and the right password is refused too while the lock lasts, without a check.
    with pytest.raises(TooManyAttempts):
        accounts.sign_in("ops", PASSWORD)
    assert hasher.password_checks <= lockout.FREE_FAILURES


def test_a_correct_password_forgives_and_a_lock_runs_out(db: Database) -> None:
    clock = [NOW]
    accounts = ConsoleAccounts(db, hasher=CountingHasher(), clock=lambda: clock[0])
    accounts.add_user("ops", PASSWORD, "viewer")
    for _ in range(4):
        with pytest.raises(NotSignedIn):
            accounts.sign_in("ops", "wrong passphrase")
    accounts.sign_in("ops", PASSWORD)  # forgives the four
    for _ in range(4):
        with pytest.raises(NotSignedIn):
            accounts.sign_in("ops", "wrong passphrase")
    accounts.sign_in("OPS", PASSWORD)  # case-insensitive, like the account
    for _ in range(5):
        with pytest.raises(NotSignedIn):
            accounts.sign_in("ops", "wrong passphrase")
    with pytest.raises(TooManyAttempts) as locked:
        accounts.sign_in("ops", PASSWORD)
    assert locked.value.retry_after_secs == pytest.approx(1.0)
    clock[0] += 2
    assert accounts.sign_in("ops", PASSWORD).session.username == "ops"
    # A new password also clears the count.
    for _ in range(5):
        with pytest.raises(NotSignedIn):
            accounts.sign_in("ops", "wrong passphrase")
    accounts.add_user("ops", "another passphrase", "viewer", replace=True)
    assert accounts.sign_in("ops", "another passphrase").session.role == "viewer"


def test_an_unknown_name_is_counted_and_locked_like_an_account(db: Database) -> None:
    # An unknown console username gets the very answers a real one gets, lock included, so
    # the answers tell nothing about which accounts exist.
    accounts = ConsoleAccounts(db, hasher=CountingHasher(), clock=lambda: NOW)
    answers = _race(accounts, "nobody", 20)
    assert answers["NotSignedIn"] == lockout.FREE_FAILURES
    assert answers["TooManyAttempts"] == 20 - lockout.FREE_FAILURES
