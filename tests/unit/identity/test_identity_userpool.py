"""The user pool's behaviour: sign-up, codes, sign-in, lockout, sessions, admin operations."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from identity_helpers import PASSWORD, FakeClock, code_for, login, make_pool, signed_up

from clientevents.identity import codes, lockout
from clientevents.identity.errors import CognitoError
from clientevents.identity.passwords import PasswordHasher
from clientevents.identity.userpool import UserPool
from clientevents.store.engine import Database


def error_of(fn: object, *args: object, **kwargs: object) -> CognitoError:
    assert callable(fn)
    with pytest.raises(CognitoError) as caught:
        fn(*args, **kwargs)
    return caught.value


def failures_of(pool: UserPool, username: str = "alice") -> lockout.Failures | None:
    """The failed sign-ins counted against ``username``."""
    return pool.db.read(lambda conn: lockout.state(conn, username.casefold()))


def claims_of(token: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return decoded


# -- sign-up and confirmation -------------------------------------------------------------------


def test_sign_up_creates_an_unconfirmed_user_and_writes_a_six_digit_code(
    pool: UserPool, tmp_path: Path
) -> None:
    answer = pool.sign_up("alice", PASSWORD, [{"Name": "email", "Value": "alice@example.com"}])

    assert answer["UserConfirmed"] is False
    assert answer["CodeDeliveryDetails"] == {
        "Destination": "a***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email",
    }
    code = code_for(tmp_path, "alice")
    assert len(code) == 6 and code.isdigit()
    user = pool.find_user("ALICE")  # usernames are case-insensitive
    assert user is not None and user.status == "UNCONFIRMED" and user.client_id is None
    # The code is stored hashed, never in clear.
    stored = pool.db.read(lambda c: c.execute("SELECT code_hash FROM pending_codes").fetchone()[0])
    assert code not in stored and stored.startswith("$argon2id$")


def test_confirmation_assigns_a_client_id_and_verifies_the_email(
    pool: UserPool, tmp_path: Path
) -> None:
    signed_up(pool, tmp_path)
    user = pool.find_user("alice")
    assert user is not None and user.status == "CONFIRMED" and user.email_verified
    assert user.client_id is not None and len(user.client_id) == 36
    answer = pool.get_user(login(pool)["AccessToken"])
    attrs = {a["Name"]: a["Value"] for a in answer["UserAttributes"]}
    assert attrs["custom:clientId"] == user.client_id
    assert attrs["email_verified"] == "true"


def test_taken_username_is_refused_in_any_case(pool: UserPool, tmp_path: Path) -> None:
    signed_up(pool, tmp_path, confirm=False)
    assert error_of(pool.sign_up, "Alice", PASSWORD).error_type == "UsernameExistsException"


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("Sh0rt!", "Password not long enough"),
        ("alllower1!", "Password must have uppercase characters"),
        ("ALLUPPER1!", "Password must have lowercase characters"),
        ("NoSymbols1", "Password must have symbol characters"),
    ],
)
def test_password_policy_is_enforced_with_cognitos_messages(
    pool: UserPool, password: str, problem: str
) -> None:
    error = error_of(pool.sign_up, "bob", password)
    assert error.error_type == "InvalidPasswordException"
    assert error.message == f"Password did not conform with policy: {problem}"
    assert pool.find_user("bob") is None


def test_password_policy_is_configurable(
    db: Database, tmp_path: Path, clock: FakeClock, fast_hasher: PasswordHasher
) -> None:
    pool = make_pool(
        db, tmp_path, clock, fast_hasher,
        password_policy={"minimum_length": 12, "require_symbols": False, "require_numbers": True},
    )
    assert "numeric" in error_of(pool.sign_up, "bob", "NoDigitsHereAtAll").message
    assert "long enough" in error_of(pool.sign_up, "bob", "Short1abcD").message
    pool.sign_up("bob", "LongEnough12345")


@pytest.mark.parametrize(
    ("attributes", "error_type"),
    [
        ([{"Name": "custom:clientId", "Value": "mine"}], "NotAuthorizedException"),
        ([{"Name": "email_verified", "Value": "true"}], "NotAuthorizedException"),
        ([{"Name": "custom:plan", "Value": "gold"}], "InvalidParameterException"),
        ([{"Name": "email", "Value": "not-an-email"}], "InvalidParameterException"),
    ],
)
def test_sign_up_attributes_are_checked(
    pool: UserPool, attributes: list[dict[str, str]], error_type: str
) -> None:
    assert error_of(pool.sign_up, "bob", PASSWORD, attributes).error_type == error_type


def test_wrong_code_then_too_many_attempts_burns_the_code(pool: UserPool, tmp_path: Path) -> None:
    signed_up(pool, tmp_path, confirm=False)
    good = code_for(tmp_path, "alice")
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    for _ in range(codes.MAX_ATTEMPTS):
        assert error_of(pool.confirm_sign_up, "alice", wrong).error_type == "CodeMismatchException"
    # Even the right code no longer works: the attempts are used up.
    error = error_of(pool.confirm_sign_up, "alice", good)
    assert error.error_type == "TooManyFailedAttemptsException"
    # A new code starts afresh.
    pool.resend_confirmation_code("alice")
    pool.confirm_sign_up("alice", code_for(tmp_path, "alice"))


def test_codes_expire_after_24_hours(pool: UserPool, tmp_path: Path, clock: FakeClock) -> None:
    signed_up(pool, tmp_path, confirm=False)
    clock.advance(24 * 3600 + 1)
    error = error_of(pool.confirm_sign_up, "alice", code_for(tmp_path, "alice"))
    assert error.error_type == "ExpiredCodeException"


def test_resending_replaces_the_code_and_is_limited(pool: UserPool, tmp_path: Path) -> None:
    signed_up(pool, tmp_path, confirm=False)
    first = code_for(tmp_path, "alice")
    pool.resend_confirmation_code("alice")
    second = code_for(tmp_path, "alice")
    if first != second:  # one chance in a million that they are equal
        assert error_of(pool.confirm_sign_up, "alice", first).error_type == "CodeMismatchException"
    for _ in range(codes.MAX_SENDS_PER_HOUR - 2):
        pool.resend_confirmation_code("alice")
    last = code_for(tmp_path, "alice")
    sent = (tmp_path / "codes" / "messages.jsonl").read_text()
    # Past the limit the answer is the same, no code is made, and the last one stays valid
    # (so nobody can lock a user out of its code by asking for more).
    answer = pool.resend_confirmation_code("alice")
    assert answer["CodeDeliveryDetails"]["Destination"] == "a***@e***"
    assert (tmp_path / "codes" / "messages.jsonl").read_text() == sent
    pool.confirm_sign_up("alice", last)


def test_the_send_limit_is_an_error_when_existence_errors_are_allowed(
    db: Database, tmp_path: Path, clock: FakeClock, fast_hasher: PasswordHasher
) -> None:
    pool = make_pool(db, tmp_path, clock, fast_hasher, prevent_user_existence_errors=False)
    signed_up(pool, tmp_path, confirm=False)
    for _ in range(codes.MAX_SENDS_PER_HOUR - 1):
        pool.resend_confirmation_code("alice")
    assert error_of(pool.resend_confirmation_code, "alice").error_type == "LimitExceededException"
    clock.advance(3600)
    pool.resend_confirmation_code("alice")  # a new hour, a new window


def test_confirming_twice_is_answered_like_a_wrong_code(pool: UserPool, tmp_path: Path) -> None:
    signed_up(pool, tmp_path)
    sent = (tmp_path / "codes" / "messages.jsonl").read_text()
    error = error_of(pool.confirm_sign_up, "alice", "123456")
    assert error.error_type == "CodeMismatchException"
    assert "CodeDeliveryDetails" in pool.resend_confirmation_code("alice")
    assert (tmp_path / "codes" / "messages.jsonl").read_text() == sent  # nothing sent


def test_confirming_twice_names_the_status_when_existence_errors_are_allowed(
    db: Database, tmp_path: Path, clock: FakeClock, fast_hasher: PasswordHasher
) -> None:
    pool = make_pool(db, tmp_path, clock, fast_hasher, prevent_user_existence_errors=False)
    signed_up(pool, tmp_path)
    error = error_of(pool.confirm_sign_up, "alice", "123456")
    assert error.error_type == "NotAuthorizedException"
    assert error.message == "User cannot be confirmed. Current status is CONFIRMED"
    error = error_of(pool.resend_confirmation_code, "alice")
    assert error.error_type == "InvalidParameterException"


# -- sign-in --------------------------------------------------------------------------------------


def test_password_sign_in_returns_cognito_shaped_tokens(pool: UserPool, tmp_path: Path) -> None:
    sub = signed_up(pool, tmp_path)
    answer = pool.initiate_auth("USER_PASSWORD_AUTH", {"USERNAME": "alice", "PASSWORD": PASSWORD})
    assert answer["ChallengeParameters"] == {}
    result = answer["AuthenticationResult"]
    assert set(result) == {"AccessToken", "ExpiresIn", "TokenType", "RefreshToken", "IdToken"}
    assert result["TokenType"] == "Bearer" and result["ExpiresIn"] == 3600
    access, ident = claims_of(result["AccessToken"]), claims_of(result["IdToken"])
    user = pool.find_user("alice")
    assert user is not None
    assert access["token_use"] == "access" and access["client_id"] == "clientevents-local-app"
    assert access["username"] == "alice" and access["sub"] == sub
    assert access["custom:clientId"] == user.client_id
    assert access["scope"] == "aws.cognito.signin.user.admin"
    assert ident["token_use"] == "id" and ident["aud"] == "clientevents-local-app"
    assert ident["cognito:username"] == "alice" and ident["email"] == "alice@example.com"
    assert ident["custom:clientId"] == user.client_id and ident["email_verified"] is True
    assert access["origin_jti"] == ident["origin_jti"]
    assert access["iss"] == "http://127.0.0.1:8080/local_clientevents"
    assert access["exp"] == access["iat"] + 3600  # type: ignore[operator]
    for claims in (access, ident):
        assert {"jti", "auth_time", "event_id", "iat", "exp"} <= set(claims)
    assert jwt.get_unverified_header(result["AccessToken"])["alg"] == "RS256"


def test_token_lifetimes_are_configurable(
    db: Database, tmp_path: Path, clock: FakeClock, fast_hasher: PasswordHasher
) -> None:
    pool = make_pool(db, tmp_path, clock, fast_hasher,
                     access_token_ttl_secs=600, id_token_ttl_secs=900)
    signed_up(pool, tmp_path)
    tokens = login(pool)
    assert tokens["ExpiresIn"] == 600
    access, ident = claims_of(tokens["AccessToken"]), claims_of(tokens["IdToken"])
    assert access["exp"] == access["iat"] + 600  # type: ignore[operator]
    assert ident["exp"] == ident["iat"] + 900  # type: ignore[operator]


def test_unconfirmed_user_learns_it_only_with_the_right_password(
    pool: UserPool, tmp_path: Path
) -> None:
    signed_up(pool, tmp_path, confirm=False)
    wrong = error_of(login, pool, "alice", "Wrong-passw0rd")
    assert wrong.message == "Incorrect username or password."
    assert error_of(login, pool).error_type == "UserNotConfirmedException"


def test_lockout_after_five_failures_with_doubling_delays(
    pool: UserPool, tmp_path: Path, clock: FakeClock
) -> None:
    signed_up(pool, tmp_path)
    for _ in range(4):
        assert error_of(login, pool, "alice", "Wrong-passw0rd").message == (
            "Incorrect username or password."
        )
    login(pool)  # four failures cost nothing, and a success resets the count
    for _ in range(5):
        error_of(login, pool, "alice", "Wrong-passw0rd")
    # The fifth failure locks for 1 s: even the right password is refused meanwhile.
    assert error_of(login, pool).message == "Password attempts exceeded"
    clock.advance(1.01)
    error_of(login, pool, "alice", "Wrong-passw0rd")  # sixth failure: 2 s
    clock.advance(1.5)
    assert error_of(login, pool).message == "Password attempts exceeded"
    clock.advance(0.6)
    for failures in range(7, 16):
        error_of(login, pool, "alice", "Wrong-passw0rd")
        state = failures_of(pool)
        assert state is not None and state.locked_until is not None
        assert state.locked_until - clock.now == min(2 ** (failures - 5), 900)
        clock.advance(state.locked_until - clock.now + 0.01)
    login(pool)
    assert failures_of(pool) is None


def test_disabled_user_cannot_sign_in(pool: UserPool, tmp_path: Path) -> None:
    signed_up(pool, tmp_path)
    pool.admin_disable_user("alice")
    assert error_of(login, pool).message == "User is disabled."
    pool.admin_enable_user("alice")
    login(pool)


def test_refresh_token_gives_new_tokens_of_the_same_session(
    pool: UserPool, tmp_path: Path, clock: FakeClock
) -> None:
    signed_up(pool, tmp_path)
    first = login(pool)
    clock.advance(60)
    answer = pool.initiate_auth("REFRESH_TOKEN_AUTH", {"REFRESH_TOKEN": first["RefreshToken"]})
    result = answer["AuthenticationResult"]
    assert "RefreshToken" not in result
    old, new = claims_of(first["AccessToken"]), claims_of(result["AccessToken"])
    assert new["origin_jti"] == old["origin_jti"] and new["auth_time"] == old["auth_time"]
    assert new["iat"] == old["iat"] + 60  # type: ignore[operator]
    # The store keeps only a hash of the refresh token.
    stored = pool.db.read(lambda c: c.execute("SELECT token_hash FROM refresh_tokens").fetchall())
    assert all(first["RefreshToken"] not in row[0] for row in stored)


def test_refresh_token_errors(pool: UserPool, tmp_path: Path, clock: FakeClock) -> None:
    signed_up(pool, tmp_path)
    refresh = login(pool)["RefreshToken"]
    bad = error_of(pool.initiate_auth, "REFRESH_TOKEN_AUTH", {"REFRESH_TOKEN": "cer1.nope"})
    assert bad.message == "Invalid Refresh Token"
    clock.advance(30 * 86400 + 1)
    expired = error_of(pool.initiate_auth, "REFRESH_TOKEN_AUTH", {"REFRESH_TOKEN": refresh})
    assert expired.message == "Refresh Token has expired"


def test_global_sign_out_revokes_access_and_refresh_tokens(pool: UserPool, tmp_path: Path) -> None:
    signed_up(pool, tmp_path)
    tokens = login(pool)
    other = login(pool)  # a second session of the same user
    pool.global_sign_out(tokens["AccessToken"])
    for session in (tokens, other):
        assert error_of(pool.get_user, session["AccessToken"]).message == (
            "Access Token has been revoked"
        )
        error = error_of(
            pool.initiate_auth, "REFRESH_TOKEN_AUTH", {"REFRESH_TOKEN": session["RefreshToken"]}
        )
        assert error.message == "Refresh Token has been revoked"
    pool.get_user(login(pool)["AccessToken"])  # signing in again works


def test_get_user_refuses_bad_tokens(pool: UserPool, tmp_path: Path, clock: FakeClock) -> None:
    signed_up(pool, tmp_path)
    tokens = login(pool)
    assert error_of(pool.get_user, tokens["IdToken"]).message == "Invalid Access Token"
    assert error_of(pool.get_user, "garbage").message == "Invalid Access Token"
    clock.advance(3600 + 10)
    assert error_of(pool.get_user, tokens["AccessToken"]).message == "Access Token has expired"


def test_unsupported_auth_flow(pool: UserPool) -> None:
    error = error_of(pool.initiate_auth, "USER_SRP_AUTH", {"USERNAME": "a", "SRP_A": "1"})
    assert error.error_type == "InvalidParameterException"
    missing = error_of(pool.initiate_auth, "USER_PASSWORD_AUTH", {"USERNAME": "a"})
    assert missing.message == "Missing required parameter PASSWORD"


# -- password reset -----------------------------------------------------------------------------


def test_forgot_password_flow(pool: UserPool, tmp_path: Path, clock: FakeClock) -> None:
    signed_up(pool, tmp_path)
    answer = pool.forgot_password("alice")
    assert answer["CodeDeliveryDetails"]["Destination"] == "a***@e***"
    code = code_for(tmp_path, "alice")
    weak = error_of(pool.confirm_forgot_password, "alice", code, "weak")
    assert weak.error_type == "InvalidPasswordException"
    pool.confirm_forgot_password("alice", code, "N3w-Passw0rd")
    assert error_of(login, pool).message == "Incorrect username or password."
    login(pool, password="N3w-Passw0rd")
    # The code was used up.
    assert error_of(pool.confirm_forgot_password, "alice", code, "An0ther-pass").error_type == (
        "CodeMismatchException"
    )


def test_reset_codes_expire_after_one_hour(
    pool: UserPool, tmp_path: Path, clock: FakeClock
) -> None:
    signed_up(pool, tmp_path)
    pool.forgot_password("alice")
    clock.advance(3601)
    error = error_of(pool.confirm_forgot_password, "alice", code_for(tmp_path, "alice"),
                     "N3w-Passw0rd")
    assert error.error_type == "ExpiredCodeException"


def test_forgot_password_needs_a_confirmed_user(pool: UserPool, tmp_path: Path) -> None:
    signed_up(pool, tmp_path, confirm=False)
    sent = (tmp_path / "codes" / "messages.jsonl").read_text()
    assert "CodeDeliveryDetails" in pool.forgot_password("alice")
    assert (tmp_path / "codes" / "messages.jsonl").read_text() == sent  # nothing sent


def test_forgot_password_names_the_reason_when_existence_errors_are_allowed(
    db: Database, tmp_path: Path, clock: FakeClock, fast_hasher: PasswordHasher
) -> None:
    pool = make_pool(db, tmp_path, clock, fast_hasher, prevent_user_existence_errors=False)
    signed_up(pool, tmp_path, confirm=False)
    assert error_of(pool.forgot_password, "alice").error_type == "InvalidParameterException"
    signed_up(pool, tmp_path, "bob", email="bob@example.com")
    pool.admin_disable_user("bob")
    assert error_of(pool.forgot_password, "bob").message == "User is disabled."
    assert error_of(pool.confirm_forgot_password, "bob", "123456", "N3w-Passw0rd").message == (
        "User is disabled."
    )


# -- user existence --------------------------------------------------------------------------------


def test_unknown_users_are_not_revealed_by_default(pool: UserPool) -> None:
    assert error_of(login, pool, "nobody").message == "Incorrect username or password."
    assert pool.forgot_password("nobody")["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"
    assert "CodeDeliveryDetails" in pool.resend_confirmation_code("nobody")
    assert error_of(pool.confirm_sign_up, "nobody", "123456").error_type == "CodeMismatchException"
    assert error_of(pool.confirm_forgot_password, "nobody", "123456", PASSWORD).error_type == (
        "CodeMismatchException"
    )


def test_unknown_users_are_reported_when_existence_errors_are_allowed(
    db: Database, tmp_path: Path, clock: FakeClock, fast_hasher: PasswordHasher
) -> None:
    pool = make_pool(db, tmp_path, clock, fast_hasher, prevent_user_existence_errors=False)
    for call in (
        lambda: login(pool, "nobody"),
        lambda: pool.forgot_password("nobody"),
        lambda: pool.resend_confirmation_code("nobody"),
        lambda: pool.confirm_sign_up("nobody", "123456"),
    ):
        assert error_of(call).error_type == "UserNotFoundException"


# -- admin operations ---------------------------------------------------------------------------


def test_admin_confirm_get_disable_enable_delete(pool: UserPool, tmp_path: Path) -> None:
    signed_up(pool, tmp_path, confirm=False)
    pool.admin_confirm_sign_up("alice")
    user = pool.admin_get_user("alice")
    assert user["UserStatus"] == "CONFIRMED" and user["Enabled"] is True
    names = [a["Name"] for a in user["UserAttributes"]]
    assert names == ["sub", "email", "email_verified", "custom:clientId"]
    assert isinstance(user["UserCreateDate"], float)
    pool.admin_disable_user("alice")
    assert pool.admin_get_user("alice")["Enabled"] is False
    pool.admin_enable_user("alice")
    pool.admin_delete_user("alice")
    for call in (pool.admin_get_user, pool.admin_delete_user, pool.admin_confirm_sign_up):
        assert error_of(call, "alice").error_type == "UserNotFoundException"


def test_list_users_pages_and_filters(pool: UserPool, tmp_path: Path) -> None:
    for name in ("carol", "alice", "bob", "dave", "alfred"):
        signed_up(pool, tmp_path, name, confirm=name != "dave", email=f"{name}@example.com")
    first = pool.list_users(limit=2)
    assert [u["Username"] for u in first["Users"]] == ["alfred", "alice"]
    second = pool.list_users(limit=2, pagination_token=first["PaginationToken"])
    assert [u["Username"] for u in second["Users"]] == ["bob", "carol"]
    third = pool.list_users(limit=2, pagination_token=second["PaginationToken"])
    assert [u["Username"] for u in third["Users"]] == ["dave"] and "PaginationToken" not in third
    prefix = pool.list_users(filter_text='username ^= "al"')
    assert [u["Username"] for u in prefix["Users"]] == ["alfred", "alice"]
    exact = pool.list_users(filter_text='email = "bob@example.com"', attributes_to_get=["email"])
    assert exact["Users"][0]["Attributes"] == [{"Name": "email", "Value": "bob@example.com"}]
    pending = pool.list_users(filter_text='cognito:user_status = "UNCONFIRMED"')
    assert [u["Username"] for u in pending["Users"]] == ["dave"]
    filtered_pages = pool.list_users(limit=1, filter_text='username ^= "al"')
    assert [u["Username"] for u in filtered_pages["Users"]] == ["alfred"]
    rest = pool.list_users(limit=1, filter_text='username ^= "al"',
                           pagination_token=filtered_pages["PaginationToken"])
    assert [u["Username"] for u in rest["Users"]] == ["alice"]
    assert error_of(pool.list_users, filter_text="username ~ x").error_type == (
        "InvalidParameterException"
    )


def test_lockout_count_restarts_only_after_15_quiet_minutes(
    pool: UserPool, tmp_path: Path, clock: FakeClock
) -> None:
    signed_up(pool, tmp_path)
    for _ in range(8):
        error_of(login, pool, "alice", "Wrong-passw0rd")
        clock.advance(901)  # more than 15 minutes after the failure (there was no lock)
    state = failures_of(pool)
    assert state is not None and state.count == 1 and state.locked_until is None
    # Now without quiet gaps: the count climbs and the lock reaches its 15-minute cap.
    for _ in range(15):
        error_of(login, pool, "alice", "Wrong-passw0rd")
        state = failures_of(pool)
        assert state is not None
        if state.locked_until is not None:
            clock.advance(state.locked_until - clock.now + 1)
    state = failures_of(pool)
    assert state is not None and state.count == 15
    assert state.locked_until is not None
    clock.advance(state.locked_until - clock.now + 60)  # lock over, but not 15 quiet minutes
    error_of(login, pool, "alice", "Wrong-passw0rd")
    state = failures_of(pool)
    assert state is not None and state.count == 16
    assert state.locked_until == clock.now + 900
