"""The dashboard's sign-in: one-time codes exchanged for session tokens.

An admin creates a code for a tenant and a role and sends it as a link; the person who opens the
link gets a session token (an `api_tokens` row of kind `session`) that expires on its own. A code
works once: the exchange marks it used in the same statement that finds it.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flightdeck.store import tenants
from flightdeck.store.db import Connection
from flightdeck.store.tenants import IssuedToken, Role

SESSION_HOURS = 12
CODE_PREFIX = "fdsi_"


@dataclass(frozen=True)
class SignInCode:
    code: str  # shown once, never stored
    role: Role
    expires_at: datetime


@dataclass(frozen=True)
class Session:
    token: IssuedToken
    tenant_id: uuid.UUID
    expires_at: datetime


@dataclass(frozen=True)
class Caller:
    """What `GET /v1/me` says about a token."""

    tenant_id: uuid.UUID
    tenant_slug: str
    tenant_name: str
    token_prefix: str
    expires_at: datetime | None


def _hash(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()


def create_code(
    conn: Connection, tenant_id: uuid.UUID, role: Role, ttl: timedelta, created_by: str
) -> SignInCode:
    code = CODE_PREFIX + secrets.token_urlsafe(24)
    row = conn.execute(
        "INSERT INTO sign_in_codes (id, tenant_id, code_hash, role, created_by, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, now() + %s) RETURNING expires_at",
        (uuid.uuid4(), tenant_id, _hash(code), role, created_by, ttl),
    ).fetchone()
    assert row is not None
    return SignInCode(code, role, row["expires_at"])


def exchange(conn: Connection, code: str) -> Session | None:
    """A session token for a live, unused code (which is used up); None for any other code."""
    row = conn.execute(
        "UPDATE sign_in_codes SET used_at = now()"
        " WHERE code_hash = %s AND used_at IS NULL AND expires_at > now()"
        " RETURNING id, tenant_id, role, now() + %s AS session_until",
        (_hash(code), timedelta(hours=SESSION_HOURS)),
    ).fetchone()
    if row is None:
        return None
    token = tenants.issue_token(
        conn,
        row["tenant_id"],
        row["role"],
        "dashboard session",
        session_until=row["session_until"],
    )
    conn.execute("UPDATE sign_in_codes SET token_id = %s WHERE id = %s", (token.id, row["id"]))
    return Session(token, row["tenant_id"], row["session_until"])


def describe(conn: Connection, tenant_id: uuid.UUID, token_id: uuid.UUID) -> Caller:
    row = conn.execute(
        "SELECT t.id, t.slug, t.name, k.prefix, k.expires_at"
        " FROM api_tokens k, tenants t WHERE k.id = %s AND t.id = %s",
        (token_id, tenant_id),
    ).fetchone()
    assert row is not None, "an authenticated token has a row"
    return Caller(row["id"], row["slug"], row["name"], row["prefix"], row["expires_at"])


def end(conn: Connection, token_id: uuid.UUID) -> bool:
    """Revoke a session token; True if it was one and was live. API tokens are left alone."""
    cur = conn.execute(
        "UPDATE api_tokens SET revoked_at = now()"
        " WHERE id = %s AND kind = 'session' AND revoked_at IS NULL",
        (token_id,),
    )
    return cur.rowcount == 1
