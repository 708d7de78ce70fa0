"""Three nodes; the middle one fails transiently on its first two attempts of each run."""

from pydantic import BaseModel

from flightdeck.engine.workflow import Manifest, RetryPolicy, Workflow


class FlakyInput(BaseModel):
    value: int = 1
    # Set when a schedule starts the run.
    scheduled_at: str | None = None


WORKFLOW = Workflow(
    manifest=Manifest(
        name="flaky",
        version="1.0.0",
        description="fails transiently, then succeeds",
        input_model=FlakyInput,
        kpi_baseline_minutes=1.0,
        retry=RetryPolicy(max_attempts=3, interval_seconds=1, backoff_rate=1.0),
    ),
    graph_factory="tests.workflows.flaky.graph:build_graph",
    input_key="value",
)
