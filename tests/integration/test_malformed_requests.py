"""Every operation of the API contract, sent the malformed input a schema-driven generator does
not make (`test_fuzz_contract.py` generates from the schema): bytes that are not JSON or not
UTF-8, nesting deeper than a parser recurses, NaN and out-of-range numbers, truncated multipart,
path values of any shape, unknown tenant headers and malformed tokens. None may get a 5xx, and
every refusal is problem details. The operations are read from `docs/openapi.json`, so a new
one is probed too."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flightdeck.api.problem_details import PROBLEM_JSON
from tests.conftest import Platform
from tests.integration.api_client import Api, api_for

CONTRACT = json.loads((Path(__file__).parents[2] / "docs" / "openapi.json").read_text())

# Path values that are not what the route names (an id, a workflow's name), and an id of nothing.
BAD_PATH_VALUES = ["not-an-id", "x" * 600, "%00", "%C3%A9t%C3%A9", "..%2F..", str(uuid.uuid4())]
# Query values of the wrong kind for each declared type, and values out of any sane range.
BAD_QUERY_VALUES: dict[str, list[str]] = {
    "integer": ["abc", "-1", "0", "1e3", "99999999999999999999999"],
    "number": ["abc", "-1", "nan", "inf", "1e400"],
    "string": ["", "\x00", "x" * 5000, "2026-13-45T99:99:99Z", "é" * 300],
    "array": ["", "\x00", "not-a-status", "x" * 5000],
}
# JSON bodies that are broken, or of the wrong shape (`{}` may be all an operation needs).
BAD_JSON_BODIES: list[bytes] = [
    b"",
    b"not json",
    b'{"unterminated": ',
    b"null",
    b"[]",
    b'"a string"',
    b"{}",
    b'{"input": NaN, "workflow": Infinity}',
    b"[" * 100_000 + b"]" * 100_000,  # deeper than any JSON parser recurses
    b'{"a": 1e999999}',
    '{"workflow": "\ud800"}'.encode("utf-8", "surrogatepass"),
    b"\xff\xfe\x00garbage",
]


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in CONTRACT["paths"].items():
        for method, operation in methods.items():
            yield path, method.upper(), operation


def _type(parameter: dict[str, Any]) -> str:
    schema = parameter.get("schema", {})
    kinds = [schema.get("type")] + [s.get("type") for s in schema.get("anyOf", [])]
    return next((k for k in kinds if k in BAD_QUERY_VALUES), "string")


def _valid_path(path: str, filled: dict[str, str]) -> str:
    for name, value in filled.items():
        path = path.replace("{" + name + "}", value)
    return path


def _path_params(operation: dict[str, Any]) -> list[str]:
    return [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]


def _fill(operation: dict[str, Any]) -> dict[str, str]:
    """Well-formed path values: a random id, or the demo's workflow."""
    return {
        name: "support_triage" if name == "workflow" else str(uuid.uuid4())
        for name in _path_params(operation)
    }


def _requests(path: str, method: str, operation: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The malformed variants of one operation, each as `TestClient.request` keywords."""
    filled = _fill(operation)
    for name in _path_params(operation):
        for bad in BAD_PATH_VALUES:
            yield {"url": _valid_path(path, {**filled, name: bad})}
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "query":
            continue
        for bad in BAD_QUERY_VALUES[_type(parameter)]:
            yield {"url": _valid_path(path, filled), "params": {parameter["name"]: bad}}
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        for body in BAD_JSON_BODIES:
            yield {
                "url": _valid_path(path, filled),
                "content": body,
                "headers": {"content-type": "application/json"},
            }
        # A JSON body declared as something else.
        yield {
            "url": _valid_path(path, filled),
            "content": b'{"a": 1}',
            "headers": {"content-type": "text/plain"},
        }
    if "multipart/form-data" in content:
        truncated = b"--xyz\r\nContent-Disposition: form-data\r\n\r\n"  # no part ends
        for body, kind in [
            (b"not multipart", "multipart/form-data; boundary=xyz"),
            (truncated, "multipart/form-data; boundary=xyz"),
            (b"anything", "multipart/form-data"),  # no boundary
            (b"{}", "application/json"),
        ]:
            headers = {"content-type": kind}
            yield {"url": _valid_path(path, filled), "content": body, "headers": headers}
    # A tenant header naming no tenant the token may act for, or no tenant at all.
    if any(p["name"] == "flightdeck-tenant" for p in operation.get("parameters", [])):
        for bad in ["not-a-tenant", str(uuid.uuid4()), "x" * 600]:
            yield {"url": _valid_path(path, filled), "headers": {"flightdeck-tenant": bad}}


@pytest.fixture
def api(platform: Platform) -> Iterator[Api]:
    with api_for(platform) as api:
        # The app's own answer to an exception it did not handle, rather than the exception.
        client = TestClient(api.client.app, raise_server_exceptions=False)
        with client:
            api.client = client
            yield api


def test_no_malformed_request_gets_a_server_error(api: Api) -> None:
    failures: list[str] = []
    sent = 0
    for path, method, operation in operations():
        requests = list(_requests(path, method, operation))
        # Only an operation that takes no input at all is not probed (`GET /healthz`).
        assert requests or not (operation.get("parameters") or operation.get("requestBody"))
        for request in requests:
            headers = {**api.headers(api.admin), **request.pop("headers", {})}
            answer = api.client.request(method, headers=headers, **request)
            sent += 1
            shown = f"{method} {request['url'][:80]} {str(request.get('params', ''))[:60]}"
            if answer.status_code >= 500:
                failures.append(f"{shown} -> {answer.status_code} {answer.text[:200]}")
            elif answer.status_code >= 400 and PROBLEM_JSON not in answer.headers["content-type"]:
                failures.append(f"{shown} -> {answer.status_code} not problem details")
    assert sent > 300
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer ", "Bearer " + "x" * 5000, "Basic dXNlcjpwYXNz", "bearer fd_"],
)
def test_a_malformed_token_is_refused_with_problem_details(api: Api, authorization: str) -> None:
    for path, method, operation in operations():
        if path in ("/healthz", "/v1/sign-in") or path.startswith("/v1/webhooks/"):
            continue  # no token: health, signing in, and signed webhooks
        answer = api.client.request(
            method,
            _valid_path(path, _fill(operation)),
            headers={"authorization": authorization} if authorization else {},
        )
        assert answer.status_code == 401, f"{method} {path}: {answer.status_code}"
        assert answer.headers["content-type"].startswith(PROBLEM_JSON)


def test_a_fault_of_the_platform_is_a_500_problem_without_its_text(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flightdeck.api.routes import session

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("internal detail kim@example.com")

    monkeypatch.setattr(session.sessions, "describe", broken)
    answer = api.get("/v1/me", api.admin)
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith(PROBLEM_JSON)
    problem = answer.json()
    assert problem["status"] == 500
    assert problem["title"] == "Internal error"
    assert "internal detail" not in answer.text
    assert "kim@example.com" not in answer.text
