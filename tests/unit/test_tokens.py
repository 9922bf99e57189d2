"""JWT verification edge cases: what the authorizer accepts and what it refuses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gui_core.tokens import (
    FetchFailure,
    KeysUnavailable,
    RemoteKeySet,
    StaticKeySet,
    TokenError,
    TokenVerifier,
    bearer_token,
    jwks_from_public_pem,
)
from tests.fakes import ManualClock

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


def test_remote_key_set_refreshes_on_unknown_kid_but_not_in_a_flood(signing_key: Any) -> None:
    rotated, rotated_pem = _key_pair()
    documents = [jwks_from_public_pem(signing_key[1], "k1"), jwks_from_public_pem(rotated_pem, "k2")]
    fetched: list[str] = []

    def fetch(url: str) -> str:
        fetched.append(url)
        return documents[min(len(fetched) - 1, 1)]

    clock = ManualClock()
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
    with pytest.raises(ValueError, match="https"):  # at cold start, not as a 401 on every request
        RemoteKeySet("http://idp.example/jwks")


def test_real_wall_clock_is_used_by_default(signing_key: Any) -> None:
    verifier = TokenVerifier(
        StaticKeySet(jwks_from_public_pem(signing_key[1], "k1")), issuer=ISSUER, audience=AUDIENCE
    )
    now = int(time.time())
    fresh = _token(signing_key[0], _claims(iat=now, nbf=now, exp=now + 60))
    assert verifier.verify(fresh).subject == "ada"


# -- the key set when the identity provider cannot be reached ---------------------------------


class _Provider:
    """The identity provider's JWKS endpoint: answers its documents, or fails while `down`."""

    def __init__(self, *documents: str) -> None:
        self.documents = list(documents)
        self.down = False
        self.fetches = 0

    def __call__(self, url: str) -> str:
        self.fetches += 1
        if self.down:
            raise OSError("connection refused")
        return self.documents[min(self.fetches - 1, len(self.documents) - 1)]


def _remote(provider: _Provider, clock: ManualClock, **options: Any) -> RemoteKeySet:
    settings: dict[str, Any] = {"ttl_s": 3600, "min_refresh_s": 60, "max_stale_s": 6 * 3600}
    settings.update(options)
    return RemoteKeySet("https://idp.example/jwks", fetch=provider, clock=clock, **settings)


def test_a_failed_refresh_keeps_serving_the_last_good_keys_until_the_staleness_bound(
    signing_key: Any,
) -> None:
    provider, clock = _Provider(jwks_from_public_pem(signing_key[1], "k1")), ManualClock()
    keys = _remote(provider, clock)
    assert keys.key_for("k1") is not None
    provider.down = True
    clock.now = 3601  # the cached set is due for a refresh, and the provider is down
    assert keys.key_for("k1") is not None  # the last good set, not an error
    clock.now = 6 * 3600  # still within the bound
    assert keys.key_for("k1") is not None
    clock.now = 6 * 3600 + 1  # past it: a key that old is not trusted any more
    with pytest.raises(KeysUnavailable):
        keys.key_for("k1")


def test_failed_fetches_back_off_exponentially_to_a_cap_and_never_storm(signing_key: Any) -> None:
    provider, clock = _Provider(jwks_from_public_pem(signing_key[1], "k1")), ManualClock()
    provider.down = True
    keys = _remote(provider, clock, backoff_first_s=1, backoff_max_s=30)
    attempts: list[float] = []
    for step in range(0, 200 * 10):  # 200 s of requests, ten a second
        clock.now = step / 10
        before = provider.fetches
        with pytest.raises(KeysUnavailable):
            keys.key_for("k1")
        if provider.fetches > before:
            attempts.append(clock.now)
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(attempts)]
    assert gaps[:6] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert set(gaps[5:]) == {30.0}  # capped
    assert len(attempts) < 15  # not 2,000
    provider.down = False
    clock.now = attempts[-1] + 30
    assert keys.key_for("k1") is not None  # recovered at the next attempt
    fetches = provider.fetches
    clock.now += 1
    assert keys.key_for("k1") is not None
    assert provider.fetches == fetches  # and cached again: the back-off is over


def test_an_unknown_key_id_while_the_provider_is_down_cannot_be_verified_now(signing_key: Any) -> None:
    """A key the provider rotated in cannot be told from an invented one while it is unreachable:
    that is "try again", not "refused"."""
    provider, clock = _Provider(jwks_from_public_pem(signing_key[1], "k1")), ManualClock()
    keys = _remote(provider, clock)
    keys.key_for("k1")
    clock.now = 61
    provider.down = True
    with pytest.raises(KeysUnavailable):
        keys.key_for("k2")
    assert keys.key_for("k1") is not None  # the known key still verifies
    provider.down = False
    clock.now = 61 + 60  # the refresh after the back-off finds no k2: a refused token, not an outage
    assert keys.key_for("k2") is None


def test_no_key_set_yet_and_no_provider_is_unavailable_and_reported(signing_key: Any) -> None:
    provider, clock = _Provider(jwks_from_public_pem(signing_key[1], "k1")), ManualClock()
    provider.down = True
    reported: list[FetchFailure] = []
    keys = _remote(provider, clock, on_fetch_failure=reported.append)
    with pytest.raises(KeysUnavailable) as unavailable:
        TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, clock=lambda: NOW).verify(
            _token(signing_key[0], _claims())
        )
    assert not isinstance(unavailable.value, TokenError)  # not a refusal: API Gateway must not say 401
    assert [(r.failures, r.retry_in_s, r.keys_age_s) for r in reported] == [(1, 1.0, None)]
    assert "connection refused" in reported[0].error


@pytest.mark.parametrize("document", ["not json", json.dumps({"keys": []}), json.dumps({"nothing": 1})])
def test_an_unusable_key_set_is_a_failed_refresh_not_an_empty_one(signing_key: Any, document: str) -> None:
    provider, clock = _Provider(jwks_from_public_pem(signing_key[1], "k1"), document), ManualClock()
    keys = _remote(provider, clock)
    keys.key_for("k1")
    clock.now = 3601
    assert keys.key_for("k1") is not None  # the good set stays; the bad answer did not replace it
    assert provider.fetches == 2
