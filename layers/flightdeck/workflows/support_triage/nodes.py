"""The five steps. Each takes the state and returns the keys it changes."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from flightdeck.engine.context import NodeContext
from flightdeck.llm.base import ModelRequest
from flightdeck.store.outcomes import Outcome
from flightdeck.workflows.support_triage import prompts
from flightdeck.workflows.support_triage.state import Classification, Draft, Score, TriageState

EDIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"reply": {"type": "string", "minLength": 1, "maxLength": 20000}},
    "required": ["reply"],
    "additionalProperties": False,
}


def plan(state: TriageState, runtime: Runtime[NodeContext]) -> dict[str, Any]:
    ticket = state["ticket"]
    variables = {"subject": ticket["subject"], "body": ticket["body"]}
    result = runtime.context.model.complete(
        ModelRequest(
            task="support_triage.classify",
            system=prompts.SYSTEM,
            prompt=prompts.CLASSIFY.format(**variables),
            schema=Classification,
            variables=variables,
        )
    )
    return {"plan": result.value.model_dump()}


def retrieve(state: TriageState, runtime: Runtime[NodeContext]) -> dict[str, Any]:
    """Search the tenant's documents; keep the passages that share words with the ticket (the
    draft quotes the first), citing each by its chunk id."""
    found = runtime.context.knowledge.search(state["plan"]["search_query"], limit=3)
    return {
        "context": [
            {
                "chunk_id": str(p.chunk_id),
                "document_id": str(p.document_id) if p.document_id else None,
                "source": p.source,
                "title": p.title,
                "body": p.body,
                "score": round(p.score, 4),
            }
            for p in found
            if p.matched_words
        ]
    }


def decide(state: TriageState, runtime: Runtime[NodeContext]) -> dict[str, Any]:
    """Draft a reply; ask a person when unsure or when a refund is asked for.

    On resume LangGraph runs this node again from the top, so everything before `interrupt`
    must be safe to repeat (it is: a deterministic draft, no side effects).
    """
    ticket, plan_ = state["ticket"], state["plan"]
    variables = {
        "subject": ticket["subject"],
        "body": ticket["body"],
        "category": plan_["category"],
        "refund_requested": plan_["refund_requested"],
        "context": [c["title"] + ": " + c["body"] for c in state.get("context", [])],
    }
    result = runtime.context.model.complete(
        ModelRequest(
            task="support_triage.draft",
            system=prompts.SYSTEM,
            prompt=prompts.DRAFT.format(
                **{**variables, "context": "\n".join(variables["context"]) or "(none)"}
            ),
            schema=Draft,
            variables=variables,
        )
    )
    draft = result.value
    policy = runtime.context.manifest.approval
    threshold = policy.threshold if policy else 0.0
    reasons = []
    if draft.confidence < threshold:
        reasons.append(f"confidence {draft.confidence:.2f} is under {threshold:.2f}")
    if plan_["refund_requested"]:
        reasons.append("the customer asks for a refund")
    if not reasons:
        return {
            "draft": draft.model_dump(),
            "review": {"required": False, "decision": "approve", "reply": draft.reply},
        }
    decision = interrupt(
        {
            "kind": "reply_review",
            "summary": f"Review the reply to ticket {ticket['ticket_id']}",
            "reasons": reasons,
            "draft": draft.model_dump(),
            "edit_schema": EDIT_SCHEMA,
        }
    )
    verdict = decision.get("decision", "reject")
    reply = draft.reply
    if verdict == "edit":
        reply = decision["payload"]["reply"]
    return {
        "draft": draft.model_dump(),
        "review": {
            "required": True,
            "reasons": reasons,
            "decision": verdict,
            "decided_by": decision.get("decided_by"),
            "reply": reply if verdict in ("approve", "edit") else None,
        },
    }


def route_after_decide(state: TriageState) -> Literal["act", "reflect"]:
    return "act" if state["review"]["decision"] in ("approve", "edit") else "reflect"


def act(state: TriageState, runtime: Runtime[NodeContext]) -> dict[str, Any]:
    """Queue the reply through the keyed outbox: a retried or replayed act sends it once."""
    ticket = state["ticket"]
    entry_id, created = runtime.context.effects.record(
        key=f"reply:{ticket['ticket_id']}",
        kind="email.reply",
        payload={
            "to": ticket["customer_email"],
            "subject": f"Re: {ticket['subject']}",
            "body": state["review"]["reply"],
        },
    )
    return {"action": {"status": "queued", "outbox_id": entry_id, "first_attempt": created}}


def reflect(state: TriageState, runtime: Runtime[NodeContext]) -> dict[str, Any]:
    """Score the interaction and record the run's before/after snapshot."""
    ctx = runtime.context
    review = state["review"]
    sent = "action" in state
    variables = {
        "subject": state["ticket"]["subject"],
        "reply": review.get("reply") or "",
        "reviewed": review["required"],
        "sent": sent,
        "confidence": state["draft"]["confidence"],
        "decision": review["decision"],
    }
    score = ctx.model.complete(
        ModelRequest(
            task="support_triage.score",
            system=prompts.SYSTEM,
            prompt=prompts.SCORE.format(**variables),
            schema=Score,
            variables=variables,
        )
    ).value
    manifest = ctx.manifest
    # A person's time: none when the reply went out alone, a review when one was asked for,
    # and the whole task when the draft was rejected and a person must answer by hand.
    if not review["required"]:
        staff = 0.0
    elif sent:
        staff = manifest.review_minutes
    else:
        staff = manifest.review_minutes + manifest.kpi_baseline_minutes
    turnaround = (ctx.now() - ctx.run_created_at).total_seconds()
    ctx.outcomes.record(
        Outcome(
            baseline_minutes=manifest.kpi_baseline_minutes,
            staff_minutes=staff,
            turnaround_seconds=turnaround,
            quality_score=score.quality,
            data={"category": state["plan"]["category"], "sent": sent, "notes": score.notes},
        )
    )
    return {
        "reflection": {
            "quality": score.quality,
            "notes": score.notes,
            "staff_minutes": staff,
            "baseline_minutes": manifest.kpi_baseline_minutes,
        }
    }
