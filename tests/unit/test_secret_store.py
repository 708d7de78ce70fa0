"""The signing-secret store over a stand-in Secrets Manager client: cached reads, a fresh read
when Postgres names a version the cache lacks, and writes that merge, prune and read back."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from flightdeck.store.secrets import SecretStore, SecretsUnavailableError, SecretVersion

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


class ResourceNotFoundException(Exception):
    pass


@dataclass
class FakeSecretsManager:
    """The calls SecretStore makes, kept in a dict; `tamper` changes what is read back."""

    values: dict[str, str] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)
    tamper: bool = False
    exceptions: Any = field(
        default_factory=lambda: SimpleNamespace(ResourceNotFoundException=ResourceNotFoundException)
    )

    def get_secret_value(self, SecretId: str) -> dict[str, str]:
        self.reads.append(SecretId)
        if SecretId not in self.values:
            raise ResourceNotFoundException(f"ResourceNotFoundException: {SecretId}")
        value = self.values[SecretId]
        if self.tamper:
            value = json.dumps({"versions": {}})
        return {"SecretString": value}

    def create_secret(self, Name: str, SecretString: str, **_: Any) -> None:
        self.values[Name] = SecretString

    def put_secret_value(self, SecretId: str, SecretString: str) -> None:
        self.values[SecretId] = SecretString


class FakeTransaction:
    """A connection inside a transaction: records the advisory locks taken."""

    def __init__(self, status: str = "INTRANS") -> None:
        self.info = SimpleNamespace(transaction_status=SimpleNamespace(name=status))
        self.locked: list[str] = []

    def execute(self, query: str, params: tuple[Any, ...]) -> None:
        assert "pg_advisory_xact_lock" in query
        self.locked.append(params[0])


def version(material: str = "whsec_AAAA") -> SecretVersion:
    return SecretVersion(uuid.uuid4(), material, NOW)


@pytest.fixture
def client() -> FakeSecretsManager:
    return FakeSecretsManager()


@pytest.fixture
def store(client: FakeSecretsManager) -> SecretStore:
    return SecretStore(client, prefix="fd/tenants/", max_age=300)


def test_names_follow_tenant_kind_and_scope(store: SecretStore) -> None:
    tenant = uuid.UUID(int=1)
    assert store.secret_name(tenant, "webhook", None) == f"fd/tenants/{tenant}/webhook/_all"
    assert store.secret_name(tenant, "webhook", "triage") == f"fd/tenants/{tenant}/webhook/triage"
    assert store.secret_name(tenant, "callback", None) == f"fd/tenants/{tenant}/callback/_default"


def test_reads_are_served_from_the_cache_while_it_holds_what_is_needed(
    store: SecretStore, client: FakeSecretsManager
) -> None:
    first = version("whsec_first")
    store.write(FakeTransaction(), "n", add=[first])
    client.reads.clear()

    for _ in range(5):
        assert store.materials([("n", first.id)]) == ["whsec_first"]
    assert client.reads == []

    # A version made by another process since: one fresh read, then cached again
    second = version("whsec_second")
    other = SecretStore(client, prefix="fd/tenants/", max_age=300)
    other.write(FakeTransaction(), "n", add=[second])
    client.reads.clear()
    assert store.materials([("n", second.id), ("n", first.id)]) == [
        "whsec_second",
        "whsec_first",
    ]
    assert store.materials([("n", second.id)]) == ["whsec_second"]
    assert client.reads == ["n"]


def test_a_missing_secret_or_version_yields_no_material(store: SecretStore) -> None:
    assert store.versions("absent") == {}
    assert store.materials([("absent", uuid.uuid4())]) == []


def test_writes_merge_expire_remove_and_prune_under_a_lock(store: SecretStore) -> None:
    keep, drop, dead = version("whsec_keep"), version("whsec_drop"), version("whsec_dead")
    conn = FakeTransaction()
    store.write(conn, "n", add=[keep, drop, dead])

    held = store.write(
        conn,
        "n",
        remove=[drop.id],
        expire={keep.id: NOW + timedelta(hours=24), dead.id: NOW - timedelta(seconds=1)},
        prune_before=NOW,
    )

    assert set(held) == {keep.id}
    assert held[keep.id].expires_at == NOW + timedelta(hours=24)
    assert conn.locked == ["n", "n"]
    # An expiry is only ever brought forward
    store.write(conn, "n", expire={keep.id: NOW + timedelta(days=9)})
    assert store.versions("n")[keep.id].expires_at == NOW + timedelta(hours=24)


def test_a_write_needs_the_callers_transaction(store: SecretStore) -> None:
    with pytest.raises(RuntimeError, match="transaction"):
        store.write(FakeTransaction(status="IDLE"), "n", add=[version()])


def test_a_write_that_does_not_read_back_fails(
    store: SecretStore, client: FakeSecretsManager
) -> None:
    store.write(FakeTransaction(), "n", add=[version()])
    client.tamper = True

    with pytest.raises(SecretsUnavailableError, match="did not read back"):
        store.write(FakeTransaction(), "n", add=[version("whsec_more")])


def test_settings_default_to_a_five_minute_cache_and_a_day_of_overlap() -> None:
    from pydantic import ValidationError

    from flightdeck.settings import Settings

    settings = Settings(database_url="postgresql://x/y")
    assert settings.secrets_prefix == "flightdeck/tenants/"
    assert settings.secrets_cache_seconds == 300
    assert settings.secret_rotation_overlap_seconds == 24 * 3600
    # A prefix must be a Secrets Manager name ending in "/" (the stacks grant "<prefix>*")
    for bad in ("flightdeck/tenants", "has space/", ""):
        with pytest.raises(ValidationError):
            Settings(database_url="postgresql://x/y", secrets_prefix=bad)
