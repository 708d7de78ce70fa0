"""The approval wait state timed out: apply the workflow's default action."""

import uuid
from typing import Any

from flightdeck.observability import lambda_handler
from flightdeck.services import services


@lambda_handler()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return services().approvals.time_out(
        tenant_id=uuid.UUID(event["tenant_id"]),
        run_id=uuid.UUID(event["run_id"]),
        approval_id=uuid.UUID(event["approval_id"]),
    )
