"""Support triage: classify a ticket, find what the knowledge base says, draft a reply, ask a
person when unsure or when money is involved, send, and score the result."""

from flightdeck.engine.workflow import ApprovalPolicy, Manifest, RetryPolicy, Workflow
from flightdeck.workflows.support_triage.state import TicketInput

WORKFLOW = Workflow(
    manifest=Manifest(
        name="support_triage",
        version="1.0.0",
        description="Triage a support ticket and reply, with a person approving risky replies.",
        input_model=TicketInput,
        kpi_baseline_minutes=12.0,
        review_minutes=2.0,
        # A person answering the inbox by hand replies within about four hours.
        manual_turnaround_minutes=240.0,
        setup_hours=6.0,
        trigger_id_field="ticket_id",
        approval=ApprovalPolicy(
            nodes=("decide",), threshold=0.75, timeout_seconds=4 * 3600, default_action="reject"
        ),
        retry=RetryPolicy(max_attempts=3, interval_seconds=2, backoff_rate=2.0),
        business_events={
            "plan": "ticket triaged",
            "retrieve": "answer researched",
            "decide": "reply drafted",
            "act": "reply sent",
            "reflect": "outcome scored",
        },
    ),
    graph_factory="flightdeck.workflows.support_triage.graph:build_graph",
    input_key="ticket",
    offline_rules="flightdeck.workflows.support_triage.offline:RULES",
    seed_documents="documents",
)
