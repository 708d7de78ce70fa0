"""Four nodes whose progress a test holds at a gate (a directory; the gate is open once it
holds a file named `open`), so that a crash lands where the test wants it: `mode="inside"`
blocks in `act` after it queued its effect, `mode="between"` fails `hold` transiently, leaving
Step Functions waiting to retry with no node running."""

from typing import Literal

from pydantic import BaseModel

from flightdeck.engine.workflow import Manifest, RetryPolicy, Workflow


class GateInput(BaseModel):
    order: str
    gate: str
    mode: Literal["inside", "between"]


WORKFLOW = Workflow(
    manifest=Manifest(
        name="crash_gate",
        version="1.0.0",
        description="held at a gate so a crash lands inside or between nodes",
        input_model=GateInput,
        kpi_baseline_minutes=1.0,
        # Retried for as long as a test keeps the gate closed.
        retry=RetryPolicy(max_attempts=60, interval_seconds=5, backoff_rate=1.0),
    ),
    graph_factory="tests.workflows.crash_gate.graph:build_graph",
    input_key="order",
)
