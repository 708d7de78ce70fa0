"""Property-based fuzzing of the OpenAPI contract, in process: every operation gets generated
requests (valid and invalid); none may answer a server error or anything outside the schema,
and no operation may ignore authentication."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from flightdeck.api.app import create_app
from tests.conftest import Platform
from tests.integration.api_client import Api, api_for

CASES: Counter[str] = Counter()
# Per operation and generation mode (valid, then invalid input).
EXAMPLES_PER_OPERATION = 25
MINIMUM_CASES = 1000
# Paths that answer without a bearer token, and what they answer a request carrying neither a
# token nor what authenticates them instead.
NO_TOKEN = {
    "/healthz": 200,  # public
    "/v1/webhooks/{workflow}": 401,  # webhook signature
    "/v1/sign-in": 422,  # the one-time code is the body; an empty body names what is missing
}


@pytest.fixture
def api(platform: Platform) -> Iterator[Api]:
    with api_for(platform) as a:
        yield a


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_no_server_error_and_no_answer_outside_the_schema(api: Api) -> None:
    contract = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    auth = {"authorization": f"Bearer {api.admin}"}
    for result in contract.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def exercise(case: Any) -> None:
                CASES[f"{case.method} {case.path}"] += 1
                case.call_and_validate(headers=auth, checks=CHECKS)

            try:
                exercise()
            except Unsatisfiable:
                # No invalid input exists for an operation without parameters or body.
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert sum(CASES.values()) >= MINIMUM_CASES, CASES


def test_no_operation_ignores_authentication(api: Api) -> None:
    doc = create_app().openapi()
    for path, ops in doc["paths"].items():
        concrete = path
        for name in ("run_id", "approval_id", "token_id", "secret_id", "delivery_id"):
            concrete = concrete.replace(f"{{{name}}}", "00000000-0000-0000-0000-000000000000")
        concrete = concrete.replace("{workflow}", "support_triage")
        for method in ops:
            response = api.client.request(
                method.upper(), concrete, json={}, params={"tenant": "demo", "format": "csv"}
            )
            if path in NO_TOKEN:
                assert response.status_code == NO_TOKEN[path], f"{method} {path}"
            else:
                assert response.status_code == 401, f"{method} {path}: {response.status_code}"
