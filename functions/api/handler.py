"""The HTTP API behind API Gateway: the FastAPI app through Mangum."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from mangum import Mangum

from flightdeck.api.app import create_app
from flightdeck.observability import lambda_handler

_adapter: Mangum | None = None


@lambda_handler(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: Any) -> Any:
    global _adapter
    if _adapter is None:
        _adapter = Mangum(create_app(), lifespan="off")
    return _adapter(event, context)
