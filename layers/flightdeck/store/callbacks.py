"""Callback endpoints, signing secrets and the delivery log.

Every function runs inside the caller's tenant-scoped transaction (`flightdeck.store.db.scoped`):
row-level security keeps one tenant's endpoints and deliveries from another's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from psycopg.types.json import Jsonb

from flightdeck.store.db import Connection
from flightdeck.store.tenants import new_webhook_secret

DeliveryStatus = Literal["pending", "delivered", "failed"]

# How long a rotated-out secret keeps signing next to the new one.
PREVIOUS_SECRET_GRACE = timedelta(hours=24)
# Enough of a secret to tell two apart in a list; never enough to use it.
SECRET_PREFIX_LENGTH = len("whsec_") + 4


def secret_prefix(secret: str) -> str:
    return secret[:SECRET_PREFIX_LENGTH]


@dataclass(frozen=True)
class Endpoint:
    id: uuid.UUID
    tenant_id: uuid.UUID
    workflow: str
    url: str
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def signing_secrets(self, now: datetime) -> list[str]:
        return _signing_secrets(
            self.secret, self.previous_secret, self.previous_secret_expires_at, now
        )


@dataclass(frozen=True)
class TenantSecret:
    tenant_id: uuid.UUID
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def signing_secrets(self, now: datetime) -> list[str]:
        return _signing_secrets(
            self.secret, self.previous_secret, self.previous_secret_expires_at, now
        )


def _signing_secrets(
    current: str, previous: str | None, previous_expires: datetime | None, now: datetime
) -> list[str]:
    if previous and previous_expires is not None and previous_expires > now:
        return [current, previous]
    return [current]


@dataclass(frozen=True)
class Delivery:
    id: uuid.UUID
    tenant_id: uuid.UUID
    run_id: uuid.UUID
    workflow: str
    event_type: str
    payload: dict[str, Any]
    url: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


_ENDPOINT_COLUMNS = (
    "id, tenant_id, workflow, url, secret, previous_secret, previous_secret_expires_at,"
    " created_at, updated_at"
)
_TENANT_DEFAULT_COLUMNS = (
    "tenant_id, secret, previous_secret, previous_secret_expires_at, created_at, updated_at"
)
_DELIVERY_COLUMNS = (
    "id, tenant_id, run_id, workflow, event_type, payload, url, status, attempts,"
    " next_attempt_at, last_status_code, last_error, created_at, delivered_at"
)


# Endpoints ------------------------------------------------------------------------------------


def get_endpoint(conn: Connection, tenant_id: uuid.UUID, workflow: str) -> Endpoint | None:
    row = conn.execute(
        f"SELECT {_ENDPOINT_COLUMNS} FROM callback_endpoints"
        " WHERE tenant_id = %s AND workflow = %s",
        (tenant_id, workflow),
    ).fetchone()
    return Endpoint(**row) if row else None


def put_endpoint(
    conn: Connection, tenant_id: uuid.UUID, workflow: str, url: str, *, rotate: bool = False
) -> tuple[Endpoint, str | None, bool]:
    """Create the workflow's endpoint, or change its URL. Answers the endpoint, the new secret
    when one was made (on create, or when `rotate` asks for it) else None, and whether the
    endpoint was created."""
    fresh = new_webhook_secret()
    row = conn.execute(
        f"INSERT INTO callback_endpoints (id, tenant_id, workflow, url, secret)"
        f" VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tenant_id, workflow) DO NOTHING"
        f" RETURNING {_ENDPOINT_COLUMNS}",
        (uuid.uuid4(), tenant_id, workflow, url, fresh),
    ).fetchone()
    if row is not None:
        return Endpoint(**row), fresh, True
    if rotate:
        row = conn.execute(
            f"UPDATE callback_endpoints SET url = %s, previous_secret = secret,"
            f" previous_secret_expires_at = now() + %s, secret = %s, updated_at = now()"
            f" WHERE tenant_id = %s AND workflow = %s RETURNING {_ENDPOINT_COLUMNS}",
            (url, PREVIOUS_SECRET_GRACE, fresh, tenant_id, workflow),
        ).fetchone()
    else:
        row = conn.execute(
            f"UPDATE callback_endpoints SET url = %s, updated_at = now()"
            f" WHERE tenant_id = %s AND workflow = %s RETURNING {_ENDPOINT_COLUMNS}",
            (url, tenant_id, workflow),
        ).fetchone()
    assert row is not None, "a conflicting endpoint must exist"
    return Endpoint(**row), (fresh if rotate else None), False


def delete_endpoint(conn: Connection, tenant_id: uuid.UUID, workflow: str) -> bool:
    deleted = conn.execute(
        "DELETE FROM callback_endpoints WHERE tenant_id = %s AND workflow = %s RETURNING id",
        (tenant_id, workflow),
    ).fetchone()
    return deleted is not None


# The tenant's default secret ------------------------------------------------------------------


def get_tenant_secret(
    conn: Connection, tenant_id: uuid.UUID, *, create: bool = False
) -> TenantSecret | None:
    if create:
        conn.execute(
            "INSERT INTO callback_secrets (tenant_id, secret) VALUES (%s, %s)"
            " ON CONFLICT (tenant_id) DO NOTHING",
            (tenant_id, new_webhook_secret()),
        )
    row = conn.execute(
        f"SELECT {_TENANT_DEFAULT_COLUMNS} FROM callback_secrets WHERE tenant_id = %s", (tenant_id,)
    ).fetchone()
    return TenantSecret(**row) if row else None


def rotate_tenant_secret(conn: Connection, tenant_id: uuid.UUID) -> tuple[TenantSecret, str]:
    """A new default secret; the one it replaces keeps signing for `PREVIOUS_SECRET_GRACE`."""
    fresh = new_webhook_secret()
    row = conn.execute(
        f"INSERT INTO callback_secrets AS s (tenant_id, secret) VALUES (%s, %s)"
        f" ON CONFLICT (tenant_id) DO UPDATE SET previous_secret = s.secret,"
        f" previous_secret_expires_at = now() + %s, secret = EXCLUDED.secret, updated_at = now()"
        f" RETURNING {_TENANT_DEFAULT_COLUMNS}",
        (tenant_id, fresh, PREVIOUS_SECRET_GRACE),
    ).fetchone()
    assert row is not None
    return TenantSecret(**row), fresh


# Deliveries -----------------------------------------------------------------------------------


def insert_delivery(
    conn: Connection,
    *,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    workflow: str,
    event_type: str,
    event_key: str,
    payload: dict[str, Any],
    url: str,
) -> uuid.UUID | None:
    """Queue a delivery, due now; None when this event was already queued."""
    row = conn.execute(
        "INSERT INTO callback_deliveries"
        " (id, tenant_id, run_id, workflow, event_type, event_key, payload, url)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (run_id, event_key) DO NOTHING RETURNING id",
        (uuid.uuid4(), tenant_id, run_id, workflow, event_type, event_key, Jsonb(payload), url),
    ).fetchone()
    return row["id"] if row else None


def claim_due(conn: Connection, *, now: datetime, lease_until: datetime) -> Delivery | None:
    """Take the most overdue pending delivery for one attempt: count the attempt and push its
    due time to the end of the lease. Commit before sending; a sender that dies mid-attempt
    leaves it to be claimed again once the lease ends. Concurrent claimers skip each other."""
    row = conn.execute(
        f"UPDATE callback_deliveries SET attempts = attempts + 1, next_attempt_at = %s"
        f" WHERE id = (SELECT id FROM callback_deliveries"
        f"  WHERE status = 'pending' AND next_attempt_at <= %s"
        f"  ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED)"
        f" RETURNING {_DELIVERY_COLUMNS}",
        (lease_until, now),
    ).fetchone()
    return Delivery(**row) if row else None


def record_attempt(
    conn: Connection,
    delivery_id: uuid.UUID,
    *,
    attempt: int,
    status: DeliveryStatus,
    url: str,
    next_attempt_at: datetime | None,
    status_code: int | None,
    error: str | None,
    now: datetime,
) -> bool:
    """Keep the outcome of attempt number `attempt`. False when the delivery has moved on
    meanwhile (its lease ran out and another sender claimed it): that sender's outcome counts."""
    row = conn.execute(
        "UPDATE callback_deliveries SET status = %(status)s, url = %(url)s,"
        " next_attempt_at = COALESCE(%(next)s, next_attempt_at),"
        " last_status_code = %(code)s, last_error = %(error)s,"
        " delivered_at = CASE WHEN %(status)s = 'delivered' THEN %(now)s ELSE delivered_at END"
        " WHERE id = %(id)s AND status = 'pending' AND attempts = %(attempt)s RETURNING id",
        {
            "status": status,
            "url": url,
            "next": next_attempt_at,
            "code": status_code,
            "error": error,
            "now": now,
            "id": delivery_id,
            "attempt": attempt,
        },
    ).fetchone()
    return row is not None


def redeliver(conn: Connection, delivery_id: uuid.UUID) -> Delivery | None:
    """Send a delivery again from a fresh retry schedule, under the same `webhook-id`."""
    row = conn.execute(
        f"UPDATE callback_deliveries SET status = 'pending', attempts = 0,"
        f" next_attempt_at = now(), delivered_at = NULL"
        f" WHERE id = %s RETURNING {_DELIVERY_COLUMNS}",
        (delivery_id,),
    ).fetchone()
    return Delivery(**row) if row else None


def list_for_run(conn: Connection, run_id: uuid.UUID) -> list[Delivery]:
    """The run's delivery log, oldest first."""
    rows = conn.execute(
        f"SELECT {_DELIVERY_COLUMNS} FROM callback_deliveries WHERE run_id = %s"
        " ORDER BY created_at, id",
        (run_id,),
    ).fetchall()
    return [Delivery(**r) for r in rows]
