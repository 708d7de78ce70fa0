"""A test client for the API bound to one platform, with tokens of every role."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from flightdeck import webhooks
from flightdeck.api.app import create_app
from flightdeck.store import tenants
from tests.conftest import Platform, wait_for


@dataclass
class Api:
    client: TestClient
    platform: Platform
    viewer: str
    operator: str
    admin: str

    def headers(self, token: str, **extra: str) -> dict[str, str]:
        return {"authorization": f"Bearer {token}", **extra}

    def get(self, path: str, token: str | None = None, **kw: Any) -> Any:
        headers = self.headers(token or self.viewer, **kw.pop("headers", {}))
        return self.client.get(path, headers=headers, **kw)

    def post(self, path: str, token: str | None = None, **kw: Any) -> Any:
        headers = self.headers(token or self.operator, **kw.pop("headers", {}))
        return self.client.post(path, headers=headers, **kw)

    def webhook(
        self, body: Any, msg_id: str | None = None, workflow: str = "support_triage"
    ) -> Any:
        raw = json.dumps(body).encode()
        signed = webhooks.headers(
            self.platform.webhook_secret, msg_id or f"msg_{uuid.uuid4()}", raw
        )
        return self.client.post(
            f"/v1/webhooks/{workflow}",
            params={"tenant": "demo"},
            content=raw,
            headers={**signed, "content-type": "application/json"},
        )

    def run(self, run_id: Any, token: str | None = None) -> Any:
        return self.get(f"/v1/runs/{run_id}", token).json()

    def wait_run(self, run_id: Any, *statuses: str, timeout: float = 60) -> Any:
        return wait_for(
            lambda: (r := self.run(run_id)) and r["status"] in statuses and r, timeout=timeout
        )

    def pending(self, run_id: Any) -> Any:
        """The run's pending approval as the API shows it, once its wait state holds a token."""
        approval = self.platform.pending_approval(uuid.UUID(str(run_id)))
        return self.get(f"/v1/approvals/{approval.id}").json()


@contextmanager
def api_for(platform: Platform) -> Iterator[Api]:
    with platform.services.connection() as conn, conn.transaction():
        viewer = tenants.issue_token(conn, platform.tenant_id, "viewer").token
        admin = tenants.issue_token(conn, platform.tenant_id, "admin").token
    app = create_app(lambda: platform.services)
    platform.services.tracing.instrument_app(app)  # as functions/api does (OTLP only)
    with TestClient(app) as client:
        yield Api(client, platform, viewer, platform.api_token, admin)
