"""The state-store port's contract, held by every implementation (SQLite and PostgreSQL).

PostgreSQL tests use the machine's server (``require_service``), each in a fresh schema dropped
afterwards; the unreachable-server test starts its own server with ``initdb`` in a temporary
folder when the binaries are there.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from claim_harness import claim_from_two
from store_helpers import (
    PG_DSN,
    close_test_store,
    open_second_store,
    open_test_store,
    pg_schema_name,
    require_service,
)

from clientevents.errors import StoreError
from clientevents.store.migrations import register_migrations
from clientevents.store.port import SqlConnection, execute_late

DDL = """
CREATE TABLE IF NOT EXISTS kv (
    k TEXT PRIMARY KEY,
    v INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    due REAL NOT NULL,
    owner TEXT
);
"""


@pytest.fixture
def db(state_store: Any) -> Iterator[Any]:
    state_store.ensure_schema(DDL)
    yield state_store


def _put(k: str, v: int) -> Any:
    def fn(conn: SqlConnection) -> int:
        conn.execute("INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = "
                     "excluded.v", (k, v))
        return v
    return fn


def _get(db: Any, k: str) -> int | None:
    row = db.read(lambda conn: conn.execute("SELECT v FROM kv WHERE k = ?", (k,)).fetchone())
    return None if row is None else int(row[0])


def test_a_write_is_visible_to_a_read_once_it_returns(db: Any) -> None:
    assert db.write(_put("a", 1)) == 1
    assert _get(db, "a") == 1


def test_placeholders_inside_literals_and_percent_signs_are_kept(db: Any) -> None:
    db.write(lambda conn: conn.execute("INSERT INTO kv (k, v) VALUES ('50%?', ?)", (7,)))
    rows = db.read(lambda conn: conn.execute(
        "SELECT k, v FROM kv WHERE k LIKE '%\\%?' ESCAPE '\\' AND v = ?", (7,)).fetchall())
    assert [tuple(r) for r in rows] == [("50%?", 7)]


def test_concurrent_writers_share_commits_and_a_failing_one_rolls_back_alone(db: Any) -> None:
    def failing(conn: SqlConnection) -> None:
        conn.execute("INSERT INTO kv (k, v) VALUES ('bad', 1)")
        raise ValueError("refused")

    results: dict[str, Any] = {}

    def run(name: str, fn: Any) -> None:
        try:
            results[name] = db.write(fn)
        except ValueError as exc:
            results[name] = exc

    threads = [threading.Thread(target=run, args=(f"w{i}", _put(f"k{i}", i))) for i in range(20)]
    threads.append(threading.Thread(target=run, args=("bad", failing)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert isinstance(results["bad"], ValueError)
    assert _get(db, "bad") is None
    assert all(_get(db, f"k{i}") == i for i in range(20))


def test_a_failing_statement_rolls_back_only_its_own_function(db: Any) -> None:
    db.write(_put("dup", 1))
    gate = threading.Event()
    errors: list[BaseException] = []

    def duplicate(conn: SqlConnection) -> None:
        gate.wait(5)
        conn.execute("INSERT INTO kv (k, v) VALUES ('dup', 2)")  # primary key taken

    def run() -> None:
        try:
            db.write(duplicate)
        except Exception as exc:
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    fut = threading.Thread(target=lambda: db.write(_put("other", 3)))
    fut.start()
    gate.set()
    t.join()
    fut.join()
    assert len(errors) == 1
    assert _get(db, "dup") == 1 and _get(db, "other") == 3


def test_awrite_answers_on_the_event_loop(db: Any) -> None:
    assert asyncio.run(db.awrite(_put("x", 9))) == 9
    assert _get(db, "x") == 9


def test_submit_calls_back_after_the_commit(db: Any) -> None:
    done = threading.Event()
    seen: list[Any] = []

    def on_done(result: Any, error: BaseException | None) -> None:
        seen.append((result, error, _get(db, "cb")))
        done.set()

    db.submit(_put("cb", 5), on_done)
    assert done.wait(10)
    assert seen == [(5, None, 5)]


def test_the_change_token_moves_when_another_store_commits_a_notified_change(
    db: Any, tmp_path: Path
) -> None:
    db.change_token("things")
    _settle(db, "things")
    before = db.change_token("things")
    db.write(lambda conn: (_put("n", 1)(conn), conn.dialect.notify(conn, "things")))
    assert _eventually(lambda: db.change_token("things") != before)


def _settle(db: Any, channel: str) -> None:
    """Wait until the token is stable (the listener subscribed)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        a = db.change_token(channel)
        time.sleep(0.05)
        if db.change_token(channel) == a:
            return


def _eventually(check: Any, secs: float = 10) -> bool:
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_two_claimers_never_claim_the_same_rows(db: Any) -> None:
    db.write(lambda conn: conn.executemany(
        "INSERT INTO queue (due, owner) VALUES (?, NULL)", [(float(i),) for i in range(200)]))

    def claim(owner: str) -> Any:
        def fn(conn: SqlConnection) -> list[int]:
            rows = conn.execute(
                "SELECT id FROM queue WHERE owner IS NULL ORDER BY due LIMIT 10"
                + conn.dialect.skip_locked).fetchall()
            conn.executemany("UPDATE queue SET owner = ? WHERE id = ?",
                             [(owner, r[0]) for r in rows])
            return [int(r[0]) for r in rows]
        return fn

    other = open_second_store(db)
    try:
        claim_from_two(lambda: db.write(claim("a")), lambda: other.write(claim("b")), 200,
                       what="rows")
    finally:
        other.close()


def test_migrations_run_once_under_concurrent_openers(tmp_path: Path, store_backend: str) -> None:
    first = open_test_store(tmp_path, store_backend)
    try:
        errors: list[BaseException] = []
        opened: list[Any] = []

        def open_one() -> None:
            try:
                store = open_second_store(first)
                store.ensure_schema(DDL)
                opened.append(store)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=open_one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for store in opened:
            store.close()
        assert errors == []
        assert len(opened) == 4
    finally:
        close_test_store(first)


# -- an unreachable server ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def own_postgres() -> Iterator[tuple[str, Any]]:
    """A PostgreSQL server of this test's own (initdb in a temporary folder)."""
    initdb = shutil.which("initdb") or "/usr/local/bin/initdb"
    pg_ctl = shutil.which("pg_ctl") or str(Path(initdb).with_name("pg_ctl"))
    if not Path(initdb).exists() or not Path(pg_ctl).exists():
        pytest.skip("initdb/pg_ctl are not installed")
    # PostgreSQL refuses to run as root: as root, the server runs as user postgres, in a
    # folder that user can reach (pytest's tmp_path is private to root)
    tmp_path = Path(tempfile.mkdtemp(prefix="clientevents-pg-"))
    data = tmp_path / "pgdata"
    env = {**os.environ}
    user = "postgres" if os.geteuid() == 0 else None
    cmd_prefix = ["runuser", "-u", user, "--"] if user and shutil.which("runuser") else []
    if cmd_prefix:
        shutil.chown(tmp_path, user=user)
    subprocess.run([*cmd_prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True, env=env)
    port = _free_port()

    def start() -> None:
        subprocess.run([*cmd_prefix, pg_ctl, "-D", str(data), "-w", "-l", str(tmp_path / "pg.log"),
                        "-o", f"-p {port} -k {tmp_path} -c listen_addresses=127.0.0.1", "start"],
                       check=True, capture_output=True, env=env)

    def stop() -> None:
        subprocess.run([*cmd_prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, env=env)

    start()
    try:
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres", (start, stop)
    finally:
        stop()
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_an_unreachable_server_sets_write_failure_and_the_store_recovers(
    own_postgres: tuple[str, Any],
) -> None:
    from clientevents.store.postgres import PostgresDatabase

    dsn, (start, stop) = own_postgres
    db = PostgresDatabase(dsn, schema="conformance", connect_timeout=2, pool_max=2)
    try:
        db.ensure_schema(DDL)
        db.write(_put("before", 1))
        stop()
        with pytest.raises(StoreError):
            db.write(_put("during", 2))
        assert db.write_failure is not None
        start()
        assert _eventually(lambda: _try_write(db), secs=30)
        assert db.write_failure is None
        assert _get(db, "before") == 1 and _get(db, "after") == 3
        assert _get(db, "during") is None
    finally:
        db.close()


def _try_write(db: Any) -> bool:
    try:
        db.write(_put("after", 3))
    except StoreError:
        return False
    return True


def test_the_shared_server_answers() -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    from clientevents.store.postgres import PostgresDatabase

    db = PostgresDatabase(PG_DSN, schema=pg_schema_name())
    try:
        assert db.read(lambda conn: conn.execute("SELECT 1").fetchone()[0]) == 1
    finally:
        db.close()
        db.drop_schema()


# -- numbered migrations ---------------------------------------------------------------------


@pytest.fixture
def conformance_migrations() -> Iterator[None]:
    from clientevents.store import migrations as m

    register_migrations("conformance.kv", [
        (1, "CREATE TABLE IF NOT EXISTS mig (k TEXT PRIMARY KEY);"),
        (2, "ALTER TABLE mig ADD COLUMN added INTEGER NOT NULL DEFAULT 7;"),
        (3, "INSERT INTO mig (k) VALUES ('seeded');"),  # not idempotent: must run once
    ])
    try:
        yield
    finally:
        m._MIGRATIONS.pop("conformance.kv", None)


def test_migrations_apply_in_order_once_across_openers(
    tmp_path: Path, store_backend: str, conformance_migrations: None
) -> None:
    first = open_test_store(tmp_path, store_backend)
    try:
        others: list[Any] = []
        errors: list[BaseException] = []

        def open_one() -> None:
            try:
                others.append(open_second_store(first))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=open_one) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for store in others:
            store.close()
        assert errors == []
        rows = first.read(lambda conn: conn.execute("SELECT k, added FROM mig").fetchall())
        assert [tuple(r) for r in rows] == [("seeded", 7)]
        versions = first.read(lambda conn: conn.execute(
            "SELECT version FROM schema_migrations WHERE component = 'conformance.kv' "
            "ORDER BY version").fetchall())
        assert [r[0] for r in versions] == [1, 2, 3]
    finally:
        close_test_store(first)


def test_an_older_sqlite_file_gets_the_columns_added_since(tmp_path: Path) -> None:
    import sqlite3

    from clientevents.store.sqlite import Database

    path = tmp_path / "clientevents.db"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT, target_key TEXT "
                "NOT NULL, bus TEXT NOT NULL, rule TEXT NOT NULL, target_id TEXT NOT NULL, "
                "event_id TEXT NOT NULL, payload TEXT NOT NULL, event_time REAL NOT NULL, "
                "enqueued_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, due_at REAL "
                "NOT NULL, claim INTEGER NOT NULL DEFAULT 0, last_error_code TEXT, "
                "last_error_message TEXT)")
    old.commit()
    old.close()
    import clientevents.targets.queue  # noqa: F401  (registers its migrations)

    db = Database(path)
    try:
        columns = db.read(lambda conn: conn.dialect.columns(conn, "deliveries"))
        assert {"attributes", "claimed_by"} <= columns
    finally:
        db.close()


# -- several processes updating the same rows in opposite orders ------------------------------

_ROUNDS = 4
_PAUSE = 0.05  # each job holds its row this long, so the other store's job meets it


def _add(key: str, *, late: bool = False, then: str | None = None) -> Any:
    """A write adding 1 to ``key`` (and, with ``then``, to ``then`` after a pause): with
    ``late``, as statements deferred to the end of the write's group."""

    def fn(conn: SqlConnection) -> None:
        for k in (key,) if then is None else (key, then):
            if late:
                execute_late(conn, ("kv", k), "UPDATE kv SET v = v + 1 WHERE k = ?", (k,))
            else:
                conn.execute("UPDATE kv SET v = v + 1 WHERE k = ?", (k,))
            time.sleep(_PAUSE)

    return fn


def _run_rounds(stores: list[Any], submit_round: Any) -> list[BaseException]:
    """Run ``submit_round(store, index, done)`` ``_ROUNDS`` times on every store at once, the
    stores starting each round together; the errors of every write."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores), timeout=60)

    def loop(store: Any, index: int) -> None:
        for _ in range(_ROUNDS):
            barrier.wait()
            finished = threading.Semaphore(0)

            def done(_result: Any, error: BaseException | None,
                     finished: threading.Semaphore = finished) -> None:
                if error is not None:
                    errors.append(error)
                finished.release()

            for _job in range(submit_round(store, index, done)):
                assert finished.acquire(timeout=60), "a write never finished"

    threads = [threading.Thread(target=loop, args=(store, i)) for i, store in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a store hung"
    return errors


def _two_stores_add_in_opposite_orders(db: Any, *, late: bool, grouped: bool) -> Any:
    db.write(lambda conn: conn.executemany("INSERT INTO kv (k, v) VALUES (?, 0)",
                                           [("a",), ("b",)]))
    other = open_second_store(db)
    orders = (("a", "b"), ("b", "a"))

    def submit_round(store: Any, index: int, done: Any) -> int:
        first, second = orders[index]
        if grouped:  # one group of two writes: the writer waits for the second to be queued
            store.submit(_add(first, late=late), done, not_before=time.monotonic() + 0.02)
            store.submit(_add(second, late=late), done)
            return 2
        store.submit(_add(first, late=late, then=second), done)
        return 1

    try:
        errors = _run_rounds([db, other], submit_round)
        failures = (db.write_failure, other.write_failure)
        retried = getattr(db, "rollback_retries", 0) + getattr(other, "rollback_retries", 0)
    finally:
        other.close()
    assert errors == []
    assert failures == (None, None)
    assert _get(db, "a") == _get(db, "b") == 2 * _ROUNDS
    return retried


def test_groups_updating_rows_in_opposite_orders_all_commit(db: Any) -> None:
    _two_stores_add_in_opposite_orders(db, late=False, grouped=True)


def test_single_writes_updating_rows_in_opposite_orders_all_commit(db: Any) -> None:
    _two_stores_add_in_opposite_orders(db, late=False, grouped=False)


@pytest.mark.parametrize("grouped", [True, False])
def test_deferred_statements_take_their_rows_in_one_order_everywhere(
    db: Any, grouped: bool
) -> None:
    assert _two_stores_add_in_opposite_orders(db, late=True, grouped=grouped) == 0


def test_a_failing_deferred_statement_fails_only_its_own_write(db: Any) -> None:
    db.write(_put("taken", 1))
    grouped = threading.Semaphore(0)
    outcomes: dict[str, Any] = {}

    def note(name: str) -> Any:
        def done(result: Any, error: BaseException | None) -> None:
            outcomes[name] = error if error is not None else result
            grouped.release()
        return done

    def bad(conn: SqlConnection) -> None:
        _put("mine", 1)(conn)
        execute_late(conn, ("kv", "taken"), "INSERT INTO kv (k, v) VALUES ('taken', 2)")

    db.submit(_put("before", 1), note("before"), not_before=time.monotonic() + 0.02)
    db.submit(bad, note("bad"))
    db.submit(_put("after", 1), note("after"))
    for _ in range(3):
        assert grouped.acquire(timeout=30)
    assert isinstance(outcomes["bad"], Exception)
    assert (outcomes["before"], outcomes["after"]) == (1, 1)
    assert [_get(db, k) for k in ("before", "after", "taken", "mine")] == [1, 1, 1, None]
    assert db.write_failure is None


def test_a_write_rolled_back_every_time_fails_after_bounded_retries(db: Any) -> None:
    if db.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers: it never rolls one back for another's sake")
    from clientevents.store.postgres import ROLLBACK_RETRIES

    runs = 0

    def doomed(conn: SqlConnection) -> None:
        nonlocal runs
        runs += 1
        _put("doomed", runs)(conn)
        conn.execute("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$")

    with pytest.raises(Exception, match="conflict"):
        db.write(doomed)
    assert runs == ROLLBACK_RETRIES + 1
    assert db.write_failure is None
    assert _get(db, "doomed") is None
    assert db.write(_put("next", 1)) == 1


def test_ordered_writes_run_after_the_others_in_every_process(db: Any) -> None:
    db.write(lambda conn: conn.executemany("INSERT INTO kv (k, v) VALUES (?, 0)",
                                           [("head",), ("x",)]))
    other = open_second_store(db)

    def submit_round(store: Any, index: int, done: Any) -> int:
        # the first store submits the write ordered by "head" first, the second store last
        soon = time.monotonic() + 0.02
        if index == 0:
            store.submit(_add("head"), done, not_before=soon, order=("kv", "head"))
            store.submit(_add("x"), done)
        else:
            store.submit(_add("x"), done, not_before=soon)
            store.submit(_add("head"), done, order=("kv", "head"))
        return 2

    try:
        errors = _run_rounds([db, other], submit_round)
        retried = getattr(db, "rollback_retries", 0) + getattr(other, "rollback_retries", 0)
    finally:
        other.close()
    assert errors == []
    assert retried == 0
    assert _get(db, "head") == _get(db, "x") == 2 * _ROUNDS


def test_ensuring_a_schema_again_waits_for_no_transaction_using_its_tables(db: Any) -> None:
    """Components ensure their schema each time they are made (an admin request makes several):
    on PostgreSQL that must not take a table's ACCESS EXCLUSIVE lock (an ``ALTER TABLE`` for a
    column already there), which would wait for every open transaction using the table and
    stall the ones that come after."""
    if db.dialect.name != "postgres":
        pytest.skip("SQLite has no table locks: a write waits for the file's one writer anyway")
    import psycopg

    from clientevents.store.sqlite import register_column

    register_column("kv", "v", "INTEGER NOT NULL")  # a column every kv table already has
    db.write(_put("a", 1))
    reader = psycopg.connect(db.dsn, options=f"-c search_path={db.schema}")
    try:
        reader.execute("SELECT v FROM kv").fetchall()  # its transaction holds a lock on kv
        done = threading.Event()

        def ensure() -> None:
            db.ensure_schema(DDL + "CREATE TABLE IF NOT EXISTS kv2 (k TEXT PRIMARY KEY);")
            db.ensure_schema(DDL)
            done.set()

        thread = threading.Thread(target=ensure, daemon=True)
        thread.start()
        assert done.wait(10.0), "ensure_schema waited for a transaction reading kv"
    finally:
        reader.rollback()
        reader.close()
        from clientevents.store import sqlite as _sqlite

        _sqlite._COLUMNS.pop(("kv", "v"), None)
