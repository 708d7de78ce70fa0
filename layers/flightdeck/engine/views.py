"""Read models: what a client sees of a run, derived from its workflow graph and events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from flightdeck.engine.compiler import analyse
from flightdeck.engine.workflow import Workflow
from flightdeck.store import runs

NodeStatus = Literal["pending", "running", "waiting", "succeeded", "failed", "stopped", "skipped"]


@dataclass
class NodeView:
    name: str
    status: NodeStatus = "pending"
    attempts: int = 0
    duration_ms: float | None = None
    error_type: str | None = None
    error_message: str | None = None


@dataclass
class GraphView:
    entry: str
    nodes: list[NodeView]
    edges: list[dict[str, Any]] = field(default_factory=list)


def graph_view(workflow: Workflow, run: runs.Run, events: list[runs.RunEvent]) -> GraphView:
    """Each node's status in this run: entered, finished, failed, waiting on a person, stopped
    (the run was cancelled while the node ran or waited), or never reached (`skipped` once the
    run has ended, `pending` while it may still get there)."""
    entry, successors = analyse(workflow)
    by_name = {name: NodeView(name) for name in successors}
    for event in events:
        view = by_name.get(event.node or "")
        if view is None:
            continue
        if event.type == runs.NODE_ENTERED:
            view.attempts += 1
            view.status = "running"
        elif event.type == runs.NODE_SUCCEEDED:
            view.status = "succeeded"
            view.duration_ms = event.duration_ms
            view.error_type = view.error_message = None
        elif event.type == runs.NODE_INTERRUPTED:
            view.status = "waiting"
            view.duration_ms = event.duration_ms
        elif event.type == runs.NODE_FAILED:
            view.status = "failed"
            view.duration_ms = event.duration_ms
            view.error_type, view.error_message = event.error_type, event.error_message
    if run.status in runs.TERMINAL:
        for view in by_name.values():
            if view.status == "pending":
                view.status = "skipped"
            elif view.status in ("running", "waiting"):
                view.status = "failed" if run.status == "failed" else "stopped"
    edges = [
        {"source": name, "target": target, "conditional": len(targets) > 1}
        for name, targets in successors.items()
        for target in targets
    ]
    edges.insert(0, {"source": "__start__", "target": entry, "conditional": False})
    return GraphView(entry=entry, nodes=list(by_name.values()), edges=edges)
