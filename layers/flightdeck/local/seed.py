"""The demo tenant: its token, its webhook secret and the workflows' seeded knowledge."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from importlib import resources

from flightdeck.engine.registry import Registry
from flightdeck.store import knowledge, tenants
from flightdeck.store.db import Connection, scoped

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


def seed_knowledge(conn: Connection, registry: Registry, tenant_id: uuid.UUID) -> int:
    count = 0
    for workflow in registry:
        if not workflow.seed_knowledge:
            continue
        package = workflow.graph_factory.partition(":")[0].rpartition(".")[0]
        text = resources.files(package).joinpath(workflow.seed_knowledge).read_text("utf-8")
        for article in json.loads(text):
            knowledge.upsert(conn, tenant_id, article["title"], article["body"], article["tags"])
            count += 1
    return count


def seed_demo(
    conn: Connection, registry: Registry, previous: DemoCredentials | None = None
) -> DemoCredentials:
    """Create the demo tenant once; later starts keep its id, token and secret."""
    with conn.transaction():
        tenant = tenants.get_tenant_by_slug(conn, DEMO_SLUG)
        if tenant is None:
            tenant = tenants.create_tenant(conn, DEMO_SLUG, "Demo Bakery")
    with scoped(conn, tenant.id):
        seed_knowledge(conn, registry, tenant.id)
        if (
            previous is not None
            and previous.tenant_id == str(tenant.id)
            and tenants.authenticate(conn, previous.api_token) is not None
            and tenants.authenticate(conn, previous.admin_token) is not None
            and tenants.authenticate(conn, previous.viewer_token) is not None
            and previous.webhook_secret in tenants.webhook_secrets(conn, tenant.id, "")
        ):
            return previous
        token = tenants.issue_token(conn, tenant.id, "operator", name="local development")
        admin = tenants.issue_token(conn, tenant.id, "admin", name="local development")
        viewer = tenants.issue_token(conn, tenant.id, "viewer", name="local development")
        secret = tenants.add_webhook_secret(conn, tenant.id, None)
        return DemoCredentials(
            str(tenant.id), tenant.slug, token.token, secret, admin.token, viewer.token
        )
