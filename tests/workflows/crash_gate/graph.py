from __future__ import annotations

import time
from pathlib import Path
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from flightdeck.engine.context import NodeContext
from flightdeck.errors import TransientError

# A node never waits longer than this for its gate (a test that forgot to open it fails).
LONGEST_WAIT_SECONDS = 120.0


class State(TypedDict, total=False):
    order: dict[str, Any]
    prepared: bool
    held: bool
    shipment: dict[str, Any]
    done: bool


def is_open(gate: str) -> bool:
    return (Path(gate) / "open").exists()


def prepare(state: State) -> dict[str, Any]:
    return {"prepared": True}


def hold(state: State) -> dict[str, Any]:
    order = state["order"]
    if order["mode"] == "between" and not is_open(order["gate"]):
        raise TransientError("the gate is closed")
    return {"held": True}


def act(state: State, runtime: Runtime[NodeContext]) -> dict[str, Any]:
    """Queue the shipment through the keyed outbox; in `inside` mode, then wait for the gate
    (inside the runner's transaction, as a slow integration call would)."""
    order = state["order"]
    entry_id, created = runtime.context.effects.record(
        key=f"ship:{order['order']}", kind="shipment", payload={"order": order["order"]}
    )
    if order["mode"] == "inside":
        gate = Path(order["gate"])
        (gate / f"{runtime.context.run_id}.inside").touch()
        deadline = time.monotonic() + LONGEST_WAIT_SECONDS
        while not is_open(order["gate"]):
            if time.monotonic() > deadline:
                raise RuntimeError("the gate was never opened")
            time.sleep(0.05)
    return {"shipment": {"outbox_id": entry_id, "first_attempt": created}}


def finish(state: State) -> dict[str, Any]:
    return {"done": True}


def build_graph() -> StateGraph[Any, Any, Any, Any]:
    graph = StateGraph(State, context_schema=NodeContext)
    graph.add_node("prepare", prepare)
    graph.add_node("hold", hold)
    graph.add_node("act", act)
    graph.add_node("finish", finish)
    graph.add_edge(START, "prepare")
    graph.add_edge("prepare", "hold")
    graph.add_edge("hold", "act")
    graph.add_edge("act", "finish")
    graph.add_edge("finish", END)
    return graph
