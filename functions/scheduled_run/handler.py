"""EventBridge Scheduler target: starts a scheduled workflow's runs for this firing."""

from typing import Any

from flightdeck.observability import lambda_handler
from flightdeck.services import services


@lambda_handler(correlation_id_path=None)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = services().runs.start_scheduled(
        workflow_name=event["workflow"], scheduled_at=event["scheduled_at"]
    )
    return {"runs": [str(s.run.id) for s in started if s.created]}
