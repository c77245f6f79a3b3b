"""Secrets: the encrypted store, its master key, and redaction.

::

    from clientevents.secrets import SecretStore, load_master_key

    store = SecretStore(db, load_master_key(data_dir, create=True))
    store.set("proto/zendesk", '{"username": "...", "apiToken": "..."}')

See ``docs/api-destinations.md`` ("Secrets") for the key handling and the command line.
"""

from clientevents.secrets.errors import (
    MasterKeyError,
    SecretError,
    SecretNotFound,
    SecretUnreadable,
)
from clientevents.secrets.keys import ENV_KEY, ENV_KEY_FILE, KEY_FILE, MasterKey, load_master_key
from clientevents.secrets.redact import MASK, Redactor
from clientevents.secrets.store import SecretInfo, SecretStore, check_name

__all__ = [
    "ENV_KEY",
    "ENV_KEY_FILE",
    "KEY_FILE",
    "MASK",
    "MasterKey",
    "MasterKeyError",
    "Redactor",
    "SecretError",
    "SecretInfo",
    "SecretNotFound",
    "SecretStore",
    "SecretUnreadable",
    "check_name",
    "load_master_key",
]
