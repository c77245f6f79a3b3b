"""The authenticator with the built-in pool: header forms, checks, the per-request user check."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest
from identity_helpers import FakeClock, login, signed_up

from clientevents.identity.authenticator import Authenticator
from clientevents.identity.principal import AuthError, Principal
from clientevents.identity.userpool import UserPool


def authenticate(auth: Authenticator, header: str | None) -> Principal:
    return asyncio.run(auth.authenticate(header))


def refusal(auth: Authenticator, header: str | None) -> AuthError:
    with pytest.raises(AuthError) as caught:
        authenticate(auth, header)
    return caught.value


@pytest.fixture
def auth(pool: UserPool, clock: FakeClock) -> Authenticator:
    return Authenticator(user_pool=pool, clock=clock)


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_access_token_gives_the_principal_with_client_id(
    pool: UserPool, auth: Authenticator, tmp_path: Path
) -> None:
    sub = signed_up(pool, tmp_path)
    token = login(pool)["AccessToken"]
    user = pool.find_user("alice")
    assert user is not None
    for header in (token, f"Bearer {token}", f"bearer  {token} "):
        principal = authenticate(auth, header)
        assert principal.subject == sub and principal.username == "alice"
        assert principal.client_id == user.client_id
        assert principal.issuer_name == "user_pool" and principal.token_use == "access"
        assert principal.claims["token_use"] == "access"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Bearer", "malformed"),
        ("Basic dXNlcjpwYXNz", "malformed"),
        ("not.a.jwt", "malformed"),
        ("a.b", "malformed"),
        ("x" * 200_000, "too_large"),
    ],
)
def test_bad_headers(auth: Authenticator, header: str | None, reason: str) -> None:
    error = refusal(auth, header)
    assert (error.status, error.reason) == (401, reason)


def test_id_token_is_refused_unless_accepted(
    pool: UserPool, clock: FakeClock, tmp_path: Path
) -> None:
    signed_up(pool, tmp_path)
    id_token = login(pool)["IdToken"]
    strict = Authenticator(user_pool=pool, clock=clock)
    assert refusal(strict, id_token).reason == "wrong_token_use"
    lenient = Authenticator(user_pool=pool, accept_id_tokens=True, clock=clock)
    principal = authenticate(lenient, id_token)
    assert principal.token_use == "id" and principal.username == "alice"


def test_expired_and_future_tokens(
    pool: UserPool, auth: Authenticator, clock: FakeClock, tmp_path: Path
) -> None:
    signed_up(pool, tmp_path)
    token = login(pool)["AccessToken"]
    authenticate(auth, token)  # cached now...
    clock.advance(3600 + 6)
    assert refusal(auth, token).reason == "expired"  # ...but never past its expiry
    clock.advance(-7200)
    assert refusal(Authenticator(user_pool=pool, clock=clock), token).reason == "not_yet_valid"


def test_sign_out_and_disable_apply_to_cached_tokens(
    pool: UserPool, auth: Authenticator, tmp_path: Path
) -> None:
    signed_up(pool, tmp_path)
    token = login(pool)["AccessToken"]
    authenticate(auth, token)
    pool.admin_disable_user("alice")
    error = refusal(auth, token)
    assert (error.status, error.reason) == (403, "user_disabled")
    pool.admin_enable_user("alice")
    # Disabling also revoked the user's sessions, as Cognito does.
    assert refusal(auth, token).reason == "revoked"
    fresh = login(pool)["AccessToken"]
    authenticate(auth, fresh)
    pool.global_sign_out(fresh)
    assert refusal(auth, fresh).reason == "revoked"
    newest = login(pool)["AccessToken"]
    authenticate(auth, newest)
    pool.admin_delete_user("alice")
    assert refusal(auth, newest).reason == "user_not_found"


def test_forged_tokens(pool: UserPool, auth: Authenticator, tmp_path: Path) -> None:
    signed_up(pool, tmp_path)
    token = login(pool)["AccessToken"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered = f"{header}.{b64({**claims, 'custom:clientId': 'someone-else'})}.{signature}"
    assert refusal(auth, tampered).reason == "bad_signature"
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}."
    assert refusal(auth, unsigned).reason == "alg_not_allowed"
    other_kid = f"{b64({'alg': 'RS256', 'kid': 'nope'})}.{payload}.{signature}"
    assert refusal(auth, other_kid).reason == "unknown_kid"
    strange_issuer = pool.keys.sign({**claims, "iss": "https://elsewhere.example/other"})
    assert refusal(auth, strange_issuer).reason == "wrong_issuer"
    other_client = pool.keys.sign({**claims, "client_id": "another-app"})
    assert refusal(auth, other_client).reason == "wrong_audience"


def test_cache_is_bounded(pool: UserPool, clock: FakeClock, tmp_path: Path) -> None:
    signed_up(pool, tmp_path)
    auth = Authenticator(user_pool=pool, cache_size=3, clock=clock)
    tokens = [login(pool)["AccessToken"] for _ in range(5)]
    for token in tokens:
        authenticate(auth, token)
    assert len(auth._cache) == 3
