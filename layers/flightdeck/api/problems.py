"""Errors to HTTP, in one place: RFC 9457 problem details (`application/problem+json`)."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from flightdeck.api import problem_details
from flightdeck.errors import FlightdeckError

PROBLEM_JSON = problem_details.PROBLEM_JSON


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details: every error the API answers has this shape."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


def _documented(description: str) -> dict[str, Any]:
    return {"description": description, "model": Problem, "content": {PROBLEM_JSON: {}}}


# Declared on every route, so the OpenAPI document names every answer a client can get.
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("the request cannot be read"),
    401: _documented("no valid credentials (token or webhook signature)"),
    403: _documented("the credentials do not allow this"),
    404: _documented("no such resource for this tenant"),
    409: _documented("conflicts with the resource's state or an earlier request"),
    410: _documented("no longer possible (expired or withdrawn)"),
    413: _documented("the body is too large"),
    415: _documented("a document of a type the platform cannot read"),
    422: _documented("the input is invalid; `errors` names the fields"),
    500: _documented("a fault of the platform's, logged; the body holds none of its details"),
    503: _documented("unavailable for a moment (the database); retry after `Retry-After` seconds"),
}


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    content = problem_details.body(status, title, detail, **extra)
    return JSONResponse(content, status_code=status, media_type=PROBLEM_JSON)


def install(app: FastAPI) -> None:
    @app.exception_handler(FlightdeckError)
    async def domain_error(request: Request, exc: FlightdeckError) -> JSONResponse:
        status, content, headers = problem_details.for_error(exc)
        return JSONResponse(content, status_code=status, media_type=PROBLEM_JSON, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"][1:]) or e["loc"][0], "message": e["msg"]}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, "Invalid input", detail, errors=errors)

    @app.exception_handler(psycopg.DataError)
    async def unstorable(request: Request, exc: psycopg.DataError) -> JSONResponse:
        # Values Postgres refuses (a NUL byte, an out-of-range number): the caller's input.
        return problem(422, "Invalid input", "the input holds a value that cannot be stored")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A fault of the platform's, not the caller's: answered as problem details like every
        # other error, without the exception's text (internals, perhaps personal data). The
        # exception goes on to the server, which logs it whole, masked
        # (`flightdeck.observability`).
        return JSONResponse(problem_details.unexpected(), status_code=500, media_type=PROBLEM_JSON)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}
        response = problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response
