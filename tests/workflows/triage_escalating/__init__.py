"""Support triage whose approvals escalate to admins after one second, then take the default
action after two more."""

from dataclasses import replace

from flightdeck.engine.workflow import ApprovalPolicy, Workflow
from flightdeck.workflows.support_triage import WORKFLOW as TRIAGE

WORKFLOW = Workflow(
    manifest=replace(
        TRIAGE.manifest,
        name="triage_escalating",
        approval=ApprovalPolicy(
            nodes=("decide",),
            threshold=0.75,
            timeout_seconds=1,
            default_action="reject",
            on_timeout="escalate",
            escalation_timeout_seconds=30,
        ),
    ),
    graph_factory=TRIAGE.graph_factory,
    input_key=TRIAGE.input_key,
    offline_rules=TRIAGE.offline_rules,
    seed_documents=TRIAGE.seed_documents,
)
