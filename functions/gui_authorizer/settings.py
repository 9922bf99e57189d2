"""Settings of the authorizer.

A frozen dataclass, not a pydantic model like the other functions: importing pydantic-settings
costs about as much as the rest of this function's cold start together (see the decision log), and
the authorizer runs in front of every request. It is validated at cold start all the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class AuthorizerSettings:
    region: str
    issuer: str
    audience: str
    jwks_json: str | None
    jwks_url: str | None
    leeway_s: int
    tickets_table: str | None  # the store of stream tickets (the `limits` store); None: none redeemed

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> AuthorizerSettings:
        missing = [k for k in ("GUI_REGION", "GUI_JWT_ISSUER", "GUI_JWT_AUDIENCE") if not environ.get(k)]
        if not (environ.get("GUI_JWKS") or environ.get("GUI_JWKS_URL")):
            missing.append("GUI_JWKS or GUI_JWKS_URL")
        if missing:
            raise RuntimeError(f"authorizer settings missing: {', '.join(missing)}")
        leeway = environ.get("GUI_JWT_LEEWAY_S", "30")
        if not leeway.isdigit() or int(leeway) > 300:
            raise RuntimeError("GUI_JWT_LEEWAY_S must be an integer of seconds between 0 and 300")
        return cls(
            region=environ["GUI_REGION"],
            issuer=environ["GUI_JWT_ISSUER"],
            audience=environ["GUI_JWT_AUDIENCE"],
            jwks_json=environ.get("GUI_JWKS") or None,
            jwks_url=environ.get("GUI_JWKS_URL") or None,
            leeway_s=int(leeway),
            tickets_table=environ.get("LIMITS_TABLE") or None,
        )
