"""Outbound callbacks: tell a tenant's receiver (typically an n8n webhook) that a run succeeded,
failed, or needs an approval.

Events are queued in the transaction that changes the run (`enqueue`), so a callback is sent
exactly when the change is committed, and never for a change that rolled back. The dispatcher
(`CallbackDispatcher.deliver_due`, on a schedule in Lambda, on a thread under `make dev`) sends
due deliveries signed the Standard Webhooks way, with the delivery id as `webhook-id` so a
receiver deduplicates retries, and retries failures with capped exponential backoff and full
jitter.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flightdeck import __version__, privacy, webhooks
from flightdeck.store import callbacks as store
from flightdeck.store import runs, tenants
from flightdeck.store.db import Connection, scoped
from flightdeck.store.secrets import SecretStore, SecretsUnavailableError

if TYPE_CHECKING:
    import httpx

    from flightdeck.engine.registry import Registry

ConnectionFactory = Callable[[], AbstractContextManager[Connection]]

RUN_SUCCEEDED = "run.succeeded"
RUN_FAILED = "run.failed"
APPROVAL_REQUESTED = "approval.requested"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed delivery is tried again.

    Attempt n (1-based) failing waits a uniformly random time in [min_delay, ceiling(n)], with
    ceiling(n) = min(cap, base * 2**(n-1)) ("full jitter": receivers that come back up are not
    hit by every sender at once). With the defaults the ceilings run 30 s, 1 min, 2 min, ...
    up to 6 h, and a delivery is given up after 12 attempts, about 14.5 h at the latest.
    """

    base_seconds: float = 30.0
    cap_seconds: float = 6 * 3600.0
    max_attempts: int = 12
    # Never zero: the next attempt is always later than this one.
    min_delay_seconds: float = 1.0
    # How long one claimed attempt may take before another sender may claim it again.
    lease_seconds: float = 60.0
    timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.min_delay_seconds <= self.base_seconds <= self.cap_seconds:
            raise ValueError("retry policy needs 0 < min_delay <= base <= cap")
        if self.max_attempts < 1:
            raise ValueError("retry policy needs at least one attempt")
        if self.lease_seconds <= self.timeout_seconds:
            raise ValueError("the lease must outlast the HTTP timeout")

    def ceiling(self, attempts: int) -> float:
        """The longest wait after `attempts` failed attempts."""
        exponent = min(max(attempts, 1) - 1, 62)
        return float(min(self.cap_seconds, self.base_seconds * 2**exponent))

    def delay(self, attempts: int, rand: Callable[[], float]) -> float:
        """The wait after `attempts` failed attempts; `rand` draws from [0, 1)."""
        return max(self.min_delay_seconds, rand() * self.ceiling(attempts))


# Queueing -------------------------------------------------------------------------------------


def _target_url(
    conn: Connection, registry: Registry, tenant_id: uuid.UUID, workflow: str
) -> str | None:
    """The tenant's endpoint for the workflow, else the workflow manifest's callback URL."""
    endpoint = store.get_endpoint(conn, tenant_id, workflow)
    if endpoint is not None:
        return endpoint.url
    if workflow in registry:
        return registry.get(workflow).manifest.callback_url
    return None


def _approval_summary(request: Any) -> dict[str, Any]:
    """What a receiver needs to route a review, not the draft itself (it may carry PII)."""
    if not isinstance(request, dict):
        return {}
    return {k: request[k] for k in ("kind", "summary", "reasons") if k in request}


def enqueue(
    conn: Connection,
    registry: Registry,
    run_id: uuid.UUID,
    event_type: str,
    *,
    approval: Any = None,
) -> uuid.UUID | None:
    """Queue `event_type` for the run, inside the caller's tenant-scoped transaction (after the
    run's status has been changed in it). Returns the delivery id; None when the tenant has no
    callback for the workflow, or when this event was already queued (a retried step)."""
    run = runs.get_run(conn, run_id)
    if run is None:
        return None
    url = _target_url(conn, registry, run.tenant_id, run.workflow)
    if url is None:
        return None
    data: dict[str, Any] = {
        "run_id": str(run.id),
        "tenant_id": str(run.tenant_id),
        "workflow": run.workflow,
        "workflow_version": run.workflow_version,
        "status": run.status,
        "trigger_source": run.trigger_source,
        "idempotency_key": run.idempotency_key,
    }
    if event_type == RUN_SUCCEEDED:
        key = RUN_SUCCEEDED
        data["finished_at"] = run.finished_at.isoformat() if run.finished_at else None
    elif event_type == RUN_FAILED:
        # One per execution: a redriven run that fails again reports again.
        key = f"{RUN_FAILED}:{run.execution_name}"
        data["finished_at"] = run.finished_at.isoformat() if run.finished_at else None
        data["error"] = {
            "type": run.error_type,
            "message": run.error_message,
            "node": run.failed_node,
        }
    elif event_type == APPROVAL_REQUESTED:
        if approval is None:
            raise ValueError("approval.requested needs the approval")
        key = f"{APPROVAL_REQUESTED}:{approval.id}"
        data["approval"] = {
            "id": str(approval.id),
            "node": approval.node,
            "request": _approval_summary(approval.request),
            "expires_at": approval.expires_at.isoformat(),
        }
    else:
        raise ValueError(f"unknown callback event {event_type!r}")
    payload = {
        "type": event_type,
        "timestamp": datetime.now(UTC).isoformat(),
        "data": data,
    }
    return store.insert_delivery(
        conn,
        tenant_id=run.tenant_id,
        run_id=run.id,
        workflow=run.workflow,
        event_type=event_type,
        event_key=key,
        # Stored and sent masked: an error message may quote the customer.
        payload=privacy.mask_value(payload),
        url=url,
    )


# Delivering -----------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    """What one `deliver_due` call did, by delivery id."""

    delivered: list[uuid.UUID] = field(default_factory=list)
    retrying: list[uuid.UUID] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return len(self.delivered) + len(self.retrying) + len(self.failed)

    def to_dict(self) -> dict[str, list[str]]:
        return {
            "delivered": [str(i) for i in self.delivered],
            "retrying": [str(i) for i in self.retrying],
            "failed": [str(i) for i in self.failed],
        }


@dataclass(frozen=True)
class _Claimed:
    delivery: store.Delivery
    url: str | None
    secrets: list[str]


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    status_code: int | None
    error: str | None


def _body(payload: dict[str, Any]) -> bytes:
    """The bytes sent (and signed): masked again, for deliveries queued before masking was."""
    masked = privacy.mask_value(payload)
    return json.dumps(masked, separators=(",", ":"), sort_keys=True).encode()


def signed_headers(secrets: list[str], delivery_id: uuid.UUID, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers; with a rotated secret still in its grace period, a second
    `v1,` signature by it, so receivers still on the old secret verify too."""
    first, *others = secrets
    signed = webhooks.headers(first, str(delivery_id), body)
    timestamp = int(signed["webhook-timestamp"])
    extra = [webhooks.sign(s, str(delivery_id), timestamp, body) for s in others]
    signed["webhook-signature"] = " ".join([signed["webhook-signature"], *extra])
    return signed


class CallbackDispatcher:
    def __init__(
        self,
        *,
        registry: Registry,
        connection: ConnectionFactory,
        secrets: SecretStore,
        http: httpx.Client | None = None,
        policy: RetryPolicy | None = None,
        rand: Callable[[], float] | None = None,
    ) -> None:
        self._registry = registry
        self._connection = connection
        self._secrets = secrets
        self._http = http
        self.policy = policy or RetryPolicy()
        # Jitter needs no cryptographic strength, but SystemRandom keeps linters and forks calm.
        self._rand = rand or random.SystemRandom().random

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            import httpx

            self._http = httpx.Client(
                timeout=self.policy.timeout_seconds,
                follow_redirects=False,
                headers={"user-agent": f"Flightdeck-Callbacks/{__version__}"},
            )
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def deliver_due(
        self,
        now: datetime | None = None,
        limit: int = 100,
        *,
        budget_seconds: float | None = None,
    ) -> DeliveryReport:
        """Send what is due at `now` (default: the current time), at most `limit` attempts,
        taking tenants in turn so one slow receiver does not starve the others. Stops claiming
        once `budget_seconds` have passed (a Lambda passes what its timeout leaves)."""
        report = DeliveryReport()
        started = time.monotonic()
        with self._connection() as conn, conn.transaction():
            active = tenants.all_ids(conn)
        while active and report.attempted < limit:
            for tenant_id in list(active):
                if report.attempted >= limit or (
                    budget_seconds is not None and time.monotonic() - started > budget_seconds
                ):
                    return report
                at = now or datetime.now(UTC)
                try:
                    claimed = self._claim(tenant_id, at)
                except SecretsUnavailableError as exc:
                    # The claim rolled back: the delivery waits, due, for the next round, and
                    # the other tenants' deliveries go out meanwhile.
                    logger.warning("callbacks of tenant %s wait: %s", tenant_id, exc)
                    active.remove(tenant_id)
                    continue
                if claimed is None:
                    active.remove(tenant_id)
                    continue
                self._attempt(tenant_id, claimed, at, report)
        return report

    def _claim(self, tenant_id: uuid.UUID, now: datetime) -> _Claimed | None:
        lease_until = now + timedelta(seconds=self.policy.lease_seconds)
        with self._connection() as conn, scoped(conn, tenant_id):
            delivery = store.claim_due(conn, now=now, lease_until=lease_until)
            if delivery is None:
                return None
            endpoint = store.get_endpoint(conn, tenant_id, delivery.workflow)
            if endpoint is not None:
                return _Claimed(
                    delivery, endpoint.url, endpoint.signing_secrets(self._secrets, now)
                )
            url = _target_url(conn, self._registry, tenant_id, delivery.workflow)
            if url is None:
                return _Claimed(delivery, None, [])
            secret = store.get_tenant_secret(conn, self._secrets, tenant_id, create=True)
            assert secret is not None
            return _Claimed(delivery, url, secret.signing_secrets(self._secrets, now))

    def _send(self, claimed: _Claimed) -> _Outcome:
        import httpx

        assert claimed.url is not None
        delivery = claimed.delivery
        body = _body(delivery.payload)
        headers = {
            **signed_headers(claimed.secrets, delivery.id, body),
            "content-type": "application/json",
        }
        try:
            response = self.http.post(claimed.url, content=body, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
            # The receiver could not be reached (or its URL cannot be used): a failed attempt.
            return _Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500])
        if response.is_success:
            return _Outcome(True, response.status_code, None)
        reason = response.text[:300] if response.text else response.reason_phrase
        return _Outcome(False, response.status_code, f"HTTP {response.status_code}: {reason}")

    def _attempt(
        self, tenant_id: uuid.UUID, claimed: _Claimed, now: datetime, report: DeliveryReport
    ) -> None:
        delivery = claimed.delivery
        if claimed.url is None:
            outcome = _Outcome(False, None, "no callback URL is configured for the workflow")
            give_up = True
        elif delivery.attempts > self.policy.max_attempts:
            # Claimed again and again by senders that stopped mid-attempt: stop trying.
            outcome = _Outcome(False, None, f"given up after {delivery.attempts - 1} attempts")
            give_up = True
        else:
            outcome = self._send(claimed)
            give_up = delivery.attempts >= self.policy.max_attempts
        if outcome.ok:
            status: store.DeliveryStatus = "delivered"
            next_at = None
        elif give_up:
            status, next_at = "failed", None
        else:
            status = "pending"
            next_at = now + timedelta(seconds=self.policy.delay(delivery.attempts, self._rand))
        with self._connection() as conn, scoped(conn, tenant_id):
            kept = store.record_attempt(
                conn,
                delivery.id,
                attempt=delivery.attempts,
                status=status,
                url=claimed.url or delivery.url,
                next_attempt_at=next_at,
                status_code=outcome.status_code,
                error=outcome.error,
                now=now,
            )
        if not kept:
            return
        {"delivered": report.delivered, "pending": report.retrying, "failed": report.failed}[
            status
        ].append(delivery.id)
        if not outcome.ok:
            logger.warning(
                "callback %s attempt %d to %s: %s",
                delivery.id,
                delivery.attempts,
                claimed.url,
                outcome.error,
            )

    def run_until(self, stop: threading.Event, *, interval: float = 1.0) -> None:
        """Deliver what is due every `interval` seconds until `stop` is set (the local runner's
        background thread). A failing round is logged and the next one tries again."""
        while not stop.wait(interval):
            try:
                self.deliver_due()
            except Exception:
                logger.exception("callback delivery round failed")
