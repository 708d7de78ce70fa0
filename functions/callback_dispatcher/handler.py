"""Scheduled every minute: sends the callbacks that are due, and schedules retries of failures."""

from typing import Any

from flightdeck.observability import lambda_handler
from flightdeck.services import services

# Left of the function's timeout for the attempt in flight (HTTP timeout) and the last write.
SAFETY_MARGIN_SECONDS = 15.0


@lambda_handler(correlation_id_path=None)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    budget = context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_SECONDS
    report = services().callbacks.deliver_due(budget_seconds=max(budget, 0.0))
    return report.to_dict()
