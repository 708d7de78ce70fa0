"""One node, started by a schedule: the deployed stacks give it an EventBridge Scheduler
schedule that invokes the scheduled-run function."""

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from flightdeck.engine.workflow import Manifest, Workflow

SCHEDULE = "cron(0 6 * * ? *)"


class DigestInput(BaseModel):
    scheduled_at: str


class State(TypedDict, total=False):
    firing: dict[str, Any]
    summary: str


def summarize(state: State) -> dict[str, Any]:
    return {"summary": f"digest for {state['firing']['scheduled_at']}"}


def build_graph() -> StateGraph[Any, Any, Any, Any]:
    graph = StateGraph(State)
    graph.add_node("summarize", summarize)
    graph.add_edge(START, "summarize")
    graph.add_edge("summarize", END)
    return graph


WORKFLOW = Workflow(
    manifest=Manifest(
        name="nightly_digest",
        version="1.0.0",
        description="a scheduled one-node digest",
        input_model=DigestInput,
        kpi_baseline_minutes=5.0,
        schedule=SCHEDULE,
    ),
    graph_factory="tests.workflows.nightly_digest:build_graph",
    input_key="firing",
)
