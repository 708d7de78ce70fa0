"""Tenants, API tokens and webhook secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Literal

from flightdeck.store.db import Connection

Role = Literal["viewer", "operator", "admin"]
TOKEN_PREFIX = "fd"  # noqa: S105 - the visible prefix of every token, not a secret


@dataclass(frozen=True)
class Tenant:
    id: uuid.UUID
    slug: str
    name: str


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved from a bearer token."""

    tenant_id: uuid.UUID
    token_id: uuid.UUID
    role: Role


@dataclass(frozen=True)
class IssuedToken:
    id: uuid.UUID
    prefix: str
    role: Role
    # The whole token; shown once, never stored.
    token: str


def create_tenant(conn: Connection, slug: str, name: str) -> Tenant:
    tenant = Tenant(uuid.uuid4(), slug, name)
    conn.execute(
        "INSERT INTO tenants (id, slug, name) VALUES (%s, %s, %s)",
        (tenant.id, tenant.slug, tenant.name),
    )
    return tenant


def get_tenant_by_slug(conn: Connection, slug: str) -> Tenant | None:
    row = conn.execute("SELECT id, slug, name FROM tenants WHERE slug = %s", (slug,)).fetchone()
    return Tenant(row["id"], row["slug"], row["name"]) if row else None


def all_ids(conn: Connection) -> list[uuid.UUID]:
    return [r["id"] for r in conn.execute("SELECT id FROM tenants ORDER BY created_at")]


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def issue_token(conn: Connection, tenant_id: uuid.UUID, role: Role, name: str = "") -> IssuedToken:
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    token_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO api_tokens (id, tenant_id, prefix, secret_hash, role, name)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (token_id, tenant_id, prefix, _hash(secret), role, name),
    )
    return IssuedToken(token_id, prefix, role, f"{TOKEN_PREFIX}_{prefix}_{secret}")


def authenticate(conn: Connection, token: str) -> Principal | None:
    """The principal a bearer token stands for, or None if it is unknown or revoked."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    _, prefix, secret = parts
    row = conn.execute(
        "SELECT id, tenant_id, role, secret_hash FROM api_tokens"
        " WHERE prefix = %s AND revoked_at IS NULL",
        (prefix,),
    ).fetchone()
    if row is None or not hmac.compare_digest(bytes(row["secret_hash"]), _hash(secret)):
        return None
    return Principal(row["tenant_id"], row["id"], row["role"])


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def add_webhook_secret(
    conn: Connection, tenant_id: uuid.UUID, workflow: str | None, secret: str | None = None
) -> str:
    secret = secret or new_webhook_secret()
    conn.execute(
        "INSERT INTO webhook_secrets (id, tenant_id, workflow, secret) VALUES (%s, %s, %s, %s)",
        (uuid.uuid4(), tenant_id, workflow, secret),
    )
    return secret


def webhook_secrets(conn: Connection, tenant_id: uuid.UUID, workflow: str) -> list[str]:
    """Every secret currently valid for the tenant's webhooks to `workflow`."""
    rows = conn.execute(
        "SELECT secret FROM webhook_secrets WHERE tenant_id = %s"
        " AND (workflow IS NULL OR workflow = %s)"
        " AND (expires_at IS NULL OR expires_at > now()) ORDER BY created_at DESC",
        (tenant_id, workflow),
    ).fetchall()
    return [r["secret"] for r in rows]
