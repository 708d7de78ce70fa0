"""The approval wait state: stores its task token with the pending request."""

import uuid
from typing import Any

from flightdeck.observability import lambda_handler
from flightdeck.services import services


@lambda_handler()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    services().approvals.register_token(
        tenant_id=uuid.UUID(event["tenant_id"]),
        run_id=uuid.UUID(event["run_id"]),
        approval_id=uuid.UUID(event["approval_id"]),
        task_token=event["task_token"],
        escalate=bool(event.get("escalate", False)),
    )
    return {"approval_id": event["approval_id"]}
