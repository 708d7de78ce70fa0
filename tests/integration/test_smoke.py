from tests.conftest import Platform, load_event


def test_smoke(platform: Platform) -> None:
    run_id = platform.start("support_triage", load_event("refund_ticket"))
    approval = platform.pending_approval(run_id)
    print(approval)
    platform.services.approvals.decide(tenant_id=platform.tenant_id, approval_id=approval.id, decision="approve", payload=None, decided_by="test")
    run = platform.wait_status(run_id, "succeeded", "failed")
    for e in platform.events(run_id):
        print(e.type, e.node, e.duration_ms, e.error_type, e.error_message)
    assert run.status == "succeeded"
