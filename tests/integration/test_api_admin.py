"""Administration: tokens shown once and revocable, webhook secrets rotated, client tenants
granted to the agency's admins."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from flightdeck import webhooks
from tests.conftest import Platform, load_event
from tests.integration.api_client import Api, api_for


@pytest.fixture
def api(platform: Platform) -> Iterator[Api]:
    with api_for(platform) as a:
        yield a


def test_tokens_are_shown_once_listed_by_prefix_and_revocable(api: Api) -> None:
    issued = api.post("/v1/tokens", api.admin, json={"role": "viewer", "name": "dashboard"})
    assert issued.status_code == 201
    token = issued.json()["token"]
    assert token.startswith(f"fd_{issued.json()['prefix']}_")
    assert api.get("/v1/approvals", token).status_code == 200

    listed = api.get("/v1/tokens", api.admin).json()
    mine = next(t for t in listed if t["id"] == issued.json()["id"])
    assert "token" not in mine
    assert mine["last_used_at"] is not None

    assert (
        api.client.delete(f"/v1/tokens/{mine['id']}", headers=api.headers(api.admin)).status_code
        == 204
    )
    assert api.get("/v1/approvals", token).status_code == 401
    assert (
        api.client.delete(f"/v1/tokens/{mine['id']}", headers=api.headers(api.admin)).status_code
        == 404
    )
    assert api.get("/v1/tokens", api.operator).status_code == 403


def test_webhook_secrets_rotate_without_a_gap(api: Api, platform: Platform) -> None:
    body = json.dumps(load_event("password_ticket")).encode()

    def deliver(secret: str) -> int:
        headers = webhooks.headers(secret, f"msg_{uuid.uuid4()}", body)
        return int(
            api.client.post(
                "/v1/webhooks/support_triage",
                params={"tenant": "demo"},
                content=body,
                headers=headers,
            ).status_code
        )

    new = api.post("/v1/webhook-secrets", api.admin, json={"workflow": "support_triage"}).json()
    # Both the old and the new secret are valid during the rotation …
    assert deliver(platform.webhook_secret) == 202
    assert deliver(new["secret"]) == 202
    old = next(
        s
        for s in api.get("/v1/webhook-secrets", api.admin).json()
        if s["id"] != new["id"] and s["expires_at"] is None
    )
    assert "secret" not in old
    # … until the old one is expired.
    expired = api.client.delete(f"/v1/webhook-secrets/{old['id']}", headers=api.headers(api.admin))
    assert expired.status_code == 204
    assert deliver(platform.webhook_secret) == 401
    assert deliver(new["secret"]) == 202
    unknown = api.post("/v1/webhook-secrets", api.admin, json={"workflow": "nope"})
    assert unknown.status_code == 404


def test_admin_acts_on_granted_client_tenants_only(api: Api, platform: Platform) -> None:
    created = api.post("/v1/tenants", api.admin, json={"slug": "bakery-two", "name": "Bakery 2"})
    assert created.status_code == 201
    client_id = created.json()["id"]
    assert (
        api.post("/v1/tenants", api.admin, json={"slug": "bakery-two", "name": "x"}).status_code
        == 409
    )
    slugs = {t["slug"] for t in api.get("/v1/tenants", api.admin).json()}
    assert slugs == {"demo", "bakery-two"}

    as_client = {"flightdeck-tenant": client_id}
    # The admin issues the client's own viewer token, acting on the granted tenant.
    issued = api.post("/v1/tokens", api.admin, json={"role": "viewer"}, headers=as_client)
    assert issued.status_code == 201
    client_viewer = issued.json()["token"]
    started = api.post(
        "/v1/runs", api.admin, json={"workflow": "flaky", "input": {"value": 3}}, headers=as_client
    )
    run_id = started.json()["run_id"]
    assert api.get(f"/v1/runs/{run_id}", client_viewer).status_code == 200
    # The run is the client's, not the agency's.
    assert api.get(f"/v1/runs/{run_id}", api.admin).status_code == 404
    # An operator may not act for another tenant, nor an admin for an ungranted one.
    assert api.get("/v1/runs", api.operator, headers=as_client).status_code == 403
    stranger = {"flightdeck-tenant": str(uuid.uuid4())}
    assert api.get("/v1/runs", api.admin, headers=stranger).status_code == 403
    assert (
        api.get(
            "/v1/runs", client_viewer, headers={"flightdeck-tenant": str(platform.tenant_id)}
        ).status_code
        == 403
    )
