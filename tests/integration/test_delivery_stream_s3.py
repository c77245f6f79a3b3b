"""Delivery streams into S3, against moto's S3 server on loopback.

A small proxy in front of the server can refuse writes (HTTP 503 SlowDown, as S3 answers when
throttling): the deliveries are retried with backoff and, once the bucket takes writes again,
every acknowledged event is in an object; nothing is lost or dead-lettered.
"""

from __future__ import annotations

import asyncio
import gzip
import http.server
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from moto_s3 import moto_server, s3_client
from store_helpers import with_test_storage

from clientevents.config import validate_settings
from clientevents.runtime import Runtime
from clientevents.targets.dispatcher import DispatchOptions
from clientevents.targets.retry import Backoff

pytestmark = pytest.mark.integration

BUCKET = "lake"
KEYS = {"AWS_ACCESS_KEY_ID": "test-key", "AWS_SECRET_ACCESS_KEY": "test-secret"}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


class RefusingProxy:
    """Forwards S3 requests to moto; answers 503 SlowDown to PUTs while ``refusing``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.refusing = threading.Event()
        self.refused = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.command == "PUT" and proxy.refusing.is_set():
                    proxy.refused += 1
                    error = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown'
                             b"</Code><Message>Please reduce your request rate.</Message></Error>")
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(error)))
                    self.end_headers()
                    self.wfile.write(error)
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length", "connection")}
                answer = httpx.request(self.command, proxy.upstream + self.path,
                                       headers=headers, content=body, timeout=30)
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection",
                                           "content-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RefusingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def bucket_objects(url: str, bucket: str) -> dict[str, bytes]:
    client = s3_client(url)
    out: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            out[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return out


def settings(data_dir: Path, endpoint: str, bucket: str) -> Any:
    return validate_settings(with_test_storage({
        "buses": [{"name": "b"}],
        "rules": [{"name": "all", "bus": "b", "event_pattern": {"source": ["app"]},
                   "targets": [{"id": "lake", "type": "delivery_stream",
                                "delivery_stream": "lake",
                                "input_transformer": {"input_template":
                                                      "<aws.events.event.json>\n"}}]}],
        "delivery_streams": [{
            "name": "lake",
            "destination": {"type": "s3", "s3": {
                "bucket": bucket, "region": "us-east-1", "endpoint_url": endpoint,
                "access_key_id": "${env:LAKE_KEY}", "secret_access_key": "${env:LAKE_SECRET}",
                "timeout_secs": 5}},
            "processors": [{"type": "metadata_extraction", "query": "{kind: .detail.kind}"}],
            "prefix": "events/!{partitionKeyFromQuery:kind}/!{timestamp:yyyy/MM/dd}/",
            "error_output_prefix": "errors/!{firehose:error-output-type}/",
            "buffering": {"interval_secs": 0.3},
            "compression": "gzip",
        }],
    }), environ={"LAKE_KEY": "test-key", "LAKE_SECRET": "test-secret"}).with_data_dir(data_dir)


async def _until(condition: Any, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {limit} s waiting for {what}.")
        await asyncio.sleep(0.05)


def test_objects_land_in_the_bucket_and_survive_a_bucket_refusing_writes(
    tmp_path: Path, moto_url: str
) -> None:
    s3_client(moto_url).create_bucket(Bucket=BUCKET)
    options = DispatchOptions(poll_interval_secs=0.02, backoff=Backoff(0.2, 0.5),
                              lease_secs=30.0, send_timeout_secs=5.0)
    with RefusingProxy(moto_url) as proxy, Runtime(
        settings(tmp_path / "data", proxy.url, BUCKET), tmp_path / "data",
        dispatch_options=options,
    ) as runtime:
        proxy.refusing.set()

        def publish(n: int) -> list[str]:
            ids: list[str] = []
            for start in range(0, n, 10):
                entries = [{"Source": "app", "DetailType": "t", "EventBusName": "b",
                            "Detail": json.dumps({"kind": f"k{i % 3}", "n": i})}
                           for i in range(start, start + 10)]
                answer = runtime.publisher.put_events(entries)
                assert answer["FailedEntryCount"] == 0
                ids += [e["EventId"] for e in answer["Entries"]]
            return ids

        async def main() -> list[str]:
            stop = asyncio.Event()
            task = asyncio.create_task(runtime.run_workers(stop))
            ids = publish(30)
            # Given the bucket refuses writes, deliveries fail and are rescheduled,
            await _until(lambda: runtime.db.read(lambda c: c.execute(
                "SELECT count(*) FROM deliveries WHERE last_error_code LIKE 'S3.%'"
            ).fetchone()[0]) > 0, 30, "a refused write to be rescheduled")
            [(code,)] = runtime.db.read(lambda c: c.execute(
                "SELECT DISTINCT last_error_code FROM deliveries "
                "WHERE last_error_code IS NOT NULL").fetchall())
            assert code == "S3.SlowDown"
            ids += publish(30)
            # and when it takes writes again, everything arrives.
            proxy.refusing.clear()
            await _until(lambda: runtime.db.read(
                lambda c: c.execute("SELECT count(*) FROM deliveries").fetchone()[0]) == 0,
                60, "the queue to drain")
            stop.set()
            await task
            return ids

        ids = asyncio.run(main())
        dead = runtime.db.read(lambda c: c.execute("SELECT count(*) FROM dead_letters")
                               .fetchone()[0])
    assert proxy.refused > 0 and dead == 0
    stored = bucket_objects(moto_url, BUCKET)
    day = time.strftime("%Y/%m/%d", time.gmtime())
    events: Counter[str] = Counter()
    for key, body in stored.items():
        assert key.startswith("events/k") and f"/{day}/lake-1-" in key and key.endswith(".gz")
        kind = key.split("/")[1]
        for line in gzip.decompress(body).splitlines():
            event = json.loads(line)
            assert event["detail"]["kind"] == kind
            events[event["id"]] += 1
    assert set(events) == set(ids)  # nothing lost (a retried object may repeat events)


def test_a_missing_bucket_is_retried_until_it_exists(tmp_path: Path, moto_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from clientevents.config.delivery_streams import DeliveryStreamConfig
    from clientevents.delivery_stream import Delivered, DeliveryStream, Failed, Record
    from clientevents.objectstore import S3ObjectStore

    for key, value in KEYS.items():  # credentials from the environment
        monkeypatch.setenv(key, value)
    config = DeliveryStreamConfig.model_validate({
        "name": "raw", "destination": {"type": "s3", "s3": {
            "bucket": "later", "endpoint_url": moto_url}},
        "prefix": "raw/", "compression": "zstd"})

    def stream() -> DeliveryStream:
        return DeliveryStream(config, S3ObjectStore(bucket="later", endpoint_url=moto_url,
                                                    max_retries=0))

    async def attempt() -> list[Any]:
        s = stream()
        await s.put([Record(b'{"n": 1}\n', time.time(), "r1")])
        return await s.close()

    [(_, first)] = asyncio.run(attempt())
    assert isinstance(first, Failed) and first.code == "S3.NoSuchBucket"
    s3_client(moto_url).create_bucket(Bucket="later")
    [(_, second)] = asyncio.run(attempt())
    assert isinstance(second, Delivered)
    [(key, body)] = bucket_objects(moto_url, "later").items()
    assert key.startswith("raw/") and key.endswith(".zst")
    from clientevents.delivery_stream.encode import decompress

    assert decompress("zstd", body) == b'{"n": 1}\n'
