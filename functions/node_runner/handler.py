"""Runs one node of one run (a Step Functions Task) and answers `{next, interrupt}`.

The engine is imported by the first step, or, with SnapStart, before the snapshot is taken
together with LangGraph, its Postgres checkpointer and the workflows' graphs
(`flightdeck.snapstart`), so a restored environment runs its first node at once.
"""

from __future__ import annotations

from typing import Any

from flightdeck import snapstart
from flightdeck.observability import lambda_handler


@lambda_handler()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from flightdeck.engine.runner import StepRequest
    from flightdeck.services import services

    return services().runner.run(StepRequest.from_event(event)).to_dict()


def warm_up() -> None:
    """Before the snapshot: the engine, the tracer, the AWS SDK, the model providers, LangGraph's
    checkpointer and the workflows' graphs, built. No client is made, no connection opened."""
    import boto3  # noqa: F401
    import langgraph.checkpoint.postgres
    import langgraph.types  # noqa: F401

    import flightdeck.engine.runner
    import flightdeck.llm.factory  # noqa: F401
    from flightdeck.observability import tracer, tracing_disabled
    from flightdeck.services import services

    if not tracing_disabled():
        tracer()
    for workflow in services().registry:
        # Each workflow is a module-level object: its graph outlives the restore's reset.
        _ = workflow.graph


snapstart.prepare(warm_up)
