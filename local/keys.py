"""The development signing key: an RSA key pair made on first run, kept out of git, never shipped.

The local authorizer trusts only this key (as an inline JWKS), so a token minted here works against
the local runtime and nowhere else. The key id is the RFC 7638 thumbprint of the public key: it
changes whenever the key does, so a token signed by an older key is refused as "unknown key id".
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gui_core.tokens import ALGORITHM, jwks_from_public_pem

DEV_ISSUER = "urn:domaindetermine:gui:local-issuer"
DEV_AUDIENCE = "ddgui-api"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_KEYS_DIR = REPO_ROOT / ".local" / "keys"
PRIVATE_KEY_FILE = "dev-signing-key.pem"


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def key_thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA public key."""
    numbers = public_key.public_numbers()
    canonical = json.dumps(
        {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)},
        separators=(",", ":"),
        sort_keys=True,
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class DevKeys:
    private_key: rsa.RSAPrivateKey = field(repr=False)
    kid: str
    public_pem: bytes = field(repr=False)
    jwks_json: str = field(repr=False)
    issuer: str = DEV_ISSUER
    audience: str = DEV_AUDIENCE

    @classmethod
    def from_private_key(cls, private_key: rsa.RSAPrivateKey) -> DevKeys:
        public_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        kid = key_thumbprint(private_key.public_key())
        return cls(
            private_key=private_key,
            kid=kid,
            public_pem=public_pem,
            jwks_json=jwks_from_public_pem(public_pem, kid),
        )

    @classmethod
    def ephemeral(cls) -> DevKeys:
        """A key pair held in memory only (tests: "a token signed by another key")."""
        return cls.from_private_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def load_or_create(cls, directory: Path = DEFAULT_KEYS_DIR) -> DevKeys:
        """Load the key pair kept in `directory`, creating it (mode 0600) on first use.

        Two processes starting at once both end up with the same key: each writes a complete file
        under a temporary name and links it into place only if no key is there yet.
        """
        path = directory / PRIVATE_KEY_FILE
        if not path.exists():
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            fd, tmp_name = tempfile.mkstemp(prefix=".key-", dir=directory)
            try:
                with os.fdopen(fd, "wb") as tmp:
                    tmp.write(pem)
                os.chmod(tmp_name, 0o600)
                with contextlib.suppress(FileExistsError):
                    os.link(tmp_name, path)
            finally:
                os.unlink(tmp_name)
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise TypeError(f"{path} does not hold an RSA private key")
        return cls.from_private_key(loaded)

    def mint(
        self,
        *,
        tenant: str,
        subject: str,
        scopes: Iterable[str] = (),
        roles: Iterable[str] = (),
        ttl_s: int = 3600,
        not_before: int | None = None,
        issued_at: int | None = None,
        extra_claims: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        """An RS256 token as the identity provider would issue it; `extra_claims` and `headers`
        override the defaults (tests use them to build tokens that must be refused)."""
        iat = int(time.time()) if issued_at is None else issued_at
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": iat,
            "nbf": iat if not_before is None else not_before,
            "exp": iat + ttl_s,
            "jti": str(uuid.uuid4()),
            "tenant": tenant,
            "scope": " ".join(scopes),
            "roles": list(roles),
            **(extra_claims or {}),
        }
        token_headers = {"kid": self.kid, "typ": "JWT", **(headers or {})}
        return jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers=token_headers)
