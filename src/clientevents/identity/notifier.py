"""How confirmation codes reach users: a local file (default) or e-mail over SMTP.

The file notifier is for local use: it appends one JSON line per message to
``<data_dir>/codes/messages.jsonl`` (readable by the owner only) and logs the code, so
``clientevents users code USERNAME`` can print it. The SMTP notifier sends an e-mail with
:mod:`smtplib` (STARTTLS and login as configured) to the user's ``email`` attribute.

Answers say where a code went as Cognito does, masked (``a***@e***``). Where no real address
can be shown — an unknown username when the pool hides which users exist, a user who cannot get
a code, a user without an e-mail — :func:`simulated_destination` gives one of the same shape,
the same every time for a name, derived from the name and a secret of the data folder, so a
caller cannot tell it from a real one. Operations that must answer in the same time whether or
not a code is really sent hand it to :func:`in_background` (a slow SMTP server would otherwise
show in the answer's timing).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import smtplib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from clientevents.config.identity import FileNotifierConfig, SmtpNotifierConfig
from clientevents.identity.errors import CognitoError
from clientevents.identity.usernames import username_key

__all__ = [
    "CODES_FILE",
    "CodeMessage",
    "FileNotifier",
    "Notifier",
    "SmtpNotifier",
    "build_notifier",
    "delivery_details",
    "in_background",
    "latest_code",
    "mask_email",
    "simulated_destination",
]

logger = logging.getLogger("clientevents.identity")

CODES_FILE = Path("codes") / "messages.jsonl"
"""Where the file notifier writes, relative to the data directory."""


@dataclass(frozen=True, slots=True)
class CodeMessage:
    """A code to deliver: ``purpose`` is ``sign_up`` or ``forgot_password``."""

    username: str
    purpose: str
    code: str
    email: str | None


def mask_email(email: str) -> str:
    """Cognito's way of showing where a code went: ``a***@e***``."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain[:1]}***"


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def simulated_destination(secret: bytes, key: str) -> str:
    """A masked address shaped like :func:`mask_email`'s, fixed for username key ``key``."""
    digest = hmac.new(secret, key.encode("utf-8"), hashlib.sha256).digest()
    return f"{_LETTERS[digest[0] % 26]}***@{_LETTERS[digest[1] % 26]}***"


def delivery_details(destination: str) -> dict[str, str]:
    """The ``CodeDeliveryDetails`` of an answer, for a masked ``destination``."""
    return {"Destination": destination, "DeliveryMedium": "EMAIL", "AttributeName": "email"}


class Notifier(Protocol):
    """Delivers a code; raises ``CodeDeliveryFailureException`` when it cannot."""

    def deliver(self, message: CodeMessage) -> None: ...


class FileNotifier:
    """Appends codes to ``<data_dir>/codes/messages.jsonl`` and logs them."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / CODES_FILE
        self._lock = threading.Lock()

    def deliver(self, message: CodeMessage) -> None:
        record = {
            "time": time.time(),
            "username": message.username,
            "purpose": message.purpose,
            "code": message.code,
            "email": message.email,
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            with self._lock:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                with os.fdopen(fd, "a", encoding="utf-8") as out:
                    out.write(line)
        except OSError as exc:
            logger.error("Cannot write a confirmation code. file=%s error=%s", self.path, exc)
            raise CognitoError(  # the answer names no path: that is for the operator's log
                "CodeDeliveryFailureException",
                "The confirmation code could not be delivered right now; try again later.",
            ) from exc
        logger.info(
            "Confirmation code %s for user %r (%s) written to %s.",
            message.code, message.username, message.purpose, self.path,
        )


class SmtpNotifier:
    """Sends codes by e-mail."""

    def __init__(self, config: SmtpNotifierConfig, *, timeout_secs: float = 10.0) -> None:
        self.config = config
        self.timeout = timeout_secs

    def deliver(self, message: CodeMessage) -> None:
        if not message.email:
            raise CognitoError(
                "CodeDeliveryFailureException",
                f"User {message.username!r} has no email attribute to send the code to.",
            )
        cfg = self.config
        mail = EmailMessage()
        mail["From"] = cfg.sender
        mail["To"] = message.email
        if message.purpose == "forgot_password":
            mail["Subject"] = "Your password reset code"
            mail.set_content(f"Your password reset code is {message.code}\n")
        else:
            mail["Subject"] = "Your verification code"
            mail.set_content(f"Your confirmation code is {message.code}\n")
        try:
            with smtplib.SMTP(cfg.host, cfg.port, timeout=self.timeout) as smtp:
                if cfg.starttls:
                    smtp.starttls()
                if cfg.username:
                    smtp.login(cfg.username, cfg.password or "")
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise CognitoError(
                "CodeDeliveryFailureException",
                f"Cannot send the code through SMTP server {cfg.host}:{cfg.port}: {exc}",
            ) from exc
        logger.info("Confirmation code for user %r sent by e-mail.", message.username)


class _Background:
    """Delivers codes on one background thread; failures are logged, never answered."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clientevents-codes")

    def deliver(self, message: CodeMessage) -> None:
        self._executor.submit(self._deliver, message)

    def _deliver(self, message: CodeMessage) -> None:
        try:
            self.notifier.deliver(message)
        except CognitoError as exc:
            logger.warning(
                "Cannot deliver a %s code to user %r: %s", message.purpose, message.username,
                exc.message,
            )


def in_background(notifier: Notifier) -> Notifier:
    """``notifier`` delivering off the caller's thread, unless it is the (local) file notifier.

    The file notifier appends a line to a local file, quick enough not to show in an answer's
    time, and tests and ``clientevents users code`` read it right after the answer.
    """
    if isinstance(notifier, FileNotifier):
        return notifier
    return _Background(notifier)


def build_notifier(config: FileNotifierConfig | SmtpNotifierConfig, data_dir: Path) -> Notifier:
    """The notifier ``config`` describes."""
    if isinstance(config, SmtpNotifierConfig):
        return SmtpNotifier(config)
    return FileNotifier(data_dir)


def latest_code(data_dir: Path, username: str, purpose: str | None = None) -> dict[str, str] | None:
    """The newest message the file notifier wrote for ``username`` (any case or form), or None."""
    path = data_dir / CODES_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    wanted = username_key(username)
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or username_key(str(record.get("username", ""))) != wanted:
            continue
        if purpose is not None and record.get("purpose") != purpose:
            continue
        return {k: str(v) for k, v in record.items() if v is not None}
    return None
