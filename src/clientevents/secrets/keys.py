"""The secret store's master key: from the environment, or from a key file made on first use.

Where the key comes from, first match wins:

1. ``CLIENTEVENTS_SECRETS_KEY``: the key itself, 32 bytes in base64 (``openssl rand -base64
   32``);
2. ``CLIENTEVENTS_SECRETS_KEY_FILE``: a file holding that text;
3. ``<data dir>/secrets.key``: created on the first ``clientevents secrets set``, with mode 0600.

A key file that other users may read (any group or other permission bit) is refused, as ssh
refuses a private key anyone can read: the file is the only thing standing between a copy of the
database and the secrets in it. Keep the key out of backups of the data dir (the environment
variables exist for that).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from clientevents.secrets.errors import MasterKeyError

__all__ = ["ENV_KEY", "ENV_KEY_FILE", "KEY_FILE", "MasterKey", "load_master_key"]

ENV_KEY = "CLIENTEVENTS_SECRETS_KEY"
ENV_KEY_FILE = "CLIENTEVENTS_SECRETS_KEY_FILE"
KEY_FILE = "secrets.key"
KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class MasterKey:
    """A 256-bit AES key and where it came from (for messages; never the key itself)."""

    key: bytes
    source: str

    def __repr__(self) -> str:
        return f"MasterKey(id={self.key_id!r}, source={self.source!r})"

    @property
    def key_id(self) -> str:
        """A short fingerprint that tells keys apart without revealing them."""
        return hmac.new(self.key, b"clientevents secrets key id", hashlib.sha256).hexdigest()[:16]


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise MasterKeyError(
            f"The secret store's master key in {where} is not {KEY_BYTES} bytes of base64 text; "
            "make one with: openssl rand -base64 32."
        )
    return key


def _read_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise MasterKeyError(f"Cannot read the master key file {path}: {exc.strerror}.") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise MasterKeyError(
            f"The master key file {path} has permissions {stat.S_IMODE(mode):04o}; it must be "
            f"readable by its owner only. Run: chmod 600 {path}"
        )
    return _decode(path.read_text(encoding="ascii", errors="replace"), str(path))


def _create_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_file(path)  # another process made it first
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(base64.b64encode(key).decode() + "\n")
        out.flush()
        os.fsync(out.fileno())
    return key


def load_master_key(
    data_dir: str | Path, *, create: bool = False, environ: Mapping[str, str] | None = None
) -> MasterKey:
    """The master key (see the module docstring for where it is looked for).

    Args:
        data_dir: holds ``secrets.key`` when no environment variable names a key.
        create: make ``secrets.key`` (mode 0600) when there is no key anywhere.
        environ: the environment (``os.environ`` by default).

    Raises:
        MasterKeyError: no key (and ``create`` is false), a malformed key, or an unsafe file.
    """
    env = os.environ if environ is None else environ
    if env.get(ENV_KEY):
        return MasterKey(_decode(env[ENV_KEY], ENV_KEY), ENV_KEY)
    if env.get(ENV_KEY_FILE):
        path = Path(env[ENV_KEY_FILE])
        return MasterKey(_read_file(path), str(path))
    path = Path(data_dir) / KEY_FILE
    if path.exists():
        return MasterKey(_read_file(path), str(path))
    if not create:
        raise MasterKeyError(
            f"There is no secret store master key: set {ENV_KEY} or {ENV_KEY_FILE}, or store a "
            f"secret with 'clientevents secrets set' to create {path}."
        )
    return MasterKey(_create_file(path), str(path))
