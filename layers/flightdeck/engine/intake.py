"""Webhook intake: a Standard Webhooks delivery verified and turned into a run.

One implementation behind both doors of `POST /v1/webhooks/{workflow}` (operation
`triggerWebhook`): the FastAPI route (`flightdeck.api.routes.webhooks`, what `make dev` serves
and the OpenAPI document describes) and the dedicated ingress function API Gateway invokes for
that route on AWS (`functions/webhook_ingress`), which answers without FastAPI's routing.

A warm process verifies a delivery without a database round trip (the tenant's keyring is kept
in the process, `flightdeck.store.tenants.webhook_keyring`) and stores its run, its queued
event and the check that the verifying secret is still valid in one statement
(`flightdeck.store.runs.start_run`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from flightdeck import metrics
from flightdeck.errors import (
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    UnauthorizedError,
)
from flightdeck.store import tenants
from flightdeck.webhooks import WebhookVerificationError, verify_keyed

if TYPE_CHECKING:
    from flightdeck.engine.registry import Registry
    from flightdeck.engine.runs import RunService, Started
    from flightdeck.store.db import Connection
    from flightdeck.store.secrets import SecretStore

# The tenant's slug: what the query parameter `tenant` may hold (the OpenAPI document says so).
SLUG_MAX_LENGTH = 63


class WebhookIntake:
    def __init__(
        self,
        *,
        registry: Registry,
        connection: Callable[[], AbstractContextManager[Connection]],
        secrets: SecretStore,
        runs: RunService,
        max_body_bytes: int,
    ) -> None:
        self._registry = registry
        self._connection = connection
        self._secrets = secrets
        self._runs = runs
        self._max_body_bytes = max_body_bytes

    def accept(
        self, *, workflow: str, tenant: str, headers: Mapping[str, str], body: bytes
    ) -> Started:
        """The run of this delivery: created, or the one an earlier delivery of the same
        `webhook-id` created (`Started.created` False: answer it as a replay).

        `headers` must be case-insensitive or lower-cased. Raises the platform's errors, which
        both doors answer as problem details: 413, 404 (no such workflow), 401 (the signature
        cannot be verified), 422 (not JSON, or not the workflow's input), 409 (the same
        `webhook-id` with another payload), 503 (the database or Step Functions unavailable;
        the run, when stored, is started by the retry of the same delivery)."""
        from flightdeck.engine.runs import WebhookSecretWithdrawnError

        if len(body) > self._max_body_bytes:
            raise PayloadTooLargeError(f"the body exceeds {self._max_body_bytes} bytes")
        if workflow not in self._registry:
            raise NotFoundError(f"no workflow named {workflow!r}")
        # The process's keyring first; read again once when it cannot verify the delivery (a
        # secret added since) or when the secret that verified it was withdrawn meanwhile (the
        # run insert refuses it). A keyring read during this request is not read twice.
        asked = time.monotonic()
        fresh = False
        while True:
            keyring = tenants.webhook_keyring(
                self._connection, self._secrets, tenant, workflow, fresh=fresh
            )
            if keyring is None:
                metrics.record_webhook_verification_failure(workflow, metrics.UNKNOWN_TENANT)
                raise UnauthorizedError("the webhook signature cannot be verified")
            last_chance = fresh or keyring.read_at >= asked
            try:
                msg_id, secret_id = verify_keyed(keyring.secrets, headers, body)
            except WebhookVerificationError as exc:
                if not last_chance:
                    fresh = True
                    continue
                metrics.record_webhook_verification_failure(workflow, metrics.INVALID_SIGNATURE)
                raise UnauthorizedError(f"the webhook signature is not valid: {exc}") from exc
            try:
                payload = json.loads(body)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InvalidInputError(f"the body is not valid JSON: {exc}", field="body") from exc
            try:
                return self._runs.start(
                    tenant_id=keyring.tenant_id,
                    workflow_name=workflow,
                    payload=payload,
                    idempotency_key=msg_id,
                    source="webhook",
                    webhook_secret=(tenant, secret_id),
                )
            except WebhookSecretWithdrawnError:
                if not last_chance:
                    fresh = True
                    continue
                metrics.record_webhook_verification_failure(workflow, metrics.INVALID_SIGNATURE)
                raise
