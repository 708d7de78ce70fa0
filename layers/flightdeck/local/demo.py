"""The demo tenant's history, so the dashboard has something to show on the first `make dev`.

Eight weeks of support tickets, written as finished runs at their past times (see
`flightdeck.local.history`), then two live runs through the real engine: one the workflow
answers on its own and one that waits in the approvals inbox. Only a demo tenant without runs
gets any of it; the figures it produces are the platform's own, computed from these rows.
Deterministic: the same seed gives the same history.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flightdeck.local.history import (
    PastAnnotation,
    PastApproval,
    PastNode,
    PastOutcome,
    PastRun,
    record,
)
from flightdeck.store.db import Connection

WORKFLOW = "support_triage"
WEEKS = 8

# (subject, body, category, asks for a refund)
_TICKETS: list[tuple[str, str, str, bool]] = [
    (
        "Where is my parcel?",
        "My package has not arrived yet, can I get the tracking link?",
        "shipping",
        False,
    ),
    (
        "Parcel arrived damaged",
        "The package arrived broken, the cake box was crushed.",
        "shipping",
        False,
    ),
    (
        "Charged twice",
        "My card was charged twice for the same order. Please refund one.",
        "billing",
        True,
    ),
    (
        "Invoice address",
        "Please change the address on my invoice to our new office.",
        "billing",
        False,
    ),
    ("Forgot my password", "I cannot log in and need to reset my password.", "account", False),
    ("Account locked", "My account is locked after failed logins, please help.", "account", False),
    ("App crashes", "The app crashes on start since the last update.", "technical", False),
    (
        "Orders not syncing",
        "My orders do not sync between my phone and laptop.",
        "technical",
        False,
    ),
    ("Opening hours", "Are you open on public holidays?", "general", False),
    (
        "Refund for a late order",
        "The order came two days late, I want my money back.",
        "shipping",
        True,
    ),
]
_NAMES = ["sam", "alex", "maria", "jon", "li", "fatima", "ole", "priya", "tom", "ana", "kofi"]
_COMMENTS = [
    "Good answer, the customer replied with thanks.",
    "Tone a bit formal for this customer.",
    "Linked the right help article.",
    "Customer asked a follow-up about delivery times.",
]
LIVE_TICKETS: list[dict[str, Any]] = [
    {
        "ticket_id": "T-5001",
        "customer_email": "jamie@example.com",
        "subject": "Cannot log in, forgot my password",
        "body": "I forgot my password and my account is locked after failed login attempts."
        " How do I reset the password?",
    },
    {
        "ticket_id": "T-5002",
        "customer_email": "robin@example.com",
        "subject": "Charged twice, I want a refund",
        "body": "My card was charged twice for order 7731. Please refund the duplicate charge.",
    },
]


def _nodes(rng: random.Random, category: str, *, act: bool) -> list[PastNode]:
    retried = rng.random() < 0.06
    found = [
        PastNode("plan", rng.uniform(250, 900)),
        PastNode("retrieve", rng.uniform(30, 160), retries=1 if retried else 0),
        PastNode("decide", rng.uniform(500, 1600) * (1.3 if category == "technical" else 1)),
    ]
    if act:
        found.append(PastNode("act", rng.uniform(25, 90)))
    return [*found, PastNode("reflect", rng.uniform(200, 650))]


def _ticket(rng: random.Random, created: datetime, number: int) -> PastRun:
    subject, body, category, refund = rng.choice(_TICKETS)
    trigger = {
        "ticket_id": f"T-{number}",
        "customer_email": f"{rng.choice(_NAMES)}{rng.randint(1, 99)}@example.com",
        "subject": subject,
        "body": body,
    }
    base: dict[str, Any] = {
        "workflow": WORKFLOW,
        "workflow_version": "1.0.0",
        "created_at": created,
        "trigger": trigger,
    }
    draw = rng.random()
    if draw < 0.015:
        # An operator stopped it: the customer had already been answered by phone.
        return PastRun(
            status="cancelled",
            nodes=[PastNode("plan", rng.uniform(250, 900)), PastNode("retrieve", 80)],
            duration=timedelta(minutes=rng.uniform(2, 20)),
            annotations=[PastAnnotation("comment", body="Answered by phone, run cancelled.")],
            **base,
        )
    if draw < 0.05:
        return PastRun(
            status="failed",
            nodes=[
                PastNode("plan", rng.uniform(250, 900)),
                PastNode(
                    "retrieve",
                    rng.uniform(30, 160),
                    retries=2,
                    failed=True,
                    error="TransientError: the knowledge search timed out",
                ),
            ],
            duration=timedelta(seconds=rng.uniform(20, 40)),
            **base,
        )
    needs_person = refund or rng.random() < 0.18
    annotations: list[PastAnnotation] = []
    if not needs_person:
        duration = timedelta(seconds=rng.uniform(4, 25))
        quality = rng.uniform(0.78, 0.97)
        outcome = PastOutcome(12.0, 0.0, duration.total_seconds(), quality, {"category": category})
        if rng.random() < 0.12:
            annotations.append(PastAnnotation("label", label="cx:delighted"))
        return PastRun(
            status="succeeded",
            nodes=_nodes(rng, category, act=True),
            duration=duration,
            outcome=outcome,
            annotations=annotations,
            **base,
        )
    draw = rng.random()
    verdict = "approved" if draw < 0.72 else "edited" if draw < 0.88 else "rejected"
    waited = timedelta(minutes=rng.uniform(6, 150))
    draft = f'Hello, thank you for contacting us about "{subject}". We are looking into it.'
    approval = PastApproval(
        node="decide",
        outcome=verdict,  # type: ignore[arg-type]
        request={
            "kind": "reply_review",
            "summary": f"Review the reply to ticket {trigger['ticket_id']}",
            "reasons": ["the customer asks for a refund"] if refund else ["low confidence"],
            "draft": {"reply": draft, "confidence": round(rng.uniform(0.5, 0.8), 2)},
        },
        waited=waited,
        edited={"reply": draft + " A colleague will follow up with you personally today."}
        if verdict == "edited"
        else None,
    )
    sent = verdict != "rejected"
    duration = waited + timedelta(seconds=rng.uniform(5, 30))
    staff = 2.0 if sent else 14.0
    quality = rng.uniform(0.7, 0.95) if sent else rng.uniform(0.3, 0.6)
    if rng.random() < 0.3:
        annotations.append(PastAnnotation("score", score=round(rng.uniform(0.6, 1.0), 2)))
    if rng.random() < 0.2:
        annotations.append(
            PastAnnotation("score", score=round(rng.uniform(0.5, 1.0), 2), metric="cx")
        )
    if rng.random() < 0.15:
        annotations.append(PastAnnotation("comment", body=rng.choice(_COMMENTS)))
    if waited > timedelta(hours=2):
        annotations.append(PastAnnotation("label", label="cx:slow-reply"))
    return PastRun(
        status="succeeded",
        nodes=_nodes(rng, category, act=sent),
        duration=duration,
        approval=approval,
        outcome=PastOutcome(12.0, staff, duration.total_seconds(), quality, {"category": category}),
        annotations=annotations,
        **base,
    )


def history(now: datetime, seed: int = 7) -> list[PastRun]:
    """About eight weeks of tickets up to `now`: a few a day, more on weekdays, in office
    hours, growing as the client sends more of its inbox through the workflow."""
    rng = random.Random(seed)  # noqa: S311 - a repeatable demo, not a secret
    start = (now - timedelta(weeks=WEEKS)).replace(hour=0, minute=0, second=0, microsecond=0)
    found: list[PastRun] = []
    number = 3000
    for day in range(WEEKS * 7):
        date = start + timedelta(days=day)
        weekday = date.weekday() < 5
        growth = 1 + day / (WEEKS * 7)
        count = round(rng.uniform(3, 7) * growth) if weekday else rng.randint(0, 2)
        for _ in range(count):
            created = date + timedelta(hours=rng.uniform(8, 18))
            if created >= now - timedelta(hours=1):
                continue
            number += 1
            found.append(_ticket(rng, created, number))
    return sorted(found, key=lambda r: r.created_at)


def has_runs(conn: Connection, tenant_id: uuid.UUID) -> bool:
    row = conn.execute("SELECT 1 FROM runs WHERE tenant_id = %s LIMIT 1", (tenant_id,)).fetchone()
    return row is not None


def seed_history(conn: Connection, tenant_id: uuid.UUID, now: datetime | None = None) -> int:
    """Write the history into a tenant-scoped transaction; returns how many runs."""
    past = history(now or datetime.now(UTC))
    for run in past:
        record(conn, tenant_id, run)
    return len(past)


def start_live_runs(svc: Any, tenant_id: uuid.UUID) -> list[uuid.UUID]:
    """Two runs through the engine: one answers on its own, one waits for a person."""
    started = []
    for ticket in LIVE_TICKETS:
        result = svc.runs.start(
            tenant_id=tenant_id,
            workflow_name=WORKFLOW,
            payload=ticket,
            idempotency_key=f"demo:{ticket['ticket_id']}",
            source="api",
        )
        started.append(result.run.id)
    return started
