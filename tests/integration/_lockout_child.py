"""A process racing others to sign in to one user pool with wrong passwords.

Usage: ``python _lockout_child.py DATA_DIR USERNAME THREADS START_AT NOW``

Opens the pool in the store of ``DATA_DIR`` (``DATA_DIR/clientevents.db``, or the PostgreSQL
schema CLIENTEVENTS_STORAGE names; its own connections, like a second gateway process) with a
clock frozen at ``NOW``, waits until the wall clock reaches ``START_AT`` (so all racers start
together), then makes ``THREADS`` concurrent sign-in attempts with a wrong
password, and prints one JSON object: how many answers of each kind it got.
"""

from __future__ import annotations

import collections
import json
import sys
import threading
import time
from pathlib import Path

from clientevents.config import validate_settings
from clientevents.config.identity import UserPoolSettings
from clientevents.identity.errors import CognitoError
from clientevents.identity.passwords import PasswordHasher
from clientevents.identity.userpool import UserPool
from clientevents.store.factory import open_store


def main() -> None:
    data_dir, username = Path(sys.argv[1]), sys.argv[2]
    threads, start_at, now = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    settings = validate_settings({"data_dir": str(data_dir)}, file="<racer>")
    db = open_store(settings, data_dir)
    pool = UserPool(db, UserPoolSettings(), data_dir=data_dir,
                    hasher=PasswordHasher(time_cost=1, memory_kib=1024), clock=lambda: now)
    answers: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def attempt() -> None:
        time.sleep(max(0.0, start_at - time.time()))
        try:
            pool.initiate_auth("USER_PASSWORD_AUTH",
                               {"USERNAME": username, "PASSWORD": "Wrong-passw0rd"})
            answer = "signed in"
        except CognitoError as error:
            answer = error.message
        with lock:
            answers[answer] += 1

    workers = [threading.Thread(target=attempt) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    db.close()
    print(json.dumps(dict(answers)))


if __name__ == "__main__":
    main()
