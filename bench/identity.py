"""How long the user pool takes to answer a real user and a name nobody has, operation by operation.

Run: ``.venv/bin/python -m bench.identity`` (``--quick`` for a smoke run).

With ``prevent_user_existence_errors`` on, every answer about a username must take the same time
whether or not a user has it, or timing alone tells which users exist. For each operation anyone
may call with a username, the benchmark times calls for a real user and for an unknown name,
alternating them (so both see the same machine load), with the production Argon2id parameters
and a real SQLite file, and prints the median of each and their ratio (unknown / real). The real
user is in the state an attacker would probe: confirmed for sign-in and password reset,
unconfirmed for the sign-up code operations; a wrong code is guessed right after a code was
requested for the name. Sign-in is measured twice: before the lockout (wrong passwords) and
while locked out (``Password attempts exceeded``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from clientevents.config.identity import UserPoolSettings
from clientevents.identity.errors import CognitoError
from clientevents.identity.notifier import CodeMessage
from clientevents.identity.userpool import UserPool
from clientevents.store.engine import Database

PASSWORD = "Bench-Passw0rd!"


class _Discard:
    """A notifier that drops codes (delivery is not what is measured)."""

    def deliver(self, message: CodeMessage) -> None:
        return None


def _call(fn: Callable[[str], Any], name: str) -> float:
    """Seconds ``fn(name)`` takes, answer or Cognito error alike."""
    start = time.perf_counter()
    try:
        fn(name)
    except CognitoError:
        pass
    return time.perf_counter() - start


Operation = tuple[str, Callable[[str], Any], Callable[[str], Any] | None]
"""The real user's state, the call, and an untimed call made before each timed one."""


def _operations(pool: UserPool) -> dict[str, Operation]:
    def sign_in(name: str) -> Any:
        return pool.initiate_auth(
            "USER_PASSWORD_AUTH", {"USERNAME": name, "PASSWORD": "Wrong-passw0rd!"}
        )

    return {
        "InitiateAuth, wrong password": ("confirmed", sign_in, None),
        "InitiateAuth, locked out": ("confirmed", sign_in, None),
        "ForgotPassword": ("confirmed", pool.forgot_password, None),
        "ConfirmForgotPassword, wrong code": (
            "confirmed",
            lambda n: pool.confirm_forgot_password(n, "000000", "N3w-Passw0rd!"),
            pool.forgot_password,
        ),
        "ResendConfirmationCode": ("unconfirmed", pool.resend_confirmation_code, None),
        "ConfirmSignUp, wrong code": (
            "unconfirmed", lambda n: pool.confirm_sign_up(n, "000000"),
            pool.resend_confirmation_code,
        ),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the benchmark, print its table, and return the medians (seconds) and ratios."""
    parser = argparse.ArgumentParser(prog="python -m bench.identity", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few calls per operation")
    parser.add_argument("--calls", type=int, default=0, help="calls per name (default 40)")
    args = parser.parse_args(argv)
    calls = args.calls or (3 if args.quick else 40)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        db = Database(data_dir / "clientevents.db")
        clock = [time.time()]
        pool = UserPool(db, UserPoolSettings(), data_dir=data_dir, notifier=_Discard(),
                        clock=lambda: clock[0])
        print(f"calls per name: {calls}; Argon2id with the production parameters")
        print(f"{'operation':38} {'real ms':>9} {'unknown ms':>11} {'unknown/real':>13}")
        for number, (operation, (state, call, prepare)) in enumerate(_operations(pool).items()):
            real, unknown = f"{state}-{number}", f"nobody-{number}"
            pool.sign_up(real, PASSWORD)
            if state == "confirmed":
                pool.admin_confirm_sign_up(real)
            locked = operation.endswith("locked out")
            if locked:
                for name in (real, unknown):
                    for _ in range(5):
                        _call(call, name)
            times: dict[str, list[float]] = {"real": [], "unknown": []}
            for _ in range(calls):
                if not locked:
                    clock[0] += 3601.0  # a fresh hour and no lock: measure the usual path
                for name in (real, unknown):
                    if prepare is not None:
                        _call(prepare, name)
                    times["real" if name == real else "unknown"].append(
                        _call(call, name)
                    )
            real_median = statistics.median(times["real"])
            unknown_median = statistics.median(times["unknown"])
            results[operation] = {
                "real_secs": real_median,
                "unknown_secs": unknown_median,
                "ratio": unknown_median / real_median,
            }
            print(
                f"{operation:38} {real_median * 1e3:>9.2f} {unknown_median * 1e3:>11.2f} "
                f"{unknown_median / real_median:>13.2f}"
            )
        db.close()
    return results


if __name__ == "__main__":
    main()
