"""Runs one node of one run (a Step Functions Task) and answers `{next, interrupt}`."""

from typing import Any

from flightdeck.engine.runner import StepRequest
from flightdeck.observability import lambda_handler
from flightdeck.services import services


@lambda_handler()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return services().runner.run(StepRequest.from_event(event)).to_dict()
