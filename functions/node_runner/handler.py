"""Runs one node of one run (a Step Functions Task) and answers `{next, interrupt}`."""

from typing import Any

from flightdeck.engine.runner import StepRequest
from flightdeck.services import services


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return services().runner.run(StepRequest.from_event(event)).to_dict()
