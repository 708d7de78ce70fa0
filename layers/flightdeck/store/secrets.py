"""Signing secrets in AWS Secrets Manager: the Standard Webhooks secrets that verify incoming
webhooks and the secrets that sign outbound callbacks.

Layout. One Secrets Manager secret per tenant and scope, named by `secret_name`:
`{prefix}{tenant id}/webhook/{workflow or _all}` and `{prefix}{tenant id}/callback/{workflow
or _default}`. Its value is JSON holding every version with its validity window:

    {"versions": {"<version id>": {"secret": "whsec_...", "created_at": "<ISO 8601>",
                                   "expires_at": "<ISO 8601>" | null}}}

A list of versions rather than Secrets Manager's AWSCURRENT/AWSPREVIOUS stages, because
several webhook secrets may verify at once, each with its own expiry (rotation with an overlap,
a secret per workflow beside the tenant-wide one), which two stages cannot express.

Postgres keeps the metadata only (version ids, scope, the secret's name, created and expiry
times, a short prefix for lists) and is the authority on validity: a webhook is verified with
the versions Postgres named for its tenant and workflow (kept by the process as a keyring,
`flightdeck.store.tenants.webhook_keyring`), and the statement that inserts its run checks that
the version which verified it is still valid (migration 0017), so expiring or revoking a secret
takes effect in every process at once.

Caching. Values are read through Powertools Parameters (`SecretsProvider`) with
`max_age = Settings.secrets_cache_seconds`, so a warm process makes no Secrets Manager call
per request. A version id Postgres names that the cached value lacks (made by another process
since) forces one fresh read. Revoking removes the material from the secret and refreshes the
revoking process's cache; another process may keep the removed material in memory (in this
cache and in its keyrings) for up to `max_age`, without using it, as Postgres no longer names
it. A keyring that cannot verify a delivery is read again at once (a secret added since).

Writes are read-modify-write of the whole value, serialised by a Postgres advisory lock on the
secret's name held by the caller's transaction, and read back before they count.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from flightdeck.errors import TransientError

if TYPE_CHECKING:
    from flightdeck.store.db import Connection

Kind = Literal["webhook", "callback"]
# The scope of a tenant-wide webhook secret and of the tenant's default callback secret.
ALL_WORKFLOWS = "_all"
DEFAULT_CALLBACK = "_default"
# Enough of a secret to tell two apart in a list; never enough to use it.
PREFIX_LENGTH = len("whsec_") + 4


class SecretsUnavailableError(TransientError):
    """Secrets Manager could not be read or written; worth retrying."""

    status = 503
    title = "Secrets unavailable"


@dataclass(frozen=True)
class SecretVersion:
    id: uuid.UUID
    secret: str
    created_at: datetime
    expires_at: datetime | None = None

    def valid_at(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now

    def to_json(self) -> dict[str, Any]:
        return {
            "secret": self.secret,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }

    @classmethod
    def from_json(cls, version_id: str, data: Mapping[str, Any]) -> SecretVersion:
        expires = data.get("expires_at")
        return cls(
            uuid.UUID(version_id),
            str(data["secret"]),
            datetime.fromisoformat(data["created_at"]),
            datetime.fromisoformat(expires) if expires else None,
        )


def prefix_of(secret: str) -> str:
    return secret[:PREFIX_LENGTH]


def _parse(value: Any) -> dict[uuid.UUID, SecretVersion]:
    if isinstance(value, (str, bytes)):
        value = json.loads(value)
    versions = value.get("versions", {}) if isinstance(value, dict) else {}
    return {uuid.UUID(k): SecretVersion.from_json(k, v) for k, v in versions.items()}


class SecretStore:
    """Reads (cached) and writes of the tenants' signing secrets.

    `client` is a boto3 Secrets Manager client (the emulator's locally, moto's in tests).
    """

    def __init__(self, client: Any, *, prefix: str, max_age: int) -> None:
        self._client = client
        self.prefix = prefix
        self.max_age = max_age
        self._provider: Any = None
        # The webhook keyrings built from this store's material (`flightdeck.store.tenants.
        # webhook_keyring`), kept as long as the material they hold, oldest first.
        self.keyrings: dict[tuple[str, str], Any] = {}

    def secret_name(self, tenant_id: uuid.UUID, kind: Kind, scope: str | None) -> str:
        default = ALL_WORKFLOWS if kind == "webhook" else DEFAULT_CALLBACK
        return f"{self.prefix}{tenant_id}/{kind}/{scope or default}"

    @property
    def provider(self) -> Any:
        # Imported on first use: the API's cold start does not pay for it.
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            self._provider = SecretsProvider(boto3_client=self._client)
        return self._provider

    # Reading --------------------------------------------------------------------------------

    def versions(
        self, name: str, *, need: Iterable[uuid.UUID] = ()
    ) -> dict[uuid.UUID, SecretVersion]:
        """The secret's versions, from the process cache while it is fresh and holds every id
        in `need`; else read again once."""
        found = self._cached(name, force=False)
        if any(v not in found for v in need):
            found = self._cached(name, force=True)
        return found

    def materials(self, wanted: Iterable[tuple[str, uuid.UUID]]) -> list[str]:
        """The secrets of the (secret name, version id) pairs, in the order given; a version the
        secret does not hold (revoked meanwhile) is left out."""
        pairs = list(wanted)
        held = self.held(pairs)
        return [held[pair] for pair in pairs if pair in held]

    def held(self, pairs: Iterable[tuple[str, uuid.UUID]]) -> dict[tuple[str, uuid.UUID], str]:
        """The secret of each (secret name, version id) pair its secret holds."""
        by_name: dict[str, list[uuid.UUID]] = {}
        for name, version_id in pairs:
            by_name.setdefault(name, []).append(version_id)
        found: dict[tuple[str, uuid.UUID], str] = {}
        for name, ids in by_name.items():
            versions = self.versions(name, need=ids)
            found.update({(name, v): versions[v].secret for v in ids if v in versions})
        return found

    def _cached(self, name: str, *, force: bool) -> dict[uuid.UUID, SecretVersion]:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = self.provider.get(
                name, max_age=self.max_age, transform="json", force_fetch=force
            )
        except GetParameterError as exc:
            if "ResourceNotFoundException" in str(exc):
                return {}
            raise SecretsUnavailableError(f"cannot read signing secrets: {exc}") from exc
        return _parse(value)

    def _fresh(self, name: str) -> dict[uuid.UUID, SecretVersion] | None:
        """The stored value, bypassing every cache; None when the secret does not exist."""
        try:
            value = self._client.get_secret_value(SecretId=name)["SecretString"]
        except self._client.exceptions.ResourceNotFoundException:
            return None
        except Exception as exc:
            raise SecretsUnavailableError(f"cannot read signing secrets: {exc}") from exc
        return _parse(value)

    # Writing --------------------------------------------------------------------------------

    def write(
        self,
        conn: Connection,
        name: str,
        *,
        add: Iterable[SecretVersion] = (),
        remove: Iterable[uuid.UUID] = (),
        expire: Mapping[uuid.UUID, datetime] | None = None,
        prune_before: datetime | None = None,
        tenant_id: uuid.UUID | None = None,
    ) -> dict[uuid.UUID, SecretVersion]:
        """Add versions, remove others and shorten expiries, then read the result back.

        Runs inside the caller's transaction, which holds an advisory lock on `name` until it
        ends, so two writers never lose each other's versions. Versions whose expiry is before
        `prune_before` are dropped (they can never verify again). Raises
        `SecretsUnavailableError` when the value read back is not the one written; the caller's
        transaction then rolls back and Postgres names nothing that is not stored.
        """
        if conn.info.transaction_status.name == "IDLE":
            raise RuntimeError("SecretStore.write needs the caller's transaction")
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (name,))
        stored = self._fresh(name)
        merged = dict(stored or {})
        for version in add:
            merged[version.id] = version
        for version_id in remove:
            merged.pop(version_id, None)
        for version_id, when in (expire or {}).items():
            old = merged.get(version_id)
            if old is not None and (old.expires_at is None or old.expires_at > when):
                merged[version_id] = SecretVersion(old.id, old.secret, old.created_at, when)
        if prune_before is not None:
            merged = {
                k: v
                for k, v in merged.items()
                if v.expires_at is None or v.expires_at >= prune_before
            }
        body = json.dumps({"versions": {str(k): v.to_json() for k, v in merged.items()}})
        try:
            if stored is None:
                tags = [{"Key": "flightdeck:tenant", "Value": str(tenant_id)}] if tenant_id else []
                self._client.create_secret(
                    Name=name,
                    SecretString=body,
                    Description="Flightdeck signing secrets (versions with validity windows)",
                    Tags=tags,
                )
            else:
                self._client.put_secret_value(SecretId=name, SecretString=body)
        except Exception as exc:
            raise SecretsUnavailableError(f"cannot store signing secrets: {exc}") from exc
        # Read back through the cache: proves the write and refreshes this process's copy.
        back = self._cached(name, force=True)
        if {k: v.secret for k, v in back.items()} != {k: v.secret for k, v in merged.items()}:
            raise SecretsUnavailableError(f"signing secrets {name} did not read back as written")
        return back


def now() -> datetime:
    return datetime.now(UTC)
