"""The object-storage port's contract (``clientevents.objectstore.ObjectStore``), held by every
implementation: a local folder, an S3 bucket (moto's S3 server on loopback, a bucket per test)
and the in-memory store.

What a put left is read back through the backend itself (the folder's files, boto3 against the
bucket, the memory store's dictionary), never through the store under test.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from moto_s3 import moto_server, s3_client

from clientevents.objectstore import (
    LocalObjectStore,
    MemoryObjectStore,
    ObjectStore,
    ObjectStoreError,
    S3ObjectStore,
)
from clientevents.objectstore.local import STAGING_DIR

CREDENTIALS = {"access_key_id": "test-key", "secret_access_key": "test-secret"}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@dataclass
class StoreUnderTest:
    name: str
    store: ObjectStore
    #: the object under a key as the backend holds it (``None``: no object)
    read: Callable[[str], bytes | None]
    #: every key the backend holds
    keys: Callable[[], set[str]]
    #: the place ``describe`` names for a key
    described: Callable[[str], str]


@pytest.fixture(params=["local", "s3", "memory"])
def o(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreUnderTest]:
    yield from _open(str(request.param), request, tmp_path)


@pytest.fixture(params=["local", "s3"])
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreUnderTest]:
    """The stores whose puts can fail (the in-memory one cannot)."""
    yield from _open(str(request.param), request, tmp_path)


def _open(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreUnderTest]:
    if name == "local":
        root = tmp_path / "lake"
        local = LocalObjectStore(root)

        def read_file(key: str) -> bytes | None:
            path = root / key
            return path.read_bytes() if path.is_file() else None

        def local_keys() -> set[str]:
            if not root.exists():
                return set()
            return {p.relative_to(root).as_posix() for p in root.rglob("*")
                    if p.is_file() and STAGING_DIR not in p.relative_to(root).parts}

        yield StoreUnderTest(name, local, read_file, local_keys, lambda k: str(root / k))
        return
    if name == "memory":
        mem = MemoryObjectStore("lake")
        yield StoreUnderTest(name, mem, mem.objects.get, lambda: set(mem.objects),
                             lambda k: f"memory://lake/{k}")
        return
    url = request.getfixturevalue("moto_url")
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    client = s3_client(url)
    client.create_bucket(Bucket=bucket)
    s3 = S3ObjectStore(bucket=bucket, endpoint_url=url, **CREDENTIALS)

    def read_object(key: str) -> bytes | None:
        try:
            body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except client.exceptions.NoSuchKey:
            return None
        return body

    def s3_keys() -> set[str]:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    try:
        yield StoreUnderTest(name, s3, read_object, s3_keys, lambda k: f"s3://{bucket}/{k}")
    finally:
        asyncio.run(s3.close())


def put(o: StoreUnderTest, key: str, body: bytes) -> None:
    asyncio.run(o.store.put(key, body))


# -- put ---------------------------------------------------------------------------------------


def test_a_put_object_is_there_whole_under_its_key(o: StoreUnderTest) -> None:
    body = bytes(range(256)) * 100
    put(o, "shopping/2026/12/05/stream-1-uuid.gz", body)
    put(o, "top-level", b"")
    assert o.read("shopping/2026/12/05/stream-1-uuid.gz") == body
    assert o.read("top-level") == b""
    assert o.keys() == {"shopping/2026/12/05/stream-1-uuid.gz", "top-level"}


def test_partition_style_and_unusual_but_safe_keys_keep_their_exact_name(
    o: StoreUnderTest,
) -> None:
    keys = ["year=2026/month=12/part-0001.json", "with space/ünïcode.txt", "a.b/..c/d..e",
            "dots.../x"]
    for i, key in enumerate(keys):
        put(o, key, f"body {i}".encode())
    assert o.keys() == set(keys)
    assert [o.read(k) for k in keys] == [f"body {i}".encode() for i in range(len(keys))]


def test_a_put_under_an_existing_key_replaces_the_object_whole(o: StoreUnderTest) -> None:
    put(o, "k/obj", b"the first, longer body")
    put(o, "k/obj", b"second")
    assert o.read("k/obj") == b"second"
    assert o.keys() == {"k/obj"}


def test_concurrent_puts_from_many_tasks_all_land(o: StoreUnderTest) -> None:
    async def main() -> None:
        await asyncio.gather(*(o.store.put(f"p/{i % 3}/obj-{i}", f"{i}".encode() * 1000)
                               for i in range(24)))

    asyncio.run(main())
    assert o.keys() == {f"p/{i % 3}/obj-{i}" for i in range(24)}
    assert all(o.read(f"p/{i % 3}/obj-{i}") == f"{i}".encode() * 1000 for i in range(24))


def test_a_reader_never_sees_part_of_an_object(o: StoreUnderTest) -> None:
    body = os.urandom(16 * 1024 * 1024)
    seen: list[int | None] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            got = o.read("big/object")
            seen.append(None if got is None else len(got))
            if got is not None and got != body:
                seen.append(-1)  # a body that is not the one put

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        put(o, "big/object", body)
    finally:
        done.set()
        watcher.join()
    assert o.read("big/object") == body
    assert set(seen) <= {None, len(body)}


# -- refused keys --------------------------------------------------------------------------------


UNSAFE_KEYS = [
    "", "/etc/passwd", "../escape", "a/../../escape", "a/./b", ".", "a//b", "a\\b", "a\x00b",
    "line\nbreak", "folder/",
]


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_an_unsafe_key_is_refused_before_anything_is_written(o: StoreUnderTest, key: str) -> None:
    with pytest.raises(ObjectStoreError, match="refused") as refused:
        put(o, key, b"never")
    assert refused.value.code == "InvalidKey"
    assert o.keys() == set()


# -- failures ----------------------------------------------------------------------------------


def test_a_failed_put_leaves_no_object_and_no_partial_one(
    durable: StoreUnderTest, tmp_path: Path
) -> None:
    o = durable
    put(o, "taken", b"a file")
    if o.name == "local":
        # the object's folder would be where an object (a file) already is
        failing: ObjectStore = o.store
        key = "taken/inside"
    else:
        assert isinstance(o.store, S3ObjectStore)
        failing = S3ObjectStore(bucket="no-such-bucket-here", endpoint_url=o.store._settings[
            "endpoint"], **CREDENTIALS)
        key = "inside"
    with pytest.raises(ObjectStoreError) as failed:
        asyncio.run(failing.put(key, b"x" * 100_000))
    assert failed.value.code != "InvalidKey"
    assert o.read("taken/inside") is None and o.read("inside") is None
    assert o.keys() == {"taken"}
    if o.name == "local":
        assert isinstance(o.store, LocalObjectStore)
        assert list(o.store.staging.iterdir()) == []  # no staging file left behind
    else:
        assert failed.value.code == "S3.NoSuchBucket"
        asyncio.run(failing.close())


# -- describe, close ---------------------------------------------------------------------------


def test_describe_names_where_the_key_is(o: StoreUnderTest) -> None:
    assert o.store.describe("a/b/c.json") == o.described("a/b/c.json")


def test_close_may_be_called_twice_and_leaves_the_objects(o: StoreUnderTest) -> None:
    put(o, "kept", b"v")
    asyncio.run(o.store.close())
    asyncio.run(o.store.close())
    assert o.read("kept") == b"v"
