"""The dashboard's sign-in: who a token stands for, one-time links, session tokens, sign-out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flightdeck.store import sessions, tenants
from tests.conftest import Platform
from tests.integration.api_client import Api, api_for


@pytest.fixture
def api(platform: Platform) -> Any:
    with api_for(platform) as a:
        yield a


def test_me_names_the_tenant_and_the_role_of_each_token(api: Api) -> None:
    for token, role in ((api.viewer, "viewer"), (api.operator, "operator"), (api.admin, "admin")):
        me = api.get("/v1/me", token)
        assert me.status_code == 200, me.text
        body = me.json()
        assert body["role"] == role
        assert body["tenant_slug"] == "demo"
        assert body["tenant_id"] == str(api.platform.tenant_id)
        assert token.split("_")[1] == body["token_prefix"]
        assert body["expires_at"] is None
    assert api.client.get("/v1/me").status_code == 401


def test_a_sign_in_link_gives_one_session_with_the_links_role(api: Api) -> None:
    link = api.post("/v1/sign-in-links", api.admin, json={"role": "operator"})
    assert link.status_code == 201, link.text
    code = link.json()["code"]
    assert link.json()["path"] == f"/signin/#code={code}"

    signed_in = api.client.post("/v1/sign-in", json={"code": code})
    assert signed_in.status_code == 200, signed_in.text
    session = signed_in.json()
    assert session["role"] == "operator"
    assert session["tenant_id"] == str(api.platform.tenant_id)
    expires = datetime.fromisoformat(session["expires_at"])
    assert timedelta(hours=11) < expires - datetime.now(UTC) <= timedelta(hours=12)

    me = api.get("/v1/me", session["token"]).json()
    assert me["role"] == "operator"
    assert me["expires_at"] is not None
    # The session token does what its role allows, and no more.
    assert api.get("/v1/runs", session["token"]).status_code == 200
    assert api.get("/v1/tokens", session["token"]).status_code == 403

    again = api.client.post("/v1/sign-in", json={"code": code})
    assert again.status_code == 401
    assert "already used" in again.json()["detail"]


def test_only_an_admin_makes_links_and_links_never_grant_admin(api: Api) -> None:
    assert api.post("/v1/sign-in-links", api.operator, json={}).status_code == 403
    assert api.post("/v1/sign-in-links", api.viewer, json={}).status_code == 403
    assert api.post("/v1/sign-in-links", api.admin, json={"role": "admin"}).status_code == 422
    assert api.post("/v1/sign-in-links", api.admin, json={"ttl_seconds": 5}).status_code == 422
    default = api.post("/v1/sign-in-links", api.admin, json={})
    assert default.json()["role"] == "viewer"


def test_unknown_and_expired_codes_are_refused(api: Api, platform: Platform) -> None:
    assert api.client.post("/v1/sign-in", json={"code": "fdsi_nothing"}).status_code == 401
    with platform.services.connection() as conn, conn.transaction():
        code = sessions.create_code(
            conn, platform.tenant_id, "viewer", timedelta(seconds=60), "test"
        )
        conn.execute(
            "UPDATE sign_in_codes SET expires_at = now() - interval '1 second'"
            " WHERE tenant_id = %s",
            (platform.tenant_id,),
        )
    assert api.client.post("/v1/sign-in", json={"code": code.code}).status_code == 401


def test_an_expired_session_token_is_refused(api: Api, platform: Platform) -> None:
    with platform.services.connection() as conn, conn.transaction():
        issued = tenants.issue_token(
            conn, platform.tenant_id, "viewer", session_until=datetime.now(UTC) + timedelta(hours=1)
        )
    assert api.get("/v1/me", issued.token).status_code == 200
    with platform.services.connection() as conn, conn.transaction():
        conn.execute(
            "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = %s",
            (issued.id,),
        )
    assert api.get("/v1/me", issued.token).status_code == 401


def test_sign_out_ends_a_session_but_not_an_api_token(api: Api) -> None:
    code = api.post("/v1/sign-in-links", api.admin, json={}).json()["code"]
    token = api.client.post("/v1/sign-in", json={"code": code}).json()["token"]
    assert api.post("/v1/sign-out", token).status_code == 204
    assert api.get("/v1/me", token).status_code == 401

    assert api.post("/v1/sign-out", api.viewer).status_code == 204
    assert api.get("/v1/me", api.viewer).status_code == 200


def test_a_link_made_for_a_granted_client_signs_into_that_client(
    api: Api, platform: Platform
) -> None:
    client = api.post(
        "/v1/tenants", api.admin, json={"slug": "acme-dental", "name": "Acme Dental"}
    ).json()
    link = api.post(
        "/v1/sign-in-links", api.admin, json={}, headers={"Flightdeck-Tenant": client["id"]}
    ).json()
    token = api.client.post("/v1/sign-in", json={"code": link["code"]}).json()["token"]
    me = api.get("/v1/me", token).json()
    assert me["tenant_slug"] == "acme-dental"
    assert me["role"] == "viewer"
