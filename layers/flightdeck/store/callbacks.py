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

from flightdeck.store import secrets as secrets_store
from flightdeck.store.db import Connection
from flightdeck.store.secrets import (
    SecretStore,
    SecretsUnavailableError,
    SecretVersion,
    prefix_of,
)
from flightdeck.store.tenants import new_webhook_secret

DeliveryStatus = Literal["pending", "delivered", "failed"]

# How long a rotated-out secret keeps signing next to the new one, unless the caller says.
PREVIOUS_SECRET_GRACE = timedelta(hours=24)


def secret_prefix(secret: str) -> str:
    return prefix_of(secret)


@dataclass(frozen=True)
class _Signing:
    """Where a callback secret is: in Secrets Manager (`secret_name` + version ids), or, for a
    row the move to Secrets Manager has not reached yet, the plaintext columns."""

    secret: str | None
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    secret_name: str | None
    secret_prefix: str
    secret_version: uuid.UUID | None
    previous_version: uuid.UUID | None

    def signing_secrets(self, store: SecretStore, now: datetime) -> list[str]:
        """The current secret, then the previous one while its grace period lasts."""
        previous_valid = (
            self.previous_secret_expires_at is not None and self.previous_secret_expires_at > now
        )
        if self.secret is not None:
            current = [self.secret]
            previous = [self.previous_secret] if self.previous_secret and previous_valid else []
            return current + previous
        assert self.secret_name is not None
        assert self.secret_version is not None
        held = store.versions(self.secret_name, need=[self.secret_version])
        if self.secret_version not in held:
            raise SecretsUnavailableError(f"the callback secret is missing from {self.secret_name}")
        found = [held[self.secret_version].secret]
        if self.previous_version in held and previous_valid:
            found.append(held[self.previous_version].secret)
        return found


@dataclass(frozen=True)
class Endpoint(_Signing):
    id: uuid.UUID
    tenant_id: uuid.UUID
    workflow: str
    url: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TenantSecret(_Signing):
    tenant_id: uuid.UUID
    created_at: datetime
    updated_at: datetime


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


# A row written by code older than migration 0012 has no prefix yet: its plaintext gives it.
_SIGNING_COLUMNS = (
    "secret, previous_secret, previous_secret_expires_at, secret_name,"
    " coalesce(secret_prefix, left(secret, 10)) AS secret_prefix, secret_version, previous_version"
)
_ENDPOINT_COLUMNS = f"id, tenant_id, workflow, url, created_at, updated_at, {_SIGNING_COLUMNS}"
_TENANT_DEFAULT_COLUMNS = f"tenant_id, created_at, updated_at, {_SIGNING_COLUMNS}"
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
    conn: Connection,
    store: SecretStore,
    tenant_id: uuid.UUID,
    workflow: str,
    url: str,
    *,
    rotate: bool = False,
    overlap: timedelta = PREVIOUS_SECRET_GRACE,
) -> tuple[Endpoint, str | None, bool]:
    """Create the workflow's endpoint, or change its URL. Answers the endpoint, the new secret
    when one was made (on create, or when `rotate` asks for it; the old one keeps signing for
    `overlap`) else None, and whether the endpoint was created. Runs in the caller's
    transaction; the secret's material goes to Secrets Manager."""
    name = store.secret_name(tenant_id, "callback", workflow)
    fresh = SecretVersion(uuid.uuid4(), new_webhook_secret(), secrets_store.now())
    row = conn.execute(
        f"INSERT INTO callback_endpoints (id, tenant_id, workflow, url, secret_name,"
        f" secret_prefix, secret_version) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        f" ON CONFLICT (tenant_id, workflow) DO NOTHING RETURNING {_ENDPOINT_COLUMNS}",
        (uuid.uuid4(), tenant_id, workflow, url, name, prefix_of(fresh.secret), fresh.id),
    ).fetchone()
    if row is not None:
        store.write(conn, name, add=[fresh], prune_before=fresh.created_at, tenant_id=tenant_id)
        return Endpoint(**row), fresh.secret, True
    if not rotate:
        row = conn.execute(
            f"UPDATE callback_endpoints SET url = %s, updated_at = now()"
            f" WHERE tenant_id = %s AND workflow = %s RETURNING {_ENDPOINT_COLUMNS}",
            (url, tenant_id, workflow),
        ).fetchone()
        assert row is not None, "a conflicting endpoint must exist"
        return Endpoint(**row), None, False
    current = conn.execute(
        f"SELECT {_ENDPOINT_COLUMNS} FROM callback_endpoints"
        " WHERE tenant_id = %s AND workflow = %s FOR UPDATE",
        (tenant_id, workflow),
    ).fetchone()
    assert current is not None, "a conflicting endpoint must exist"
    signing = _rotate(conn, store, name, Endpoint(**current), fresh, overlap, tenant_id)
    row = conn.execute(
        f"UPDATE callback_endpoints SET url = %s, {_SET_SIGNING}, updated_at = now()"
        f" WHERE tenant_id = %s AND workflow = %s RETURNING {_ENDPOINT_COLUMNS}",
        (url, *signing, tenant_id, workflow),
    ).fetchone()
    assert row is not None
    return Endpoint(**row), fresh.secret, False


# Columns a rotation sets, in `_rotate`'s order: the plaintext ones emptied for good.
_SET_SIGNING = (
    "secret = NULL, previous_secret = NULL, secret_name = %s, secret_prefix = %s,"
    " secret_version = %s, previous_version = %s, previous_secret_expires_at = %s"
)


def _rotate(
    conn: Connection,
    store: SecretStore,
    name: str,
    old: _Signing,
    fresh: SecretVersion,
    overlap: timedelta,
    tenant_id: uuid.UUID,
) -> tuple[str, str, uuid.UUID, uuid.UUID, datetime]:
    """Store `fresh` as the current version and keep the current one signing for `overlap`;
    the version before that is deleted. A row still holding plaintext moves to Secrets Manager
    on the way: its current secret becomes the previous version there."""
    until = fresh.created_at + overlap
    add = [fresh]
    remove = []
    if old.secret is not None:
        moved = SecretVersion(uuid.uuid4(), old.secret, fresh.created_at, until)
        add.append(moved)
        previous_id = moved.id
    else:
        assert old.secret_version is not None
        previous_id = old.secret_version
        if old.previous_version is not None:
            remove.append(old.previous_version)
    store.write(
        conn,
        name,
        add=add,
        remove=remove,
        expire={previous_id: until},
        prune_before=fresh.created_at,
        tenant_id=tenant_id,
    )
    return name, prefix_of(fresh.secret), fresh.id, previous_id, until


def delete_endpoint(
    conn: Connection, store: SecretStore, tenant_id: uuid.UUID, workflow: str
) -> bool:
    """Remove the endpoint; its secrets are deleted from Secrets Manager with it."""
    deleted = conn.execute(
        "DELETE FROM callback_endpoints WHERE tenant_id = %s AND workflow = %s"
        " RETURNING secret_name, secret_version, previous_version",
        (tenant_id, workflow),
    ).fetchone()
    if deleted is None:
        return False
    if deleted["secret_name"] is not None:
        versions = [v for v in (deleted["secret_version"], deleted["previous_version"]) if v]
        store.write(conn, deleted["secret_name"], remove=versions)
    return True


# The tenant's default secret ------------------------------------------------------------------


def get_tenant_secret(
    conn: Connection, store: SecretStore, tenant_id: uuid.UUID, *, create: bool = False
) -> TenantSecret | None:
    """The tenant's default callback secret; with `create`, made on first need (in the
    caller's transaction)."""
    if create:
        name = store.secret_name(tenant_id, "callback", None)
        fresh = SecretVersion(uuid.uuid4(), new_webhook_secret(), secrets_store.now())
        made = conn.execute(
            "INSERT INTO callback_secrets (tenant_id, secret_name, secret_prefix, secret_version)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (tenant_id) DO NOTHING RETURNING tenant_id",
            (tenant_id, name, prefix_of(fresh.secret), fresh.id),
        ).fetchone()
        if made is not None:
            store.write(conn, name, add=[fresh], prune_before=fresh.created_at, tenant_id=tenant_id)
    row = conn.execute(
        f"SELECT {_TENANT_DEFAULT_COLUMNS} FROM callback_secrets WHERE tenant_id = %s", (tenant_id,)
    ).fetchone()
    return TenantSecret(**row) if row else None


def rotate_tenant_secret(
    conn: Connection,
    store: SecretStore,
    tenant_id: uuid.UUID,
    *,
    overlap: timedelta = PREVIOUS_SECRET_GRACE,
) -> tuple[TenantSecret, str]:
    """A new default secret; the one it replaces keeps signing for `overlap`."""
    name = store.secret_name(tenant_id, "callback", None)
    current = conn.execute(
        f"SELECT {_TENANT_DEFAULT_COLUMNS} FROM callback_secrets WHERE tenant_id = %s FOR UPDATE",
        (tenant_id,),
    ).fetchone()
    if current is None:
        made = get_tenant_secret(conn, store, tenant_id, create=True)
        assert made is not None
        assert made.secret_version is not None
        secret = store.versions(name, need=[made.secret_version])[made.secret_version].secret
        return made, secret
    fresh = SecretVersion(uuid.uuid4(), new_webhook_secret(), secrets_store.now())
    signing = _rotate(conn, store, name, TenantSecret(**current), fresh, overlap, tenant_id)
    row = conn.execute(
        f"UPDATE callback_secrets SET {_SET_SIGNING}, updated_at = now()"
        f" WHERE tenant_id = %s RETURNING {_TENANT_DEFAULT_COLUMNS}",
        (*signing, tenant_id),
    ).fetchone()
    assert row is not None
    return TenantSecret(**row), fresh.secret


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
