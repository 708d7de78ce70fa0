"""The problem details (RFC 9457) of a domain error, without FastAPI: the one mapping that both
the FastAPI app (`flightdeck.api.problems`) and the webhook ingress function answer with."""

from __future__ import annotations

from typing import Any

from flightdeck.errors import FlightdeckError, InvalidInputError

PROBLEM_JSON = "application/problem+json"


def body(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}


def for_error(exc: FlightdeckError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, body and extra headers: a retryable error (the database or Step Functions
    unavailable) says when to try again (`Retry-After`), so n8n and API clients retry."""
    extra = {}
    if isinstance(exc, InvalidInputError) and exc.field:
        extra["errors"] = [{"field": exc.field, "message": str(exc)}]
    headers = {}
    retry_after = getattr(exc, "retry_after_seconds", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return exc.status, body(exc.status, exc.title, str(exc), **extra), headers


def unexpected() -> dict[str, Any]:
    """The body of a 500: a fault of the platform's, not the caller's. It holds nothing of the
    exception (internals, perhaps personal data); the exception itself is logged, masked."""
    return body(
        500,
        "Internal error",
        "The request failed on the platform's side and was logged. Try again; if it fails "
        "again, report it with the time it happened.",
    )
