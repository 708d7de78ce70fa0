"""What a workflow is: a LangGraph `StateGraph` plus a manifest.

The manifest is plain data (importing it is cheap, so the API can validate triggers without
loading LangGraph); the graph is referenced by import path and built on first use.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from flightdeck import privacy
from flightdeck.errors import WorkflowDefinitionError

if TYPE_CHECKING:
    from langgraph.graph import StateGraph

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
DecisionAction = Literal["approve", "reject"]


@dataclass(frozen=True)
class ApprovalPolicy:
    """When a person must look, how long they have, and what happens if nobody does."""

    # Nodes allowed to call `interrupt()`; each gets a wait-for-task-token state.
    nodes: tuple[str, ...]
    # Confidence under which a draft goes to a person (the workflow's nodes read it).
    threshold: float = 0.8
    timeout_seconds: int = 24 * 3600
    default_action: DecisionAction = "reject"
    # When nobody decides in time: apply `default_action`, or first hand the request to the
    # agency's admins for `escalation_timeout_seconds` more.
    on_timeout: Literal["default_action", "escalate"] = "default_action"
    escalation_timeout_seconds: int = 24 * 3600

    def __post_init__(self) -> None:
        if not self.nodes:
            raise WorkflowDefinitionError("an approval policy names at least one node")
        if not 0.0 <= self.threshold <= 1.0:
            raise WorkflowDefinitionError("approval threshold must be within [0, 1]")
        if self.timeout_seconds < 1 or self.escalation_timeout_seconds < 1:
            raise WorkflowDefinitionError("approval timeouts must be at least one second")


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of a node that raised `TransientError` (Step Functions does the waiting)."""

    max_attempts: int = 3
    interval_seconds: int = 2
    backoff_rate: float = 2.0
    max_delay_seconds: int = 60

    def __post_init__(self) -> None:
        if self.max_attempts < 0 or self.interval_seconds < 1 or self.backoff_rate < 1.0:
            raise WorkflowDefinitionError(
                "retry policy needs max_attempts >= 0, interval_seconds >= 1, backoff_rate >= 1"
            )


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    description: str
    # Validates a trigger's JSON body before a run is created.
    input_model: type[BaseModel]
    # Minutes a person spends on the same task without the workflow: the KPI baseline.
    kpi_baseline_minutes: float
    # Minutes a person spends when the workflow asks for a review.
    review_minutes: float = 2.0
    approval: ApprovalPolicy | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    schedule: str | None = None
    callback_url: str | None = None
    # The agency's effort to set the workflow up for a client, in hours: time to benefit is
    # reached when a tenant's cumulative minutes saved exceed it.
    setup_hours: float = 0.0
    # How long the end customer waits for the same outcome without the workflow (the
    # customer-experience baseline); None when there is no customer waiting.
    manual_turnaround_minutes: float | None = None
    # The trigger field that names the business item (a ticket id, an order number): the
    # run list's search finds runs by it.
    trigger_id_field: str | None = None
    # The business event each node serves, in the client's words ("ticket triaged", "reply
    # sent"): its spans carry it, so a trace reads as what happened to the business. Every
    # span of the node carries it, whatever the node decides: name what always happens.
    business_events: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name):
            raise WorkflowDefinitionError(
                f"workflow name {self.name!r} must match {NAME_PATTERN.pattern}"
            )
        if self.setup_hours < 0 or (
            self.manual_turnaround_minutes is not None and self.manual_turnaround_minutes <= 0
        ):
            raise WorkflowDefinitionError(
                f"{self.name}: setup_hours must be >= 0 and manual_turnaround_minutes > 0"
            )
        # Values under the input model's personal fields are masked wherever they appear.
        personal = privacy.register_personal_model(self.input_model)
        if self.trigger_id_field is not None and self.trigger_id_field in personal:
            # The id is stored in clear beside the run (`runs.trigger_id`) to be searched.
            raise WorkflowDefinitionError(
                f"{self.name}: trigger_id_field {self.trigger_id_field!r} is a personal field"
            )


@dataclass(frozen=True)
class Workflow:
    """A registered workflow. `graph_factory` is "module:function" returning a `StateGraph`."""

    manifest: Manifest
    graph_factory: str
    # The state key the validated trigger is placed under to start a run.
    input_key: str = "input"
    # "module:RULES" mapping task names to the offline provider's rules, if the workflow
    # calls a model.
    offline_rules: str | None = None
    # A folder in the workflow's package whose files (txt, md, html, csv, pdf) demo tenants
    # get as knowledge documents.
    seed_documents: str | None = None

    @property
    def name(self) -> str:
        return self.manifest.name

    def parse_trigger(self, payload: Any) -> dict[str, Any]:
        """The trigger as the run will see it: validated, defaults filled in, JSON-ready.
        Raises pydantic's ValidationError for a payload the workflow does not accept."""
        return self.manifest.input_model.model_validate(payload).model_dump(mode="json")

    def trigger_id(self, trigger: dict[str, Any]) -> str | None:
        """The business id in a parsed trigger (`Manifest.trigger_id_field`), stored with the
        run for the run list's search; None when the workflow names no id field."""
        field_name = self.manifest.trigger_id_field
        value = trigger.get(field_name) if field_name else None
        return None if value is None else str(value)

    def initial_state(self, trigger: Any) -> dict[str, Any]:
        return {self.input_key: trigger}

    def load_offline_rules(self) -> dict[str, Any]:
        if not self.offline_rules:
            return {}
        return dict(_load(self.offline_rules))

    @cached_property
    def graph(self) -> StateGraph[Any, Any, Any, Any]:
        graph = _load(self.graph_factory)()
        unnamed = set(self.manifest.business_events) - set(graph.nodes)
        if unnamed:
            raise WorkflowDefinitionError(
                f"{self.name}: business events name unknown nodes {sorted(unnamed)}"
            )
        approval = self.manifest.approval
        if approval is not None:
            unknown = set(approval.nodes) - set(graph.nodes)
            if unknown:
                raise WorkflowDefinitionError(
                    f"{self.name}: approval policy names unknown nodes {sorted(unknown)}"
                )
        return graph

    def interrupting_nodes(self) -> tuple[str, ...]:
        return self.manifest.approval.nodes if self.manifest.approval else ()


def _load(reference: str) -> Any:
    module_name, _, attr = reference.partition(":")
    return getattr(importlib.import_module(module_name), attr)
