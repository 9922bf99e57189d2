"""Bearer token verification (RS256 JWT) for the authorizer.

Imports only PyJWT and the standard library: the authorizer runs before every request and its cold
start must stay small. Keys come from a JWKS, given inline (local development, or a key set kept in
the region's configuration) or fetched from a URL and cached per container, refreshed when a token
names a key id the cache does not hold. A verdict is a `Principal` or a `TokenError` (refused: 401);
`Unverifiable` (`KeysUnavailable`: the provider unreachable) means no verdict can be given now.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from jwt import PyJWK, PyJWKSet

from gui_core.rbac import effective_scopes

ALGORITHM = "RS256"
TENANT_CLAIM = "tenant"


class TokenError(Exception):
    """The token is not acceptable. `reason` is for logs only: clients see a plain 401."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    tenant: str
    subject: str
    scopes: frozenset[str]
    roles: tuple[str, ...]
    token_id: str | None
    issued_at: int
    expires_at: int


class KeySource(Protocol):
    def key_for(self, kid: str) -> PyJWK | None: ...


class StaticKeySet:
    """A key set given as JWKS JSON text."""

    def __init__(self, jwks_json: str) -> None:
        self._keys = _index(PyJWKSet.from_json(jwks_json))

    def key_for(self, kid: str) -> PyJWK | None:
        return self._keys.get(kid)


class Unverifiable(Exception):
    """No verdict can be given now: something the verification needs cannot be reached. The
    authorizer fails, and API Gateway answers its AUTHORIZER_FAILURE response (a 503 to retry),
    never a 401 that would sign the user out."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeysUnavailable(Unverifiable):
    """No key set can be trusted now (the provider is unreachable and no recent set is kept)."""


@dataclass(frozen=True)
class FetchFailure:
    """One failed refresh of a remote key set, for the log and the metric."""

    error: str
    failures: int  # in a row
    retry_in_s: float  # no fetch before this back-off has passed
    keys_age_s: float | None  # the age of the set still served; None: there is none


# A key set older than this is not trusted, whatever the provider's state: a key the provider
# withdrew (rotated out after a compromise) stops verifying within this bound.
MAX_STALE_S = 6 * 3600.0
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0


class RemoteKeySet:
    """A JWKS fetched from a URL, cached for `ttl_s`, refetched early on an unknown `kid`.

    Refetches on unknown kids are spaced by `min_refresh_s` so a flood of tokens with invented
    key ids cannot turn into a flood of requests to the identity provider. A refresh that fails
    (network, HTTP, a document without usable keys) keeps the last good set, for at most
    `max_stale_s` after it was fetched, and the next attempt waits: `backoff_first_s`, doubled at
    each failure in a row, at most `backoff_max_s`. However many requests come meanwhile, one
    container makes one attempt per back-off step. `on_fetch_failure` hears of every failure.
    Without a set to trust, or for a key id the provider may have added while it was unreachable,
    `key_for` raises `KeysUnavailable`.
    """

    def __init__(
        self,
        url: str,
        *,
        ttl_s: float = 3600.0,
        min_refresh_s: float = 60.0,
        max_stale_s: float = MAX_STALE_S,
        backoff_first_s: float = BACKOFF_FIRST_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        fetch: Callable[[str], str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_fetch_failure: Callable[[FetchFailure], None] | None = None,
    ) -> None:
        if not url.startswith("https://"):
            raise ValueError("the JWKS URL must use https")
        self._url = url
        self._ttl_s = ttl_s
        self._min_refresh_s = min_refresh_s
        self._max_stale_s = max(max_stale_s, ttl_s)
        self._backoff_first_s = backoff_first_s
        self._backoff_max_s = backoff_max_s
        self._fetch = fetch or _http_get
        self._clock = clock
        self._on_fetch_failure = on_fetch_failure
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._failures = 0
        self._retry_at = float("-inf")
        self._lock = threading.Lock()

    def key_for(self, kid: str) -> PyJWK | None:
        with self._lock:
            now = self._clock()
            if self._wants_refresh(kid, now) and now >= self._retry_at:
                self._refresh(now)
            if self._fetched_at is None:
                raise KeysUnavailable("no key set: the identity provider has not answered yet")
            if now - self._fetched_at > self._max_stale_s:
                raise KeysUnavailable(f"the key set is {now - self._fetched_at:.0f} s old, past its bound")
            key = self._keys.get(kid)
            if key is None and self._failures:
                raise KeysUnavailable(f"key id {kid!r} unknown and the identity provider unreachable")
            return key

    def clear(self) -> None:
        """Forget the key set and the failures (gui_core.snapstart, after a restore: their ages count
        on a clock that did not see the snapshot wait); the next token fetches the set."""
        with self._lock:
            self._keys, self._fetched_at = {}, None
            self._failures, self._retry_at = 0, float("-inf")

    def _wants_refresh(self, kid: str, now: float) -> bool:
        if self._fetched_at is None or now - self._fetched_at > self._ttl_s:
            return True
        return kid not in self._keys and now - self._fetched_at >= self._min_refresh_s

    def _refresh(self, now: float) -> None:
        try:
            keys = _index(PyJWKSet.from_json(self._fetch(self._url)))
            if not keys:
                raise ValueError(f"no {ALGORITHM} key with a key id in the set")  # noqa: TRY301
        except Exception as exc:
            self._failures += 1
            delay = min(self._backoff_max_s, self._backoff_first_s * 2 ** (self._failures - 1))
            self._retry_at = now + delay
            if self._on_fetch_failure is not None:
                age = None if self._fetched_at is None else now - self._fetched_at
                self._on_fetch_failure(
                    FetchFailure(f"{type(exc).__name__}: {exc}", self._failures, delay, age)
                )
            return
        self._keys, self._fetched_at = keys, now
        self._failures, self._retry_at = 0, float("-inf")


def _http_get(url: str) -> str:
    import urllib.request  # here, not at the top: http.client and email cost ~45 ms at cold start

    with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - https checked by RemoteKeySet
        body: bytes = response.read()
    return body.decode()


def _index(key_set: PyJWKSet) -> dict[str, PyJWK]:
    return {k.key_id: k for k in key_set.keys if k.key_id and k.algorithm_name == ALGORITHM}


class TokenVerifier:
    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway_s: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s
        self._clock = clock

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError(f"malformed token: {exc}") from exc
        if header.get("alg") != ALGORITHM:
            raise TokenError(f"algorithm {header.get('alg')!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenError("token has no key id")
        key = self._keys.key_for(kid)
        if key is None:
            raise TokenError(f"unknown key id {kid!r}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway_s,
                # Times are checked below against one injected clock, so a verdict is reproducible.
                options={
                    "require": ["exp", "iat", "iss", "aud", "sub"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from exc
        now = self._clock()
        if not all(isinstance(claims.get(c, 0), int) for c in ("exp", "nbf", "iat")):
            raise TokenError("time claims must be integers")
        if int(claims["exp"]) + self._leeway_s < now:
            raise TokenError("token expired")
        if int(claims.get("nbf", 0)) - self._leeway_s > now:
            raise TokenError("token not yet valid")
        if int(claims["iat"]) - self._leeway_s > now:
            raise TokenError("token issued in the future")
        tenant = claims.get(TENANT_CLAIM)
        if not isinstance(tenant, str) or not tenant:
            raise TokenError("token has no tenant")
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise TokenError("roles claim must be a list of strings")
        scope_claim = claims.get("scope", "")
        if not isinstance(scope_claim, str):
            raise TokenError("scope claim must be a space-separated string")
        return Principal(
            tenant=tenant,
            subject=str(claims["sub"]),
            scopes=effective_scopes(scope_claim.split(), roles),
            roles=tuple(roles),
            token_id=claims.get("jti"),
            issued_at=int(claims["iat"]),
            expires_at=int(claims["exp"]),
        )


def key_source(
    *,
    jwks_json: str | None,
    jwks_url: str | None,
    on_fetch_failure: Callable[[FetchFailure], None] | None = None,
) -> KeySource:
    if jwks_json:
        return StaticKeySet(jwks_json)
    if jwks_url:
        return RemoteKeySet(jwks_url, on_fetch_failure=on_fetch_failure)
    raise ValueError("either a JWKS (GUI_JWKS) or a JWKS URL (GUI_JWKS_URL) must be configured")


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise TokenError("no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError("Authorization is not a bearer token")
    return token.strip()


def jwks_from_public_pem(public_pem: bytes, kid: str) -> str:
    """JWKS JSON for one RSA public key (used for the local development key pair)."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from jwt.algorithms import RSAAlgorithm

    public_key = load_pem_public_key(public_pem)
    if not isinstance(public_key, RSAPublicKey):
        raise TypeError("the development key must be an RSA key")
    jwk = json.loads(RSAAlgorithm.to_jwk(public_key))
    jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    return json.dumps({"keys": [jwk]})
