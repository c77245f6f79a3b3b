"""Small parts: password hashing and policy, ListUsers filters, the file notifier, jwt checks."""

from __future__ import annotations

import json
import logging
import stat
import threading
from pathlib import Path

import pytest

from clientevents.config.identity import PasswordPolicy
from clientevents.identity.errors import CognitoError
from clientevents.identity.jwtcheck import check_times
from clientevents.identity.listing import UserFilter, decode_page_token, encode_page_token
from clientevents.identity.notifier import (
    CODES_FILE,
    CodeMessage,
    FileNotifier,
    in_background,
    latest_code,
    mask_email,
    simulated_destination,
)
from clientevents.identity.passwords import PasswordHasher, check_password_policy
from clientevents.identity.principal import AuthError
from clientevents.identity.users import UserRecord


def test_hasher_uses_argon2id_and_verifies(fast_hasher: PasswordHasher) -> None:
    encoded = fast_hasher.hash("Passw0rd!")
    assert encoded.startswith("$argon2id$")
    assert fast_hasher.verify(encoded, "Passw0rd!")
    assert not fast_hasher.verify(encoded, "passw0rd!")
    assert not fast_hasher.verify(None, "Passw0rd!")
    assert not fast_hasher.verify("not a hash", "Passw0rd!")


def test_default_parameters_and_rehash(fast_hasher: PasswordHasher) -> None:
    default = PasswordHasher()
    encoded = default.hash("Passw0rd!")
    assert "m=19456,t=2,p=1" in encoded
    assert not default.needs_rehash(encoded)
    assert default.needs_rehash(fast_hasher.hash("Passw0rd!"))


@pytest.mark.parametrize("password", ["Passw0rd!", "Pass word!", "ÄÖÜäöü#1x"])
def test_policy_accepts(password: str) -> None:
    check_password_policy(PasswordPolicy(), password)


@pytest.mark.parametrize("password", [" Passw0rd!", "Passw0rd! ", "x" * 257 + "A!"])
def test_policy_refuses_edges(password: str) -> None:
    with pytest.raises(CognitoError) as caught:
        check_password_policy(PasswordPolicy(), password)
    assert caught.value.error_type == "InvalidPasswordException"


def test_filters() -> None:
    user = UserRecord(sub="s-1", username="Alice", password_hash="",
                      attributes={"email": "a@example.com"}, enabled=False)
    assert UserFilter.parse(None).matches(user)
    assert UserFilter.parse('username = "alice"').matches(user)
    assert UserFilter.parse('email ^= "a@"').matches(user)
    assert not UserFilter.parse('email = "a@"').matches(user)
    assert UserFilter.parse('status = "Disabled"').matches(user)
    assert UserFilter.parse('name = "x"').matches(user) is False
    assert UserFilter.parse(r'email = "a\"b"').value == 'a"b'
    for bad in ('password = "x"', "email = x", 'email == "x"'):
        with pytest.raises(CognitoError):
            UserFilter.parse(bad)


def test_page_tokens_round_trip() -> None:
    assert decode_page_token(encode_page_token("zoë")) == "zoë"
    with pytest.raises(CognitoError):
        decode_page_token("%%%")


def test_file_notifier_writes_private_json_lines(tmp_path: Path) -> None:
    notifier = FileNotifier(tmp_path)
    notifier.deliver(CodeMessage("Alice", "sign_up", "123456", "alice@example.com"))
    notifier.deliver(CodeMessage("bob", "sign_up", "000001", None))
    notifier.deliver(CodeMessage("alice", "forgot_password", "654321", "alice@example.com"))
    path = tmp_path / CODES_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [json.loads(line)["code"] for line in path.read_text().splitlines()] == [
        "123456", "000001", "654321",
    ]
    latest = latest_code(tmp_path, "ALICE")
    assert latest is not None and latest["code"] == "654321"
    signup = latest_code(tmp_path, "alice", purpose="sign_up")
    assert signup is not None and signup["code"] == "123456"
    assert latest_code(tmp_path, "carol") is None
    assert latest_code(tmp_path / "nowhere", "alice") is None


def test_a_code_that_cannot_be_written_is_refused_without_naming_the_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "codes").write_text("a file where the folder should be")
    with pytest.raises(CognitoError) as caught:
        FileNotifier(tmp_path).deliver(CodeMessage("alice", "sign_up", "123456", None))
    assert caught.value.error_type == "CodeDeliveryFailureException"
    assert str(tmp_path) not in str(caught.value)


def test_mask_email() -> None:
    assert mask_email("alice@example.com") == "a***@e***"


def test_simulated_destinations_depend_on_the_secret_and_the_name() -> None:
    one, other = b"1" * 32, b"2" * 32
    names = [f"user{i}" for i in range(50)]
    assert simulated_destination(one, "nobody") == simulated_destination(one, "nobody")
    assert len({simulated_destination(one, n) for n in names}) > 10
    assert [simulated_destination(one, n) for n in names] != [
        simulated_destination(other, n) for n in names
    ]


class _SlowFailingNotifier:
    def __init__(self) -> None:
        self.threads: list[str] = []
        self.done = threading.Event()

    def deliver(self, message: CodeMessage) -> None:
        self.threads.append(threading.current_thread().name)
        self.done.set()
        raise CognitoError("CodeDeliveryFailureException", "The mail server is down.")


def test_in_background_delivers_off_the_callers_thread_and_logs_failures(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file_notifier = FileNotifier(tmp_path)
    assert in_background(file_notifier) is file_notifier  # local and quick: kept as it is
    slow = _SlowFailingNotifier()
    with caplog.at_level(logging.WARNING, logger="clientevents.identity"):
        in_background(slow).deliver(CodeMessage("alice", "forgot_password", "123456", None))
        assert slow.done.wait(10)
        for _ in range(100):  # the log line follows the failure on the same thread
            if "mail server is down" in caplog.text:
                break
            threading.Event().wait(0.01)
    assert slow.threads and slow.threads[0] != threading.current_thread().name
    assert "mail server is down" in caplog.text


def test_time_claims() -> None:
    check_times({"exp": 100}, now=99, leeway=0)
    for claims, now, reason in (
        ({"exp": 100}, 100, "expired"),
        ({"exp": 200, "nbf": 150}, 100, "not_yet_valid"),
        ({"exp": 200, "iat": 150}, 100, "not_yet_valid"),
        ({"exp": "soon"}, 100, "malformed"),
        ({"exp": True}, 100, "malformed"),
    ):
        with pytest.raises(AuthError) as caught:
            check_times(claims, now=now, leeway=0)
        assert caught.value.reason == reason


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize(
    "value", [10**400, -(10**400), float("inf"), float("-inf"), float("nan"), -1, 1e300]
)
def test_time_claims_must_be_finite_and_in_range(name: str, value: float) -> None:
    claims: dict[str, object] = {"exp": 200, name: value}
    with pytest.raises(AuthError) as caught:
        check_times(claims, now=100, leeway=0)
    assert caught.value.reason == "malformed"
    assert name in caught.value.message


def test_auth_error_shape() -> None:
    assert AuthError.refuse("user_disabled", "x").status == 403
    assert AuthError.refuse("expired", "x").status == 401
    with pytest.raises(ValueError):
        AuthError(401, "not_a_reason", "x")
