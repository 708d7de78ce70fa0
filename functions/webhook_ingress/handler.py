"""`POST /v1/webhooks/{workflow}` on AWS: the dedicated ingress API Gateway invokes for the
webhook route, answering without FastAPI's routing (the rest of the API is `functions/api`).

Same contract as the FastAPI route it stands in for (operation `triggerWebhook` of the OpenAPI
document): the same verification and run start (`flightdeck.engine.intake`), the same answers
(202 with `{run_id, workflow}`, `Idempotent-Replayed: true` on a replay) and the same problem
details for every refusal (`flightdeck.api.problem_details`).

Importing this module builds nothing; with SnapStart the intake's modules and the workflows'
trigger models are imported before the snapshot is taken (`flightdeck.snapstart`), so a restored
environment verifies and stores its first delivery at once.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from flightdeck import snapstart
from flightdeck.observability import lambda_handler

if TYPE_CHECKING:
    from flightdeck.services import Services


def _answer(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def _problem(status: int, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    from flightdeck.api.problem_details import PROBLEM_JSON

    answer = _answer(status, body, headers)
    answer["headers"]["content-type"] = PROBLEM_JSON
    return answer


def answer(event: dict[str, Any], svc: Services) -> dict[str, Any]:
    """The API Gateway (REST, proxy) answer to one delivery."""
    import psycopg

    from flightdeck.api import problem_details
    from flightdeck.engine.intake import SLUG_MAX_LENGTH, WebhookIntake
    from flightdeck.errors import FlightdeckError

    tenant = (event.get("queryStringParameters") or {}).get("tenant")
    if not tenant or len(tenant) > SLUG_MAX_LENGTH:
        # As FastAPI words the query parameter's validation.
        if tenant is None:
            message = "Field required"
        elif not tenant:
            message = "String should have at least 1 character"
        else:
            message = f"String should have at most {SLUG_MAX_LENGTH} characters"
        return _problem(
            422,
            problem_details.body(
                422,
                "Invalid input",
                f"tenant: {message}",
                errors=[{"field": "tenant", "message": message}],
            ),
            {},
        )
    workflow = (event.get("pathParameters") or {}).get("workflow") or event["path"].rsplit("/", 1)[
        -1
    ]
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
    try:
        started = WebhookIntake(
            registry=svc.registry,
            connection=svc.connection,
            secrets=svc.secrets,
            runs=svc.runs,
            max_body_bytes=svc.settings.max_body_bytes,
        ).accept(workflow=workflow, tenant=tenant, headers=headers, body=body)
    except FlightdeckError as exc:
        return _problem(*problem_details.for_error(exc))
    except psycopg.DataError:
        # Values Postgres refuses (a NUL byte, an out-of-range number): the caller's input.
        return _problem(
            422,
            problem_details.body(
                422, "Invalid input", "the input holds a value that cannot be stored"
            ),
            {},
        )
    except Exception:
        # A fault of the platform's: logged whole (masked), answered as the API answers it.
        from flightdeck.observability import logger

        logger.exception("webhook delivery failed", extra={"workflow": workflow})
        return _problem(500, problem_details.unexpected(), {})
    replayed = {} if started.created else {"idempotent-replayed": "true"}
    return _answer(202, {"run_id": str(started.run.id), "workflow": started.run.workflow}, replayed)


@lambda_handler(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from flightdeck.services import services

    return answer(event, services())


def warm_up() -> None:
    """Before the snapshot: the intake, the run start and the problem answers, psycopg, the AWS
    SDK and the workflows (their trigger models). No client is made, no connection opened."""
    import boto3  # noqa: F401
    import psycopg  # noqa: F401

    import flightdeck.api.problem_details
    import flightdeck.engine.intake
    import flightdeck.engine.runs  # noqa: F401
    from flightdeck.observability import tracer, tracing_disabled
    from flightdeck.services import services

    if not tracing_disabled():
        tracer()
    _ = services().registry


snapstart.prepare(warm_up)
