"""Token parsing and signature checks: what PyJWT's decode refused, refused here too."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from identity_helpers import reused_key
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.api_jwk import PyJWK

from clientevents.identity.jwtcheck import parse_unverified, verify
from clientevents.identity.principal import AuthError

KEY = reused_key()
NOW = time.time()
CLAIMS = {"sub": "u1", "exp": int(NOW) + 600, "iat": int(NOW)}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token(claims: dict[str, object] | None = None, **header: object) -> str:
    return jwt.encode(claims or CLAIMS, KEY, algorithm="RS256", headers={"kid": "k1", **header})


def hand_made(header: dict[str, object]) -> str:
    """A token signed by hand (PyJWT refuses to write some of the headers tested here)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(CLAIMS).encode())}"
    signature = KEY.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def refused(text: str, reason: str = "malformed") -> AuthError:
    with pytest.raises(AuthError) as caught:
        verify(parse_unverified(text), KEY.public_key(), "RS256", now=NOW)
    assert caught.value.reason == reason, caught.value.message
    return caught.value


def test_a_valid_token_verifies_to_its_claims() -> None:
    parsed = parse_unverified(token())
    assert (parsed.alg, parsed.kid, parsed.claims) == ("RS256", "k1", CLAIMS)
    assert verify(parsed, KEY.public_key(), "RS256", now=NOW) == CLAIMS


def test_padding_is_accepted_as_pyjwt_accepts_it() -> None:
    header, payload, signature = token().split(".")
    padded = f"{header}.{payload}.{signature}{'=' * (-len(signature) % 4)}"
    assert padded.endswith("==")
    assert verify(parse_unverified(padded), KEY.public_key(), "RS256", now=NOW) == CLAIMS


@pytest.mark.parametrize(
    "mangle",
    [
        lambda h, p, s: f"{h}.{p}.{s}!",  # not base64url
        lambda h, p, s: f"{h}.{p}.{s}===",  # too much padding
        lambda h, p, s: f"{h}.{p}.{s[:-1]}",  # a length base64 cannot have... or a wrong one
        lambda h, p, s: f"{h}.{p[:-1] + chr(ord(p[-1]) + 1)}.{s}",  # changed payload
        lambda h, p, s: f"{h}.{p}",  # two parts
        lambda h, p, s: f"{h}.{p}.{s}.{s}",  # four parts
        lambda h, p, s: f"{b64(b'[1]')}.{p}.{s}",  # header not an object
        lambda h, p, s: f"{h}.{b64(b'not json')}.{s}",  # payload not JSON
    ],
)
def test_damaged_tokens_are_refused(mangle: object) -> None:
    header, payload, signature = token().split(".")
    text = mangle(header, payload, signature)  # type: ignore[operator]
    with pytest.raises(AuthError) as caught:
        verify(parse_unverified(text), KEY.public_key(), "RS256", now=NOW)
    assert caught.value.reason in ("malformed", "bad_signature")


def test_non_canonical_base64_is_refused() -> None:
    header, payload, signature = token().split(".")
    # The last character of a 2048-bit signature carries 4 unused bits: set one.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(signature[-1]) | 1]
    assert last != signature[-1]
    error = refused(f"{header}.{payload}.{signature[:-1]}{last}")
    assert "canonical" in error.message


def test_extensions_and_odd_kids_are_refused() -> None:
    plain = {"alg": "RS256", "typ": "JWT", "kid": "k1"}
    assert verify(parse_unverified(hand_made(plain)), KEY.public_key(), "RS256",
                  now=NOW) == CLAIMS
    refused(hand_made({**plain, "crit": ["exp"], "exp": 1}))
    refused(hand_made({**plain, "b64": False, "crit": ["b64"]}))
    assert "kid" in refused(hand_made({**plain, "kid": 7})).message


def test_a_wrong_algorithm_or_key_is_refused() -> None:
    other = next(k for k in (reused_key(), reused_key()) if k is not KEY)
    with pytest.raises(AuthError) as caught:
        verify(parse_unverified(token()), other.public_key(), "RS256", now=NOW)
    assert caught.value.reason == "bad_signature"
    with pytest.raises(AuthError) as caught:
        verify(parse_unverified(token()), KEY.public_key(), "RS512", now=NOW)
    assert caught.value.reason == "alg_not_allowed"
    ec_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(AuthError) as caught:
        verify(parse_unverified(token()), ec_key.public_key(), "RS256", now=NOW)
    assert caught.value.reason == "bad_signature"


def test_published_keys_are_bound_to_their_algorithm() -> None:
    jwk = json.loads(RSAAlgorithm.to_jwk(KEY.public_key()))
    rs256 = PyJWK({**jwk, "alg": "RS256"})
    assert verify(parse_unverified(token()), rs256, "RS256", now=NOW) == CLAIMS
    es_key = ec.generate_private_key(ec.SECP256R1())
    es_jwk = PyJWK({**json.loads(ECAlgorithm.to_jwk(es_key.public_key())), "alg": "ES256"})
    es_token = jwt.encode(CLAIMS, es_key, algorithm="ES256")
    assert verify(parse_unverified(es_token), es_jwk, "ES256", now=NOW) == CLAIMS
    with pytest.raises(AuthError) as caught:
        verify(parse_unverified(token()), es_jwk, "RS256", now=NOW)
    assert caught.value.reason == "alg_not_allowed"


def test_required_claims_are_named() -> None:
    claims = {k: v for k, v in CLAIMS.items() if k != "sub"}
    with pytest.raises(AuthError) as caught:
        verify(parse_unverified(token(claims)), KEY.public_key(), "RS256", now=NOW,
               require=("exp", "sub"))
    assert "'sub'" in caught.value.message
