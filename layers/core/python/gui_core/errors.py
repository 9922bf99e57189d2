"""One error hierarchy, mapped once to RFC 9457 problem details.

Every error a client can see has a stable `code`; the GUI switches on the code, never on the
human text. `type` is a URN built from the code so it is a valid URI without promising a page.
"""

from __future__ import annotations

from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
# The answer headers a browser script may read cross-origin (`Access-Control-Expose-Headers`), on the
# functions' answers and on API Gateway's own (stacks.cors): retry and back-off hints among them.
EXPOSED_HEADERS = (
    "ETag",
    "Location",
    "Retry-After",
    "WWW-Authenticate",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-Request-Id",
    "x-amzn-RequestId",
)
PROBLEM_TYPE_PREFIX = "urn:domaindetermine:gui:problem:"


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details. Switch on `code`; `title` and `detail` are for people.",
    "required": ["type", "title", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri", "example": f"{PROBLEM_TYPE_PREFIX}not_found"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "example": "not_found"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "Field errors of a 422.",
            "items": {
                "type": "object",
                "properties": {
                    "pointer": {"type": "string", "example": "/theme"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}


def problem_type(code: str) -> str:
    return f"{PROBLEM_TYPE_PREFIX}{code}"


class ProblemError(Exception):
    """Base of every error that becomes a problem answer."""

    status: int = 500
    code: str = "internal_error"
    title: str = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extensions = extensions

    def to_problem(self, *, instance: str | None = None, request_id: str | None = None) -> dict[str, Any]:
        return problem_body(
            status=self.status,
            code=self.code,
            title=self.title,
            detail=self.detail,
            instance=instance,
            request_id=request_id,
            **self.extensions,
        )


def problem_body(
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    instance: str | None = None,
    request_id: str | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": title,
        "status": status,
        "code": code,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if request_id:
        body["request_id"] = request_id
    body.update({k: v for k, v in extensions.items() if v is not None})
    return body


class BadRequest(ProblemError):
    status, code, title = 400, "bad_request", "Bad request"


class MalformedJson(ProblemError):
    status, code, title = 400, "malformed_json", "Request body is not valid JSON"


class InvalidCursor(BadRequest):
    code, title = "invalid_cursor", "The cursor is not one this API issued"


class Unauthorized(ProblemError):
    status, code, title = 401, "unauthorized", "Authentication required"


class Forbidden(ProblemError):
    status, code, title = 403, "forbidden", "Access denied"


class InsufficientScope(Forbidden):
    code, title = "insufficient_scope", "The token lacks a required scope"


class TenantMismatch(Forbidden):
    code, title = "tenant_mismatch", "The request names a tenant other than the caller's"


class TenantUnknown(Forbidden):
    code, title = "tenant_unknown", "The tenant is not provisioned in this region"


class NotFound(ProblemError):
    status, code, title = 404, "not_found", "Not found"


class MethodNotAllowed(ProblemError):
    status, code, title = 405, "method_not_allowed", "Method not allowed"


class FeatureDisabled(NotFound):
    code, title = "feature_disabled", "This feature is not enabled for the tenant"


class Conflict(ProblemError):
    status, code, title = 409, "conflict", "Conflict"


class ReplayedRequest(Conflict):
    code, title = "replayed_request", "This mutation was already received"


class PreconditionFailed(ProblemError):
    status, code, title = 412, "precondition_failed", "The resource changed since it was read"


class PayloadTooLarge(ProblemError):
    status, code, title = 413, "payload_too_large", "Request body too large"


class MisdirectedRequest(ProblemError):
    status, code, title = 421, "wrong_region", "The tenant is served by another region"


class UnsupportedMediaType(ProblemError):
    status, code, title = 415, "unsupported_media_type", "Request body must be JSON"


class ValidationFailed(ProblemError):
    status, code, title = 422, "validation_failed", "The request is not valid"


class PreconditionRequired(ProblemError):
    status, code, title = 428, "precondition_required", "This request must be conditional"


class RateLimited(ProblemError):
    status, code, title = 429, "rate_limited", "Too many requests for this tenant"


class ServiceUnavailable(ProblemError):
    status, code, title = 503, "service_unavailable", "Service temporarily unavailable"
