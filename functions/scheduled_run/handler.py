"""EventBridge Scheduler target: starts a scheduled workflow's runs for this firing."""

from typing import Any

from flightdeck.services import services


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = services().runs.start_scheduled(
        workflow_name=event["workflow"], scheduled_at=event["scheduled_at"]
    )
    return {"runs": [str(s.run.id) for s in started if s.created]}
