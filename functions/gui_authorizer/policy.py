"""IAM policy answers of the REQUEST authorizer."""

from __future__ import annotations

from typing import Any


def api_wide_resource(method_arn: str) -> str:
    """`arn:...:api-id/stage/*/*` from the arn of the method called.

    The answer is cached by token for the cache TTL and then applies to every route, so it must
    allow the whole stage: scopes are checked by each function, per route. A WebSocket API's arn
    ends in its route key (`.../stage/$connect`); its answer allows `stage/*`.
    """
    # arn:aws:execute-api:<region>:<account>:<api>/<stage>/<method>/<path>; the path may hold ':'
    parts = method_arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "execute-api" or "/" not in parts[5]:
        raise ValueError(f"not an execute-api arn: {method_arn!r}")
    api_id, stage, *rest = parts[5].split("/")
    if rest and rest[0].startswith("$"):  # a WebSocket API's route key ($connect): no method part
        return f"{':'.join(parts[:5])}:{api_id}/{stage}/*"
    return f"{':'.join(parts[:5])}:{api_id}/{stage}/*/*"


def allow(
    principal_id: str, method_arn: str, context: dict[str, Any], *, whole_stage: bool = True
) -> dict[str, Any]:
    """Allow the whole stage (a token's answer, which API Gateway may cache), or with `whole_stage`
    false only the method called (a ticket's: single-use, never cached)."""
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": api_wide_resource(method_arn) if whole_stage else method_arn,
                }
            ],
        },
        "context": context,
    }
