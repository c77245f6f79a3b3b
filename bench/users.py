"""Signed-in users for the ingest benchmarks: real user-pool rows, sessions and access tokens.

The users are made through the user pool's own Python API (sign-up, confirmation by the
administrator, password sign-in), over the same database file the measured server uses,
so each token is a real RS256 access token of a real session. Only the password hash is made
cheap (Argon2id with 64 KiB and one pass instead of 19 MiB and two): 10,000 logins at 16 ms
each would take minutes, and password hashing is not what the benchmarks measure. Several
threads sign users up at once so their writes share commits.
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path
from typing import Any

PASSWORD = "Bench-passw0rd!"


def make_tokens(settings: Any, data_dir: Path, count: int, *, prefix: str = "bench-user",
                threads: int = 8) -> list[str]:
    """Sign up, confirm and sign in ``count`` users; return one access token each."""
    from clientevents.identity.passwords import PasswordHasher
    from clientevents.identity.userpool import UserPool
    from clientevents.runtime import Runtime

    runtime = Runtime(settings, data_dir)
    try:
        pool_settings = settings.identity.user_pool
        pool = UserPool(runtime.db, pool_settings, data_dir=data_dir,
                        hasher=PasswordHasher(time_cost=1, memory_kib=64))

        def one(index: int) -> str:
            username = f"{prefix}-{index}"
            pool.sign_up(username, PASSWORD, [{"Name": "email",
                                               "Value": f"{username}@example.com"}])
            pool.admin_confirm_sign_up(username)
            answer = pool.initiate_auth(
                "USER_PASSWORD_AUTH", {"USERNAME": username, "PASSWORD": PASSWORD}
            )
            token: str = answer["AuthenticationResult"]["AccessToken"]
            return token

        with concurrent.futures.ThreadPoolExecutor(threads) as executor:
            return list(executor.map(one, range(count)))
    finally:
        runtime.close()
