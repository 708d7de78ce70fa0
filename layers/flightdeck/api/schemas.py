"""Request and response bodies of the API (the OpenAPI document is generated from these)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from flightdeck.store import approvals


class RunAccepted(BaseModel):
    run_id: uuid.UUID
    status: str
    duplicate: bool


class EventOut(BaseModel):
    id: int
    type: str
    node: str | None
    attempt: int | None
    duration_ms: float | None
    error_type: str | None
    error_message: str | None
    data: dict[str, Any]
    created_at: datetime


class ApprovalOut(BaseModel):
    id: uuid.UUID
    run_id: uuid.UUID
    node: str
    status: str
    request: Any
    decision: dict[str, Any] | None
    decided_by: str | None
    decided_at: datetime | None
    expires_at: datetime
    created_at: datetime

    @classmethod
    def of(cls, a: approvals.Approval) -> ApprovalOut:
        return cls(
            id=a.id,
            run_id=a.run_id,
            node=a.node,
            status=a.status,
            request=a.request,
            decision=a.decision,
            decided_by=a.decided_by,
            decided_at=a.decided_at,
            expires_at=a.expires_at,
            created_at=a.created_at,
        )


class OutcomeOut(BaseModel):
    baseline_minutes: float
    staff_minutes: float
    minutes_saved: float
    turnaround_seconds: float
    quality_score: float
    data: dict[str, Any]


class OutboxOut(BaseModel):
    key: str
    kind: str
    node: str
    status: str
    created_at: datetime


class RunOut(BaseModel):
    id: uuid.UUID
    workflow: str
    workflow_version: str
    status: str
    trigger_source: str
    idempotency_key: str
    current_node: str | None
    error_type: str | None
    error_message: str | None
    failed_node: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    events: list[EventOut]
    approvals: list[ApprovalOut]
    outcome: OutcomeOut | None
    effects: list[OutboxOut]


class DecisionIn(BaseModel):
    decision: Literal["approve", "reject", "edit"]
    payload: Any = None
    comment: str | None = Field(default=None, max_length=2000)


class DecisionOut(BaseModel):
    approval_id: uuid.UUID
    run_id: uuid.UUID
    status: str


class Health(BaseModel):
    status: str
    version: str
