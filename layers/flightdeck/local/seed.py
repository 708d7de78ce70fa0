"""The demo tenant: its tokens, its webhook secret and the workflows' demo documents."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from importlib import resources

from flightdeck.engine.registry import Registry
from flightdeck.knowledge.service import KnowledgeService
from flightdeck.store import tenants
from flightdeck.store.db import Connection, scoped
from flightdeck.store.secrets import SecretStore

DEMO_SLUG = "demo"


@dataclass(frozen=True)
class DemoCredentials:
    tenant_id: str
    tenant_slug: str
    api_token: str
    webhook_secret: str
    # The agency's own token for the demo: tokens, secrets, callbacks, escalated approvals.
    admin_token: str
    # What a client signs into the dashboard with: sees everything, decides nothing.
    viewer_token: str


def seed_documents(knowledge: KnowledgeService, registry: Registry, tenant_id: uuid.UUID) -> int:
    """Give the tenant each workflow's demo documents it does not have yet (by file name),
    ingested before this returns; returns how many were added."""
    have = {d.filename for d in knowledge.documents(tenant_id)}
    added = 0
    for workflow in registry:
        if not workflow.seed_documents:
            continue
        package = workflow.graph_factory.partition(":")[0].rpartition(".")[0]
        folder = resources.files(package).joinpath(workflow.seed_documents)
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if not entry.is_file() or entry.name in have:
                continue
            document = knowledge.upload(
                tenant_id,
                filename=entry.name,
                content_type=None,
                data=entry.read_bytes(),
                tags=["demo"],
            )
            # The object-created event ingests it too; whichever comes second finds it done.
            knowledge.ingest(knowledge.bucket, document.s3_key)
            have.add(entry.name)
            added += 1
    return added


def seed_demo(
    conn: Connection,
    registry: Registry,
    previous: DemoCredentials | None = None,
    knowledge: KnowledgeService | None = None,
    *,
    secrets: SecretStore,
) -> DemoCredentials:
    """Create the demo tenant once; later starts keep its id, token and secret (its material
    in `secrets`, Secrets Manager). With `knowledge`, the tenant also gets the workflows' demo
    documents, ingested."""
    with conn.transaction():
        tenant = tenants.get_tenant_by_slug(conn, DEMO_SLUG)
        if tenant is None:
            tenant = tenants.create_tenant(conn, DEMO_SLUG, "Demo Bakery")
    if knowledge is not None:
        seed_documents(knowledge, registry, tenant.id)
    with scoped(conn, tenant.id):
        if (
            previous is not None
            and previous.tenant_id == str(tenant.id)
            and tenants.authenticate(conn, previous.api_token) is not None
            and tenants.authenticate(conn, previous.admin_token) is not None
            and tenants.authenticate(conn, previous.viewer_token) is not None
            and previous.webhook_secret in tenants.webhook_secrets(conn, secrets, tenant.id, "")
        ):
            return previous
        token = tenants.issue_token(conn, tenant.id, "operator", name="local development")
        admin = tenants.issue_token(conn, tenant.id, "admin", name="local development")
        viewer = tenants.issue_token(conn, tenant.id, "viewer", name="local development")
        secret = tenants.add_webhook_secret(conn, secrets, tenant.id, None)
        return DemoCredentials(
            str(tenant.id), tenant.slug, token.token, secret, admin.token, viewer.token
        )
