"""Object bodies: JSON lines or Parquet, then compression, and the object's file extension.

Compression, like Firehose's: ``gzip`` (``.gz``; zlib level 6), ``zstd`` (``.zst``; level 3),
``snappy`` (``.snappy``; the framing format, which ``snzip`` and Hadoop tools read) or none.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["EXTENSIONS", "Compressor", "compressor", "decompress"]

EXTENSIONS = {"none": "", "gzip": ".gz", "zstd": ".zst", "snappy": ".snappy"}
"""The extension each compression gives an object (Parquet objects end in ``.parquet``)."""

Compressor = Callable[[bytes], bytes]

GZIP_LEVEL = 6
ZSTD_LEVEL = 3


def _gzip(data: bytes) -> bytes:
    packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


def _cramjam() -> Any:
    import cramjam

    return cramjam


def compressor(name: str) -> Compressor:
    """The function that compresses an object's body for ``name``."""
    if name == "none":
        return lambda data: data
    if name == "gzip":
        return _gzip
    if name == "zstd":
        zstd = _cramjam().zstd
        return lambda data: bytes(zstd.compress(data, ZSTD_LEVEL))
    if name == "snappy":
        snappy = _cramjam().snappy
        return lambda data: bytes(snappy.compress(data))
    raise ValueError(f"unknown compression {name!r}; use none, gzip, zstd or snappy")


def decompress(name: str, data: bytes) -> bytes:
    """The inverse of :func:`compressor` (for tools and tests reading objects back)."""
    if name == "none":
        return data
    if name == "gzip":
        return zlib.decompress(data, 47)
    if name == "zstd":
        return bytes(_cramjam().zstd.decompress(data))
    if name == "snappy":
        return bytes(_cramjam().snappy.decompress(data))
    raise ValueError(f"unknown compression {name!r}")


def join_lines(parts: Sequence[bytes]) -> bytes:
    """JSON lines: the records' bytes, one after the other, as Firehose concatenates them."""
    return b"".join(parts)
