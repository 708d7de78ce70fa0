"""Tenants, API tokens and webhook secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from flightdeck.store import secrets as secrets_store
from flightdeck.store.db import Connection
from flightdeck.store.secrets import SecretStore, SecretVersion, prefix_of

Role = Literal["viewer", "operator", "admin"]
TOKEN_PREFIX = "fd"  # noqa: S105 - the visible prefix of every token, not a secret


@dataclass(frozen=True)
class Tenant:
    id: uuid.UUID
    slug: str
    name: str


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved from a bearer token. `tenant_id` is the tenant the request
    acts on: the token's own (`home_tenant_id`), or one granted to an admin."""

    tenant_id: uuid.UUID
    token_id: uuid.UUID
    role: Role
    home_tenant_id: uuid.UUID

    @property
    def actor(self) -> str:
        return f"token:{self.token_id}"


@dataclass(frozen=True)
class TokenInfo:
    id: uuid.UUID
    prefix: str
    role: Role
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class SecretInfo:
    id: uuid.UUID
    workflow: str | None
    prefix: str
    created_at: datetime
    expires_at: datetime | None


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


def issue_token(
    conn: Connection,
    tenant_id: uuid.UUID,
    role: Role,
    name: str = "",
    *,
    session_until: datetime | None = None,
) -> IssuedToken:
    """A new token. With `session_until`, a dashboard session token that stops working then."""
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    token_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO api_tokens (id, tenant_id, prefix, secret_hash, role, name, kind, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            token_id,
            tenant_id,
            prefix,
            _hash(secret),
            role,
            name,
            "api" if session_until is None else "session",
            session_until,
        ),
    )
    return IssuedToken(token_id, prefix, role, f"{TOKEN_PREFIX}_{prefix}_{secret}")


def authenticate(conn: Connection, token: str) -> Principal | None:
    """The principal a bearer token stands for, or None if it is unknown, revoked or expired."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    _, prefix, secret = parts
    row = conn.execute(
        "SELECT id, tenant_id, role, secret_hash FROM api_tokens"
        " WHERE prefix = %s AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > now())",
        (prefix,),
    ).fetchone()
    if row is None or not hmac.compare_digest(bytes(row["secret_hash"]), _hash(secret)):
        return None
    conn.execute(
        "UPDATE api_tokens SET last_used_at = now() WHERE id = %s"
        " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        (row["id"],),
    )
    return Principal(row["tenant_id"], row["id"], row["role"], row["tenant_id"])


def list_tokens(conn: Connection, tenant_id: uuid.UUID) -> list[TokenInfo]:
    rows = conn.execute(
        "SELECT id, prefix, role, name, created_at, revoked_at, last_used_at FROM api_tokens"
        " WHERE tenant_id = %s ORDER BY created_at",
        (tenant_id,),
    ).fetchall()
    return [TokenInfo(**r) for r in rows]


def revoke_token(conn: Connection, tenant_id: uuid.UUID, token_id: uuid.UUID) -> bool:
    """True if the tenant had this token and it was live until now."""
    cur = conn.execute(
        "UPDATE api_tokens SET revoked_at = now()"
        " WHERE id = %s AND tenant_id = %s AND revoked_at IS NULL",
        (token_id, tenant_id),
    )
    return cur.rowcount == 1


def grant(conn: Connection, grantee_tenant_id: uuid.UUID, tenant_id: uuid.UUID) -> None:
    conn.execute(
        "INSERT INTO tenant_grants (grantee_tenant_id, tenant_id) VALUES (%s, %s)"
        " ON CONFLICT DO NOTHING",
        (grantee_tenant_id, tenant_id),
    )


def granted(conn: Connection, grantee_tenant_id: uuid.UUID) -> list[Tenant]:
    """The grantee's own tenant and every tenant granted to it."""
    rows = conn.execute(
        "SELECT id, slug, name FROM tenants WHERE id = %s OR id IN"
        " (SELECT tenant_id FROM tenant_grants WHERE grantee_tenant_id = %s) ORDER BY slug",
        (grantee_tenant_id, grantee_tenant_id),
    ).fetchall()
    return [Tenant(r["id"], r["slug"], r["name"]) for r in rows]


def is_granted(conn: Connection, grantee_tenant_id: uuid.UUID, tenant_id: uuid.UUID) -> bool:
    row = conn.execute(
        "SELECT 1 FROM tenant_grants WHERE grantee_tenant_id = %s AND tenant_id = %s",
        (grantee_tenant_id, tenant_id),
    ).fetchone()
    return row is not None


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def add_webhook_secret(
    conn: Connection,
    store: SecretStore,
    tenant_id: uuid.UUID,
    workflow: str | None,
    secret: str | None = None,
) -> str:
    return create_webhook_secret(conn, store, tenant_id, workflow, secret)[1]


def create_webhook_secret(
    conn: Connection,
    store: SecretStore,
    tenant_id: uuid.UUID,
    workflow: str | None,
    secret: str | None = None,
) -> tuple[uuid.UUID, str]:
    """A new secret, valid beside the others: its material in Secrets Manager, its metadata
    here. Runs in the caller's transaction, which rolls back if Secrets Manager fails."""
    secret = secret or new_webhook_secret()
    version = SecretVersion(uuid.uuid4(), secret, secrets_store.now())
    name = store.secret_name(tenant_id, "webhook", workflow)
    conn.execute(
        "INSERT INTO webhook_secrets (id, tenant_id, workflow, secret_name, secret_prefix,"
        " created_at) VALUES (%s, %s, %s, %s, %s, %s)",
        (version.id, tenant_id, workflow, name, prefix_of(secret), version.created_at),
    )
    store.write(conn, name, add=[version], prune_before=version.created_at, tenant_id=tenant_id)
    return version.id, secret


def list_webhook_secrets(conn: Connection, tenant_id: uuid.UUID) -> list[SecretInfo]:
    rows = conn.execute(
        "SELECT id, workflow, coalesce(secret_prefix, left(secret, 10)) AS prefix, created_at,"
        " expires_at"
        " FROM webhook_secrets WHERE tenant_id = %s ORDER BY created_at",
        (tenant_id,),
    ).fetchall()
    return [SecretInfo(**r) for r in rows]


def expire_webhook_secret(
    conn: Connection,
    store: SecretStore,
    tenant_id: uuid.UUID,
    secret_id: uuid.UUID,
    grace_seconds: int,
) -> bool:
    """Stop accepting a secret after `grace_seconds`, for rotation; with 0 it is revoked: it
    refuses at once and its material is deleted from Secrets Manager. Runs in the caller's
    transaction."""
    row = conn.execute(
        "UPDATE webhook_secrets SET expires_at = now() + make_interval(secs => %s)"
        " WHERE id = %s AND tenant_id = %s"
        " AND (expires_at IS NULL OR expires_at > now() + make_interval(secs => %s))"
        " RETURNING secret_name, expires_at",
        (grace_seconds, secret_id, tenant_id, grace_seconds),
    ).fetchone()
    if row is None:
        return False
    if row["secret_name"] is not None:
        if grace_seconds == 0:
            store.write(conn, row["secret_name"], remove=[secret_id])
        else:
            store.write(conn, row["secret_name"], expire={secret_id: row["expires_at"]})
    return True


def rotate_webhook_secret(
    conn: Connection,
    store: SecretStore,
    tenant_id: uuid.UUID,
    secret_id: uuid.UUID,
    overlap_seconds: int,
) -> tuple[uuid.UUID, str, str | None] | None:
    """A new secret for the same workflow scope as `secret_id`, which keeps verifying for
    `overlap_seconds` more (or until it expires, if sooner). Answers the new secret's id, the
    secret and its scope; None when `secret_id` is unknown or no longer valid. Runs in the
    caller's transaction."""
    row = conn.execute(
        "SELECT workflow FROM webhook_secrets WHERE id = %s AND tenant_id = %s"
        " AND (expires_at IS NULL OR expires_at > now()) FOR UPDATE",
        (secret_id, tenant_id),
    ).fetchone()
    if row is None:
        return None
    new_id, secret = create_webhook_secret(conn, store, tenant_id, row["workflow"])
    # False when it already expires within the overlap: it keeps that earlier expiry.
    expire_webhook_secret(conn, store, tenant_id, secret_id, overlap_seconds)
    return new_id, secret, row["workflow"]


@dataclass(frozen=True)
class WebhookKeyring:
    """The tenant a webhook's slug names and the secret versions that may verify its
    deliveries to one workflow, newest first: (version id, secret)."""

    tenant_id: uuid.UUID
    secrets: tuple[tuple[uuid.UUID, str], ...]
    read_at: float


# Keyrings a process keeps (per secret store): enough for every tenant and workflow of an
# agency's platform; the oldest goes first beyond it.
KEYRING_CACHE_SIZE = 1024


def webhook_keyring(
    connection: Callable[[], AbstractContextManager[Connection]],
    store: SecretStore,
    slug: str,
    workflow: str,
    *,
    fresh: bool = False,
) -> WebhookKeyring | None:
    """The webhook keyring of (`slug`, `workflow`), None when no tenant has that slug.

    Kept in the process (beside the secret material, for at most the store's `max_age`) so a
    warm process verifies a delivery without a database round trip. A kept keyring may be
    stale, never wrongly trusted: a delivery it cannot verify asks again (`fresh=True`: a
    secret added since), and the run insert itself checks that the version that verified is
    still valid (`flightdeck.store.runs.start_run`), so expiring or revoking a secret refuses
    at once in every process. Unknown slugs are not kept."""
    key = (slug, workflow)
    kept = store.keyrings.get(key)
    if kept is not None and not fresh and time.monotonic() - kept.read_at < store.max_age:
        return kept
    with connection() as conn:
        row = conn.execute(
            "SELECT tenant_id, secrets, plain_ids, secret_names, secret_ids"
            " FROM flightdeck_webhook_secrets(%s, %s)",
            (slug, workflow),
        ).fetchone()
    if row is None:
        store.keyrings.pop(key, None)
        return None
    pairs = list(zip(row["secret_names"], row["secret_ids"], strict=True))
    held = store.held(pairs)
    # A version its secret no longer holds (revoked meanwhile) is left out.
    moved = [(pair[1], held[pair]) for pair in pairs if pair in held]
    plain = list(zip(row["plain_ids"], row["secrets"], strict=True))
    keyring = WebhookKeyring(row["tenant_id"], (*moved, *plain), time.monotonic())
    store.keyrings.pop(key, None)
    store.keyrings[key] = keyring
    while len(store.keyrings) > KEYRING_CACHE_SIZE:
        store.keyrings.pop(next(iter(store.keyrings)))
    return keyring


def webhook_secrets_for_slug(
    conn: Connection, store: SecretStore, slug: str, workflow: str
) -> tuple[uuid.UUID | None, list[str]]:
    """The tenant a webhook names and every secret valid for it, read now (not kept)."""
    keyring = webhook_keyring(lambda: nullcontext(conn), store, slug, workflow, fresh=True)
    if keyring is None:
        return None, []
    return keyring.tenant_id, [secret for _, secret in keyring.secrets]


def webhook_secrets(
    conn: Connection, store: SecretStore, tenant_id: uuid.UUID, workflow: str
) -> list[str]:
    """Every secret currently valid for the tenant's webhooks to `workflow`."""
    rows = conn.execute(
        "SELECT id, secret, secret_name FROM webhook_secrets WHERE tenant_id = %s"
        " AND (workflow IS NULL OR workflow = %s)"
        " AND (expires_at IS NULL OR expires_at > now()) ORDER BY created_at DESC",
        (tenant_id, workflow),
    ).fetchall()
    moved = store.materials((r["secret_name"], r["id"]) for r in rows if r["secret"] is None)
    return [*moved, *(r["secret"] for r in rows if r["secret"] is not None)]
