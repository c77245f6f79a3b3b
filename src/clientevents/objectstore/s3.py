"""Objects in an S3 bucket (AWS or any S3-compatible store), through obstore.

obstore (Rust's ``object_store``) is imported lazily: install ``clientevents[s3]``. Credentials
come from the configuration (usually ``${env:...}`` references) or, when absent, from the
standard ``AWS_*`` environment variables. Every failed PUT is an :class:`ObjectStoreError`
whose ``code`` names the S3 error when the answer carried one (``S3.NoSuchBucket``,
``S3.SlowDown``); the caller retries.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from clientevents.objectstore.base import ObjectStore, ObjectStoreError, refuse_unsafe_key

__all__ = ["S3ObjectStore"]

_S3_CODE = re.compile(r"<Code>([A-Za-z0-9.]+)</Code>")
_STATUS = re.compile(r"\b([45]\d\d) [A-Z]")


def _import_obstore() -> Any:
    try:
        import obstore
        import obstore.store
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ObjectStoreError(
            "The s3 destination needs obstore; install it with "
            "`pip install 'clientevents[s3]'`.",
            code="MissingDependency",
        ) from exc
    return obstore


class S3ObjectStore(ObjectStore):
    """A bucket of objects.

    Args:
        bucket: the bucket name.
        region: its region.
        endpoint_url: an S3-compatible endpoint (``http://127.0.0.1:9000``); ``None`` for AWS.
        access_key_id, secret_access_key, session_token: credentials; ``None`` reads the
            ``AWS_*`` environment variables.
        timeout_secs: how long one PUT may take.
        max_retries: retries of a failed PUT inside one attempt (the delivery's own retry
            policy retries after that).
    """

    def __init__(
        self,
        *,
        bucket: str,
        region: str = "us-east-1",
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        timeout_secs: float = 30.0,
        max_retries: int = 2,
    ) -> None:
        self.bucket = bucket
        self._settings: dict[str, Any] = {"region": region}
        if endpoint_url:
            self._settings["endpoint"] = endpoint_url
        if access_key_id:
            self._settings["access_key_id"] = access_key_id
        if secret_access_key:
            self._settings["secret_access_key"] = secret_access_key
        if session_token:
            self._settings["session_token"] = session_token
        self._client_options: dict[str, Any] = {
            "timeout": datetime.timedelta(seconds=timeout_secs),
            "connect_timeout": datetime.timedelta(seconds=min(timeout_secs, 10.0)),
        }
        if endpoint_url and endpoint_url.startswith("http://"):
            self._client_options["allow_http"] = True
        self._retry = {
            "max_retries": max_retries,
            "backoff": {
                "init_backoff": datetime.timedelta(milliseconds=100),
                "max_backoff": datetime.timedelta(seconds=2),
                "base": 2,
            },
            "retry_timeout": datetime.timedelta(seconds=timeout_secs),
        }
        self._store: Any = None
        self._obstore: Any = None

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _client(self) -> Any:
        # Built on first use, inside the running event loop (obstore needs one).
        if self._store is None:
            self._obstore = _import_obstore()
            self._store = self._obstore.store.S3Store(
                self.bucket,
                client_options=self._client_options,
                retry_config=self._retry,
                **self._settings,
            )
        return self._store

    async def put(self, key: str, body: bytes) -> None:
        refuse_unsafe_key(key)
        try:
            store = self._client()
            await self._obstore.put_async(store, key, body)
        except ObjectStoreError:
            raise
        except Exception as exc:  # obstore raises builtins and its own exception types
            text = str(exc)
            found = _S3_CODE.search(text)
            status = _STATUS.search(text)
            if found:
                code = f"S3.{found.group(1)}"
            elif status:
                code = f"S3.HTTP{status.group(1)}"
            else:
                code = f"S3.{type(exc).__name__}"
            first_line = text.splitlines()[0] if text else type(exc).__name__
            raise ObjectStoreError(
                f"Putting {self.describe(key)} failed ({code}): {first_line[:300]}", code=code
            ) from exc
