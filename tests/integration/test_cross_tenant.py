"""Three tenants, every operation, swapped ids and tokens: nothing one tenant does reads or
changes another's data."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from flightdeck import webhooks
from flightdeck.store import tenants
from tests.conftest import Platform, load_event
from tests.integration.api_client import Api, api_for

ZERO = "00000000-0000-0000-0000-000000000000"


@dataclass
class Tenant:
    slug: str
    id: uuid.UUID
    admin: str
    secret: str
    waiting_run: str = ""
    failed_run: str = ""
    approval: str = ""
    annotation: str = ""
    token_id: str = ""
    secret_id: str = ""
    delivery: str = ""
    ids: set[str] = field(default_factory=set)


@pytest.fixture
def api(platform: Platform) -> Iterator[Api]:
    with api_for(platform) as a:
        yield a


def populate(api: Api, t: Tenant) -> None:
    """A run waiting for approval (with its callback delivery), a failed run, an annotation,
    a token and a webhook secret, all made through the API with the tenant's own token."""
    put = api.client.put(
        "/v1/workflows/support_triage/callback",
        headers=api.headers(t.admin),
        json={"url": "http://127.0.0.1:9/callbacks"},
    )
    assert put.status_code in (200, 201), put.text
    t.waiting_run = api.post(
        "/v1/runs",
        t.admin,
        json={"workflow": "support_triage", "input": load_event("refund_ticket")},
    ).json()["run_id"]
    t.failed_run = api.post(
        "/v1/runs", t.admin, json={"workflow": "broken", "input": {"order": t.slug}}
    ).json()["run_id"]
    api.platform.wait_status(uuid.UUID(t.failed_run), "failed", tenant_id=t.id)
    approval = api.platform.pending_approval(uuid.UUID(t.waiting_run), tenant_id=t.id)
    t.approval = str(approval.id)
    t.annotation = api.post(
        f"/v1/runs/{t.failed_run}/annotations", t.admin, json={"kind": "comment", "body": t.slug}
    ).json()["id"]
    t.token_id = api.post("/v1/tokens", t.admin, json={"role": "viewer"}).json()["id"]
    t.secret_id = api.post("/v1/webhook-secrets", t.admin, json={}).json()["id"]
    detail = api.get(f"/v1/runs/{t.waiting_run}", t.admin).json()
    t.delivery = detail["deliveries"][0]["id"]
    t.ids = {t.waiting_run, t.failed_run, t.approval, t.annotation, t.token_id, t.secret_id}


def test_no_operation_crosses_a_tenant(api: Api, platform: Platform) -> None:
    everyone = [
        Tenant("demo", platform.tenant_id, api.admin, platform.webhook_secret),
    ]
    with platform.services.connection() as conn, conn.transaction():
        for slug in ("bravo", "charlie"):
            created = tenants.create_tenant(conn, slug, slug.title())
            admin = tenants.issue_token(conn, created.id, "admin").token
            everyone.append(Tenant(slug, created.id, admin, ""))
    for t in everyone[1:]:
        t.secret = api.post("/v1/webhook-secrets", t.admin, json={}).json()["secret"]
    for t in everyone:
        populate(api, t)

    for me in everyone:
        for other in everyone:
            if other is me:
                continue
            h = api.headers(me.admin)
            run, failed = other.waiting_run, other.failed_run
            # Addressed by the other tenant's ids: not found, whatever the verb.
            addressed = [
                ("GET", f"/v1/runs/{run}", None),
                ("POST", f"/v1/runs/{run}/cancel", None),
                ("POST", f"/v1/runs/{failed}/redrive", None),
                ("POST", f"/v1/runs/{failed}/rerun", None),
                ("GET", f"/v1/runs/{failed}/annotations", None),
                ("POST", f"/v1/runs/{failed}/annotations", {"kind": "comment", "body": "x"}),
                ("GET", f"/v1/approvals/{other.approval}", None),
                ("POST", f"/v1/approvals/{other.approval}/decision", {"decision": "approve"}),
                ("DELETE", f"/v1/tokens/{other.token_id}", None),
                ("DELETE", f"/v1/webhook-secrets/{other.secret_id}", None),
                ("POST", f"/v1/callbacks/{other.delivery}/redeliver", None),
            ]
            for method, path, body in addressed:
                answer = api.client.request(method, path, headers=h, json=body)
                assert answer.status_code == 404, (me.slug, method, path, answer.status_code)
            # Lists and exports show only the caller's own rows.
            for path in (
                "/v1/runs",
                "/v1/approvals",
                "/v1/annotations/export?format=jsonl",
                "/v1/tokens",
                "/v1/webhook-secrets",
            ):
                text = api.client.get(path, headers=h).text
                assert not any(i in text for i in other.ids), (me.slug, path)
            # Acting as the other tenant is refused without a grant.
            as_other = {**h, "flightdeck-tenant": str(other.id)}
            assert api.client.get("/v1/runs", headers=as_other).status_code == 403
            # The caller's webhook secret does not sign for the other tenant.
            raw = json.dumps(load_event("password_ticket")).encode()
            signed = webhooks.headers(me.secret, f"msg_{uuid.uuid4()}", raw)
            answer = api.client.post(
                "/v1/webhooks/support_triage",
                params={"tenant": other.slug},
                content=raw,
                headers=signed,
            )
            assert answer.status_code == 401
        # Bulk actions only reach the caller's own runs.
        api.post("/v1/runs/bulk", me.admin, json={"action": "retry", "filter": {}})

    # Nothing of anyone was changed by anyone else.
    for t in everyone:
        waiting = api.get(f"/v1/runs/{t.waiting_run}", t.admin).json()
        assert waiting["status"] == "waiting_for_approval", t.slug
        assert waiting["approvals"][0]["status"] == "pending"
        assert [
            a["body"] for a in api.get(f"/v1/runs/{t.failed_run}/annotations", t.admin).json()
        ] == [t.slug]
        tokens = {x["id"]: x for x in api.get("/v1/tokens", t.admin).json()}
        assert tokens[t.token_id]["revoked_at"] is None
        secrets = {x["id"]: x for x in api.get("/v1/webhook-secrets", t.admin).json()}
        assert secrets[t.secret_id]["expires_at"] is None
        runs = api.get("/v1/runs", t.admin, params={"limit": 200}).json()["items"]
        assert {r["workflow"] for r in runs} <= {"support_triage", "broken"}
        reruns = [r for r in runs if r["rerun_of"]]
        assert reruns == [], t.slug
        # Each tenant's bulk retry redrove its own failed run, once; nobody else's did.
        failed = api.get(f"/v1/runs/{t.failed_run}", t.admin).json()
        assert [e["type"] for e in failed["events"]].count("run.redriven") == 1, t.slug
