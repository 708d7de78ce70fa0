"""Signing secrets in Secrets Manager (the emulator's): webhooks verify with them, rotation
keeps the old secret for its overlap, a revoked secret refuses at once, and the move from
Postgres keeps every existing secret working."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.exceptions import EndpointConnectionError

from flightdeck import webhooks
from flightdeck.engine.callbacks import CallbackDispatcher
from flightdeck.store import callbacks as callback_store
from flightdeck.store import migrate as migrations
from flightdeck.store import tenants
from flightdeck.store.db import connect, scoped
from flightdeck.store.secrets import SecretStore
from flightdeck.store.secrets_move import move_secrets
from functions.migrate.handler import handler as migrate_handler
from tests.conftest import Platform, lambda_context, load_event, wait_for
from tests.integration.api_client import Api, api_for

BODY = json.dumps(load_event("password_ticket")).encode()


@pytest.fixture
def api(platform: Platform) -> Iterator[Api]:
    with api_for(platform) as a:
        yield a


def deliver(api: Api, secret: str, workflow: str = "support_triage") -> int:
    headers = webhooks.headers(secret, f"msg_{uuid.uuid4()}", BODY)
    answer = api.client.post(
        f"/v1/webhooks/{workflow}", params={"tenant": "demo"}, content=BODY, headers=headers
    )
    return int(answer.status_code)


def stored_versions(platform: Platform, name: str) -> dict[str, Any]:
    """What Secrets Manager itself holds, read past every cache."""
    value = platform.emulator.client("secretsmanager").get_secret_value(SecretId=name)
    return dict(json.loads(value["SecretString"])["versions"])


def expire(api: Api, secret_id: str, grace_seconds: int = 0) -> int:
    answer = api.client.delete(
        f"/v1/webhook-secrets/{secret_id}",
        params={"grace_seconds": grace_seconds},
        headers=api.headers(api.admin),
    )
    return int(answer.status_code)


def demo_secret_id(api: Api) -> str:
    (only,) = api.get("/v1/webhook-secrets", api.admin).json()
    return str(only["id"])


def plaintext_rows(database_url: str) -> int:
    """Rows of any secrets table still holding secret material in a column."""
    with connect(database_url) as owner:
        row = owner.execute(
            "SELECT (SELECT count(*) FROM webhook_secrets WHERE secret IS NOT NULL)"
            " + (SELECT count(*) FROM callback_endpoints"
            "    WHERE secret IS NOT NULL OR previous_secret IS NOT NULL)"
            " + (SELECT count(*) FROM callback_secrets"
            "    WHERE secret IS NOT NULL OR previous_secret IS NOT NULL) AS n"
        ).fetchone()
    assert row is not None
    return int(row["n"])


def test_a_webhook_verifies_with_its_secret_in_secrets_manager_and_postgres_keeps_none(
    api: Api, platform: Platform, database_url: str
) -> None:
    created = api.post("/v1/webhook-secrets", api.admin, json={"workflow": "support_triage"})
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]

    assert deliver(api, secret) == 202
    assert deliver(api, platform.webhook_secret) == 202
    # The secret is in Secrets Manager, under the tenant's name prefix and the workflow's scope
    prefix = platform.services.settings.secrets_prefix
    name = f"{prefix}{platform.tenant_id}/webhook/support_triage"
    assert stored_versions(platform, name)[created.json()["id"]]["secret"] == secret
    # and Postgres holds its metadata only: no plaintext column anywhere, a short prefix listed
    assert plaintext_rows(database_url) == 0
    listed = {s["id"]: s for s in api.get("/v1/webhook-secrets", api.admin).json()}
    assert listed[created.json()["id"]]["prefix"] == secret[:10]
    # A secret scoped to one workflow signs for that workflow only
    assert deliver(api, secret, workflow="broken") == 401


def test_the_warm_webhook_path_makes_no_secrets_manager_call(
    api: Api, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = platform.services.secrets
    client = store.provider.client
    calls: list[str] = []
    real = client.get_secret_value

    def counted(**kwargs: Any) -> Any:
        calls.append(kwargs["SecretId"])
        return real(**kwargs)

    monkeypatch.setattr(client, "get_secret_value", counted)
    store.provider.clear_cache()

    # When twenty webhooks arrive in one process
    for _ in range(20):
        assert deliver(api, platform.webhook_secret) == 202

    # Then Secrets Manager was read once, for the first; the cache served the rest
    assert len(calls) == 1


def test_a_rotated_webhook_secret_verifies_for_its_overlap_then_refuses(
    api: Api, platform: Platform
) -> None:
    old_id = demo_secret_id(api)
    new = api.post("/v1/webhook-secrets", api.admin, json={}).json()

    # When the old secret is given a two-second overlap
    assert expire(api, old_id, grace_seconds=2) == 204

    # Then both verify inside the window …
    assert deliver(api, platform.webhook_secret) == 202
    assert deliver(api, new["secret"]) == 202
    name = f"{platform.services.settings.secrets_prefix}{platform.tenant_id}/webhook/_all"
    assert stored_versions(platform, name)[old_id]["expires_at"] is not None
    # … and after it, only the new one
    wait_for(lambda: deliver(api, platform.webhook_secret) == 401, timeout=15, every=0.5)
    assert deliver(api, new["secret"]) == 202


def test_a_revoked_webhook_secret_refuses_at_once_even_where_it_is_cached(
    api: Api, platform: Platform
) -> None:
    # Given another process whose cache holds the demo secret for an hour
    other = SecretStore(
        platform.emulator.client("secretsmanager"),
        prefix=platform.services.settings.secrets_prefix,
        max_age=3600,
    )

    def other_process_accepts() -> list[str]:
        with platform.services.connection() as conn:
            _, found = tenants.webhook_secrets_for_slug(conn, other, "demo", "support_triage")
        return found

    assert other_process_accepts() == [platform.webhook_secret]
    assert deliver(api, platform.webhook_secret) == 202
    secret_id = demo_secret_id(api)

    # When an admin revokes it
    assert expire(api, secret_id) == 204

    # Then it refuses here and in the other process at once, and its material is gone
    assert deliver(api, platform.webhook_secret) == 401
    assert other_process_accepts() == []
    name = f"{platform.services.settings.secrets_prefix}{platform.tenant_id}/webhook/_all"
    assert secret_id not in stored_versions(platform, name)
    assert expire(api, secret_id) == 404


class Captured:
    """An HTTP receiver inside the test: records each callback and answers the script."""

    def __init__(self, *statuses: int) -> None:
        self.script = list(statuses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.script.pop(0) if self.script else 200)

    def verify(self, index: int, *secrets: str) -> str:
        request = self.requests[index]
        return webhooks.verify(secrets, request.headers, request.content)


def dispatcher_to(platform: Platform, receiver: Captured) -> CallbackDispatcher:
    return CallbackDispatcher(
        registry=platform.services.registry,
        connection=platform.services.connection,
        secrets=platform.services.secrets,
        http=httpx.Client(transport=httpx.MockTransport(receiver)),
    )


def test_a_rotated_callback_secret_signs_beside_the_new_one_for_the_overlap_only(
    api: Api, platform: Platform
) -> None:
    url = "http://receiver.test/hook"
    first = api.client.put(
        "/v1/workflows/broken/callback", json={"url": url}, headers=api.headers(api.admin)
    ).json()["secret"]
    rotated = api.client.put(
        "/v1/workflows/broken/callback",
        json={"url": url, "rotate_secret": True},
        headers=api.headers(api.admin),
    ).json()["secret"]
    receiver = Captured(503)
    dispatcher = dispatcher_to(platform, receiver)
    run_id = platform.start("broken", {"order": "X"})
    platform.wait_status(run_id, "failed")

    # Inside the overlap the delivery carries both signatures
    now = datetime.now(UTC)
    assert len(dispatcher.deliver_due(now=now).retrying) == 1
    receiver.verify(0, rotated)
    receiver.verify(0, first)

    # After it (24 h by default), only the new secret signs the retry
    overlap = timedelta(seconds=platform.services.settings.secret_rotation_overlap_seconds)
    assert len(dispatcher.deliver_due(now=now + overlap + timedelta(hours=1)).delivered) == 1
    receiver.verify(1, rotated)
    with pytest.raises(webhooks.WebhookVerificationError):
        receiver.verify(1, first)
    assert len(receiver.requests[1].headers["webhook-signature"].split(" ")) == 1


def test_moving_plaintext_secrets_keeps_every_one_working(
    api: Api, platform: Platform, database_url: str
) -> None:
    # Given secrets kept the old way, in plaintext columns: from before migration 0012, and
    # written after it by code not updated yet (which knows nothing of the new columns)
    legacy = {k: tenants.new_webhook_secret() for k in ("all", "wf", "cb", "cb_old", "default")}
    tenant = platform.tenant_id
    with connect(database_url) as owner, scoped(owner, tenant):
        owner.execute(
            "INSERT INTO webhook_secrets (id, tenant_id, workflow, secret, secret_prefix)"
            " VALUES (%s, %s, NULL, %s, left(%s, 10))",
            (uuid.uuid4(), tenant, legacy["all"], legacy["all"]),
        )
        owner.execute(
            "INSERT INTO webhook_secrets (id, tenant_id, workflow, secret)"
            " VALUES (%s, %s, 'support_triage', %s)",
            (uuid.uuid4(), tenant, legacy["wf"]),
        )
        owner.execute(
            "INSERT INTO callback_endpoints (id, tenant_id, workflow, url, secret,"
            " previous_secret, previous_secret_expires_at, secret_prefix)"
            " VALUES (%s, %s, 'broken', 'http://receiver.test/hook', %s, %s,"
            " now() + interval '1 hour', left(%s, 10))",
            (uuid.uuid4(), tenant, legacy["cb"], legacy["cb_old"], legacy["cb"]),
        )
        owner.execute(
            "INSERT INTO callback_secrets (tenant_id, secret) VALUES (%s, %s)",
            (tenant, legacy["default"]),
        )
    # … which verify until they are moved, and are listed by their prefix
    assert deliver(api, legacy["all"]) == 202
    assert deliver(api, legacy["wf"]) == 202
    prefixes = {s["prefix"] for s in api.get("/v1/webhook-secrets", api.admin).json()}
    assert {legacy["all"][:10], legacy["wf"][:10]} <= prefixes
    shown = api.get("/v1/workflows/broken/callback", api.admin).json()
    assert shown["secret_prefix"] == legacy["cb"][:10]

    # When the move runs (as the migrator does after the migrations)
    with connect(database_url) as owner:
        report = move_secrets(owner, platform.services.secrets)

    # Then every secret moved, none is left in a column, and each still works
    assert (report.webhook_secrets, report.callback_endpoints, report.callback_secrets) == (2, 1, 1)
    assert plaintext_rows(database_url) == 0
    assert deliver(api, legacy["all"]) == 202
    assert deliver(api, legacy["wf"]) == 202
    assert deliver(api, platform.webhook_secret) == 202
    receiver = Captured()
    run_id = platform.start("broken", {"order": "X"})
    platform.wait_status(run_id, "failed")
    assert len(dispatcher_to(platform, receiver).deliver_due().delivered) == 1
    receiver.verify(0, legacy["cb"])
    receiver.verify(0, legacy["cb_old"])
    store = platform.services.secrets
    with platform.services.tenant(tenant) as conn:
        default = callback_store.get_tenant_secret(conn, store, tenant)
    assert default is not None
    assert default.signing_secrets(store, datetime.now(UTC)) == [legacy["default"]]
    # and running it again moves nothing and changes nothing
    with connect(database_url) as owner:
        assert move_secrets(owner, platform.services.secrets).total == 0
    assert deliver(api, legacy["all"]) == 202


def test_migration_0012_keeps_every_plaintext_secret_until_the_move(postgres: Any) -> None:
    all_migrations = migrations.available()
    before = [m for m in all_migrations if m.version < 12]
    with connect(postgres.ensure_database("secrets_0012")) as conn:
        # Given a database at 0011 with a webhook secret and both kinds of callback secret
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(migrations, "available", lambda: before)
            migrations.migrate(conn, checkpointer=False)
        tenant = uuid.uuid4()
        secret, callback, default = (tenants.new_webhook_secret() for _ in range(3))
        conn.execute("INSERT INTO tenants (id, slug, name) VALUES (%s, 'acme', 'Acme')", (tenant,))
        conn.execute(
            "INSERT INTO webhook_secrets (id, tenant_id, secret) VALUES (%s, %s, %s)",
            (uuid.uuid4(), tenant, secret),
        )
        conn.execute(
            "INSERT INTO callback_endpoints (id, tenant_id, workflow, url, secret)"
            " VALUES (%s, %s, 'w', 'https://example.com/h', %s)",
            (uuid.uuid4(), tenant, callback),
        )
        conn.execute(
            "INSERT INTO callback_secrets (tenant_id, secret) VALUES (%s, %s)", (tenant, default)
        )

        # When the current code migrates it
        migrations.migrate(conn, checkpointer=False)

        # Then every secret is still there, listed by its prefix, and still verifies
        row = conn.execute(
            "SELECT secret, secret_prefix, secret_name FROM webhook_secrets"
        ).fetchone()
        assert row == {"secret": secret, "secret_prefix": secret[:10], "secret_name": None}
        for table, value in (("callback_endpoints", callback), ("callback_secrets", default)):
            row = conn.execute(f"SELECT secret, secret_prefix FROM {table}").fetchone()
            assert row == {"secret": value, "secret_prefix": value[:10]}
        found = conn.execute(
            "SELECT tenant_id, secrets, secret_ids FROM flightdeck_webhook_secrets('acme', 'w')"
        ).fetchone()
        assert found == {"tenant_id": tenant, "secrets": [secret], "secret_ids": []}


def test_the_deploy_time_migrator_moves_what_is_left(
    api: Api, platform: Platform, database_url: str
) -> None:
    # Given a secret still kept in plaintext
    legacy = tenants.new_webhook_secret()
    with connect(database_url) as owner, scoped(owner, platform.tenant_id):
        owner.execute(
            "INSERT INTO webhook_secrets (id, tenant_id, secret, secret_prefix)"
            " VALUES (%s, %s, %s, left(%s, 10))",
            (uuid.uuid4(), platform.tenant_id, legacy, legacy),
        )

    # When the migrate function runs, as the CDK trigger runs it at deploy
    answer = migrate_handler({}, lambda_context("migrate"))

    # Then nothing was left to migrate, the secret moved, and it still verifies
    assert answer == {"applied": [], "secrets_moved": 1}
    assert plaintext_rows(database_url) == 0
    assert deliver(api, legacy) == 202


def test_an_unreachable_secrets_manager_answers_503_not_a_verdict(
    api: Api, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = platform.services.secrets

    def unreachable(**kwargs: Any) -> Any:
        raise EndpointConnectionError(endpoint_url="https://secretsmanager.invalid")

    monkeypatch.setattr(store.provider.client, "get_secret_value", unreachable)
    store.provider.clear_cache()

    answer = api.client.post(
        "/v1/webhooks/support_triage",
        params={"tenant": "demo"},
        content=BODY,
        headers=webhooks.headers(platform.webhook_secret, f"msg_{uuid.uuid4()}", BODY),
    )

    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == "Secrets unavailable"


def test_rotating_a_webhook_secret_keeps_the_old_one_for_the_overlap_setting(
    api: Api, platform: Platform
) -> None:
    old_id = demo_secret_id(api)
    overlap = timedelta(seconds=platform.services.settings.secret_rotation_overlap_seconds)
    assert overlap == timedelta(hours=24)

    # When an admin rotates the demo secret
    before = datetime.now(UTC)
    rotated = api.post(f"/v1/webhook-secrets/{old_id}/rotate", api.admin)

    # Then a new secret for the same scope is shown once, and both verify for the overlap
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["workflow"] is None
    assert new["secret"].startswith("whsec_")
    assert deliver(api, new["secret"]) == 202
    assert deliver(api, platform.webhook_secret) == 202
    listed = {s["id"]: s for s in api.get("/v1/webhook-secrets", api.admin).json()}
    expires = datetime.fromisoformat(listed[old_id]["expires_at"])
    assert (
        before + overlap - timedelta(minutes=1) < expires < before + overlap + timedelta(minutes=1)
    )
    assert listed[new["id"]]["expires_at"] is None
    # Rotating needs an admin, and a secret that is still valid
    assert api.post(f"/v1/webhook-secrets/{new['id']}/rotate", api.operator).status_code == 403
    assert api.post(f"/v1/webhook-secrets/{uuid.uuid4()}/rotate", api.admin).status_code == 404
    assert expire(api, old_id) == 204
    assert api.post(f"/v1/webhook-secrets/{old_id}/rotate", api.admin).status_code == 404


def test_a_callback_whose_secret_cannot_be_read_waits_without_holding_up_the_round(
    api: Api, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "http://receiver.test/hook"
    secret = api.client.put(
        "/v1/workflows/broken/callback", json={"url": url}, headers=api.headers(api.admin)
    ).json()["secret"]
    run_id = platform.start("broken", {"order": "X"})
    platform.wait_status(run_id, "failed")
    receiver = Captured()
    dispatcher = dispatcher_to(platform, receiver)
    store = platform.services.secrets
    real = store.provider.client.get_secret_value

    def unreachable(**kwargs: Any) -> Any:
        raise EndpointConnectionError(endpoint_url="https://secretsmanager.invalid")

    # Given Secrets Manager out of reach, then the round sends nothing and loses nothing
    monkeypatch.setattr(store.provider.client, "get_secret_value", unreachable)
    store.provider.clear_cache()
    assert dispatcher.deliver_due().attempted == 0
    with platform.services.tenant(platform.tenant_id) as conn:
        (waiting,) = callback_store.list_for_run(conn, run_id)
    assert (waiting.status, waiting.attempts) == ("pending", 0)

    # When it answers again, the delivery goes out signed
    monkeypatch.setattr(store.provider.client, "get_secret_value", real)
    assert len(dispatcher.deliver_due().delivered) == 1
    receiver.verify(0, secret)
