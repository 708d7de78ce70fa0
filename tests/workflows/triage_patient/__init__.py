"""Support triage that retries a failed node up to 16 times, a second apart: more than a test
that cuts off its database connections a bounded number of times can exhaust."""

from dataclasses import replace

from flightdeck.engine.workflow import RetryPolicy, Workflow
from flightdeck.workflows.support_triage import WORKFLOW as TRIAGE

WORKFLOW = Workflow(
    manifest=replace(
        TRIAGE.manifest,
        name="triage_patient",
        retry=RetryPolicy(max_attempts=16, interval_seconds=1, backoff_rate=1.0),
    ),
    graph_factory=TRIAGE.graph_factory,
    input_key=TRIAGE.input_key,
    offline_rules=TRIAGE.offline_rules,
    seed_documents=TRIAGE.seed_documents,
)
