"""Support triage whose approvals time out after two seconds into the default action."""

from dataclasses import replace

from flightdeck.engine.workflow import ApprovalPolicy, Workflow
from flightdeck.workflows.support_triage import WORKFLOW as TRIAGE

WORKFLOW = Workflow(
    manifest=replace(
        TRIAGE.manifest,
        name="triage_quick_timeout",
        approval=ApprovalPolicy(
            nodes=("decide",), threshold=0.75, timeout_seconds=2, default_action="reject"
        ),
    ),
    graph_factory=TRIAGE.graph_factory,
    input_key=TRIAGE.input_key,
    offline_rules=TRIAGE.offline_rules,
    seed_documents=TRIAGE.seed_documents,
)
