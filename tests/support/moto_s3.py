"""moto's S3 server on loopback, for the tests that write to a bucket."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nats_server import free_port

__all__ = ["moto_server", "s3_client"]


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server on a free loopback port, its URL yielded; stopped at the end."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_client(url: str) -> Any:
    """A boto3 S3 client of the server at ``url`` (its test credentials, us-east-1)."""
    import boto3

    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="test-key", aws_secret_access_key="test-secret")
