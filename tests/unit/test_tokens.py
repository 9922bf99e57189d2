"""JWT verification edge cases: what the authorizer accepts and what it refuses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gui_core.tokens import (
    RemoteKeySet,
    StaticKeySet,
    TokenError,
    TokenVerifier,
    bearer_token,
    jwks_from_public_pem,
)

ISSUER = "urn:test:issuer"
AUDIENCE = "ddgui-api"
NOW = 1_800_000_000


def _key_pair() -> tuple[rsa.RSAPrivateKey, bytes]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public_pem


@pytest.fixture(scope="module")
def signing_key() -> tuple[rsa.RSAPrivateKey, bytes]:
    return _key_pair()


@pytest.fixture(scope="module")
def verifier(signing_key: tuple[rsa.RSAPrivateKey, bytes]) -> TokenVerifier:
    return TokenVerifier(
        StaticKeySet(jwks_from_public_pem(signing_key[1], "k1")),
        issuer=ISSUER,
        audience=AUDIENCE,
        leeway_s=30,
        clock=lambda: NOW,
    )


def _claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "ada",
        "tenant": "acme",
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "exp": NOW + 600,
        "jti": str(uuid.uuid4()),
        "scope": "gui:preferences",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _token(key: rsa.RSAPrivateKey, claims: dict[str, Any], kid: str | None = "k1", alg: str = "RS256") -> str:
    headers = {"kid": kid} if kid else {}
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def test_valid_token_yields_tenant_subject_and_scopes(verifier: TokenVerifier, signing_key: Any) -> None:
    principal = verifier.verify(_token(signing_key[0], _claims(roles=["operator"])))
    assert principal.tenant == "acme"
    assert principal.subject == "ada"
    assert "gui:preferences" in principal.scopes
    assert "gui:jobs" in principal.scopes  # from the operator role
    assert "gui:admin" not in principal.scopes


def test_unknown_scope_names_grant_nothing(verifier: TokenVerifier, signing_key: Any) -> None:
    principal = verifier.verify(_token(signing_key[0], _claims(scope="gui:everything admin", roles=["root"])))
    assert principal.scopes == frozenset()


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (_claims(exp=NOW - 31), "expired"),
        (_claims(nbf=NOW + 31), "not yet valid"),
        (_claims(iat=NOW + 120), "future"),
        (_claims(iss="urn:other"), "issuer"),
        (_claims(aud="another-api"), "audience"),
        (_claims(tenant=None), "tenant"),
        (_claims(tenant=""), "tenant"),
        (_claims(sub=None), "sub"),
        (_claims(exp=None), "exp"),
        (_claims(roles="admin"), "roles"),
        (_claims(scope=["gui:admin"]), "scope"),
    ],
)
def test_refused_claims(
    verifier: TokenVerifier, signing_key: Any, claims: dict[str, Any], reason: str
) -> None:
    with pytest.raises(TokenError) as refused:
        verifier.verify(_token(signing_key[0], claims))
    assert reason in refused.value.reason.lower()


def test_clock_skew_within_leeway_is_accepted(verifier: TokenVerifier, signing_key: Any) -> None:
    principal = verifier.verify(_token(signing_key[0], _claims(exp=NOW - 20, nbf=NOW + 20, iat=NOW + 20)))
    assert principal.subject == "ada"


def test_alg_none_is_refused(verifier: TokenVerifier) -> None:
    unsigned = jwt.encode(_claims(), key=None, algorithm="none", headers={"kid": "k1"})
    with pytest.raises(TokenError, match="algorithm"):
        verifier.verify(unsigned)


def test_hs256_signed_with_the_public_key_is_refused(verifier: TokenVerifier, signing_key: Any) -> None:
    # The classic RS/HS confusion: an attacker signs with the public key as an HMAC secret.
    header = {"alg": "HS256", "kid": "k1", "typ": "JWT"}

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = b64(json.dumps(header).encode()) + b"." + b64(json.dumps(_claims()).encode())
    signature = hmac.new(signing_key[1], signing_input, hashlib.sha256).digest()
    token = (signing_input + b"." + b64(signature)).decode()
    with pytest.raises(TokenError, match="algorithm"):
        verifier.verify(token)


def test_token_signed_by_another_key_with_a_known_kid_is_refused(verifier: TokenVerifier) -> None:
    other, _ = _key_pair()
    with pytest.raises(TokenError, match="invalid"):
        verifier.verify(_token(other, _claims()))


def test_unknown_and_missing_kid_are_refused(verifier: TokenVerifier, signing_key: Any) -> None:
    with pytest.raises(TokenError, match="unknown key id"):
        verifier.verify(_token(signing_key[0], _claims(), kid="k2"))
    with pytest.raises(TokenError, match="no key id"):
        verifier.verify(_token(signing_key[0], _claims(), kid=None))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "eyJhbGciOiJSUzI1NiJ9..", "Bearer"])
def test_malformed_tokens_are_refused(verifier: TokenVerifier, garbage: str) -> None:
    with pytest.raises(TokenError):
        verifier.verify(garbage)


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer   ", "Token abc"])
def test_authorization_header_must_be_a_bearer_token(header: str | None) -> None:
    with pytest.raises(TokenError):
        bearer_token(header)


def test_bearer_scheme_is_case_insensitive() -> None:
    assert bearer_token("bearer abc.def.ghi") == "abc.def.ghi"


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_remote_key_set_refreshes_on_unknown_kid_but_not_in_a_flood(signing_key: Any) -> None:
    rotated, rotated_pem = _key_pair()
    documents = [jwks_from_public_pem(signing_key[1], "k1"), jwks_from_public_pem(rotated_pem, "k2")]
    fetched: list[str] = []

    def fetch(url: str) -> str:
        fetched.append(url)
        return documents[min(len(fetched) - 1, 1)]

    clock = _Clock()
    keys = RemoteKeySet("https://idp.example/jwks", fetch=fetch, clock=clock, min_refresh_s=60, ttl_s=3600)
    assert keys.key_for("k1") is not None
    assert len(fetched) == 1
    assert keys.key_for("k2") is None  # unknown, but refreshed a moment ago: no refetch
    assert len(fetched) == 1
    clock.now = 61
    assert keys.key_for("k2") is not None  # key rotation picked up
    assert len(fetched) == 2
    for _ in range(5):
        keys.key_for("invented")
    assert len(fetched) == 2
    token = _token(rotated, _claims(), kid="k2")
    principal = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, clock=lambda: NOW).verify(token)
    assert principal.tenant == "acme"


def test_remote_key_set_only_fetches_https() -> None:
    keys = RemoteKeySet("http://idp.example/jwks")
    with pytest.raises(TokenError, match="https"):
        keys.key_for("k1")


def test_real_wall_clock_is_used_by_default(signing_key: Any) -> None:
    verifier = TokenVerifier(
        StaticKeySet(jwks_from_public_pem(signing_key[1], "k1")), issuer=ISSUER, audience=AUDIENCE
    )
    now = int(time.time())
    fresh = _token(signing_key[0], _claims(iat=now, nbf=now, exp=now + 60))
    assert verifier.verify(fresh).subject == "ada"
