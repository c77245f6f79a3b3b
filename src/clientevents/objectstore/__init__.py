"""Object stores: where delivery streams put their objects (a local folder or an S3 bucket).

::

    store = LocalObjectStore(Path("data/lake"))
    await store.put("shopping/1/stream-1-2026-11-27-05-00-00-<uuid>", body)

    store = S3ObjectStore(bucket="lake", region="eu-west-1", endpoint_url="http://127.0.0.1:9000")

``put`` returns only once the object is durable (locally: written, ``fsync``-ed and renamed
into place, its folder ``fsync``-ed; S3: the PUT succeeded) and raises
:class:`ObjectStoreError` otherwise, leaving no partial object visible. :class:`ObjectStore` is
the port (its contract: ``tests/conformance/test_object_store.py``); ``MemoryObjectStore`` keeps
objects in memory, for tests.
"""

from clientevents.objectstore.base import ObjectStore, ObjectStoreError, check_key
from clientevents.objectstore.local import LocalObjectStore
from clientevents.objectstore.memory import MemoryObjectStore
from clientevents.objectstore.s3 import S3ObjectStore

__all__ = [
    "LocalObjectStore",
    "MemoryObjectStore",
    "ObjectStore",
    "ObjectStoreError",
    "S3ObjectStore",
    "check_key",
]
