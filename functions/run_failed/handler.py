"""The state machine's failure state: records the reason and ends the run as failed."""

import uuid
from typing import Any

from flightdeck.observability import lambda_handler
from flightdeck.services import services


@lambda_handler()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run_id = uuid.UUID(event["run_id"])
    services().runs.record_failure(
        tenant_id=uuid.UUID(event["tenant_id"]), run_id=run_id, error=event.get("error") or {}
    )
    return {"run_id": str(run_id)}
