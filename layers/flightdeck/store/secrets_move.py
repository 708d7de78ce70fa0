"""The move of plaintext signing secrets from Postgres into Secrets Manager (after migration
0012), run where migrations run: the deploy-time migrator (`functions/migrate`) and `make dev`.

Per tenant, in one transaction holding the rows: each secret is written to its Secrets Manager
secret, read back and compared (`SecretStore.write`), and only then is its plaintext column
cleared. A failure rolls the tenant's transaction back with its plaintext intact; until a row
is moved, verification and signing keep using its plaintext, so no secret stops working at any
point. Running it again moves what is left and changes nothing already moved: version ids are
derived from the rows, so a repeated write of the same secret lands on the same version.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flightdeck.store import tenants
from flightdeck.store.db import Connection, scoped
from flightdeck.store.secrets import SecretStore, SecretVersion, prefix_of

# Fixed: the namespace of the version ids given to moved callback secrets.
_NAMESPACE = uuid.UUID("5f1c2a8e-3b7d-4c1e-9a0f-0c2d4e6f8a10")


@dataclass
class MoveReport:
    """How many rows had their secrets moved now."""

    webhook_secrets: int = 0
    callback_endpoints: int = 0
    callback_secrets: int = 0

    @property
    def total(self) -> int:
        return self.webhook_secrets + self.callback_endpoints + self.callback_secrets


def move_secrets(conn: Connection, store: SecretStore) -> MoveReport:
    """Move every plaintext webhook and callback secret into Secrets Manager."""
    report = MoveReport()
    with conn.transaction():
        tenant_ids = tenants.all_ids(conn)
    for tenant_id in tenant_ids:
        with scoped(conn, tenant_id):
            report.webhook_secrets += _webhook_secrets(conn, store, tenant_id)
            report.callback_endpoints += _callback_rows(
                conn, store, tenant_id, "callback_endpoints"
            )
            report.callback_secrets += _callback_rows(conn, store, tenant_id, "callback_secrets")
    return report


def _webhook_secrets(conn: Connection, store: SecretStore, tenant_id: uuid.UUID) -> int:
    rows = conn.execute(
        "SELECT id, workflow, secret, created_at, expires_at FROM webhook_secrets"
        " WHERE tenant_id = %s AND secret IS NOT NULL ORDER BY created_at FOR UPDATE",
        (tenant_id,),
    ).fetchall()
    by_name: dict[str, list[SecretVersion]] = defaultdict(list)
    for r in rows:
        name = store.secret_name(tenant_id, "webhook", r["workflow"])
        by_name[name].append(SecretVersion(r["id"], r["secret"], r["created_at"], r["expires_at"]))
    for name, versions in by_name.items():
        store.write(conn, name, add=versions, tenant_id=tenant_id)
        for v in versions:
            conn.execute(
                "UPDATE webhook_secrets SET secret = NULL, secret_name = %s, secret_prefix = %s"
                " WHERE id = %s",
                (name, prefix_of(v.secret), v.id),
            )
    return len(rows)


def _callback_rows(conn: Connection, store: SecretStore, tenant_id: uuid.UUID, table: str) -> int:
    endpoint = table == "callback_endpoints"
    key = "id" if endpoint else "tenant_id"
    workflow = "workflow" if endpoint else "NULL AS workflow"
    rows = conn.execute(
        f"SELECT {key} AS key, {workflow}, secret, previous_secret, previous_secret_expires_at,"
        f" created_at, updated_at FROM {table}"
        " WHERE tenant_id = %s AND secret IS NOT NULL FOR UPDATE",
        (tenant_id,),
    ).fetchall()
    for r in rows:
        name = store.secret_name(tenant_id, "callback", r["workflow"])
        current = SecretVersion(_version_id(table, r, "current"), r["secret"], r["updated_at"])
        add = [current]
        previous_id = None
        if r["previous_secret"]:
            previous = SecretVersion(
                _version_id(table, r, "previous"),
                r["previous_secret"],
                r["updated_at"],
                r["previous_secret_expires_at"] or r["updated_at"],
            )
            add.append(previous)
            previous_id = previous.id
        store.write(conn, name, add=add, tenant_id=tenant_id)
        conn.execute(
            f"UPDATE {table} SET secret = NULL, previous_secret = NULL, secret_name = %s,"
            f" secret_prefix = %s, secret_version = %s, previous_version = %s"
            f" WHERE {key} = %s",
            (name, prefix_of(current.secret), current.id, previous_id, r["key"]),
        )
    return len(rows)


def _version_id(table: str, row: dict[str, Any], which: str) -> uuid.UUID:
    """The same id each time the same row's secret is moved (a repeated move after a crash)."""
    stamp: datetime = row["updated_at"]
    return uuid.uuid5(_NAMESPACE, f"{table}:{row['key']}:{stamp.isoformat()}:{which}")
