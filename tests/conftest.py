"""Fixtures shared by the tiers: embedded Postgres (one server, one database per test), the AWS
emulator (one server, one set of state machines per test) and a seeded platform."""

from __future__ import annotations

import itertools
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

EVENTS = Path(__file__).parent / "events"
TEST_WORKFLOW_PACKAGES = "flightdeck.workflows,tests.workflows"
_counter = itertools.count()


def load_event(name: str) -> dict[str, Any]:
    """A canonical event from tests/events/."""
    return json.loads((EVENTS / f"{name}.json").read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], *, timeout: float = 60.0, every: float = 0.05) -> Any:
    """Poll until `predicate` returns something truthy; fail with what it last returned."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from flightdeck.local.postgres import EmbeddedPostgres
    from flightdeck.store.db import connect
    from flightdeck.store.migrate import migrate

    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg")).start()
    # One migrated template; every test gets a copy of it (its own database).
    with connect(server.ensure_database("fd_template")) as conn:
        migrate(conn)
    yield server
    server.stop()


@pytest.fixture
def database_url(postgres: Any) -> str:
    return str(postgres.ensure_database(f"t_{uuid.uuid4().hex[:12]}", template="fd_template"))


@pytest.fixture
def conn(database_url: str) -> Iterator[Any]:
    from flightdeck.store.db import connect

    with connect(database_url) as connection:
        yield connection


@pytest.fixture(scope="session")
def emulator() -> Iterator[Any]:
    from flightdeck.local.emulator import Emulator

    server = Emulator(port=free_port()).start()
    yield server
    server.stop()


@dataclass
class Platform:
    """The platform as the Lambda handlers see it, wired to this test's database and
    state machines."""

    services: Any
    emulator: Any
    tenant_id: uuid.UUID
    api_token: str
    webhook_secret: str
    machines: dict[str, str]

    def run(self, run_id: uuid.UUID, tenant_id: uuid.UUID | None = None) -> Any:
        from flightdeck.store import runs

        with self.services.tenant(tenant_id or self.tenant_id) as c:
            return runs.get_run(c, run_id)

    def events(self, run_id: uuid.UUID) -> list[Any]:
        from flightdeck.store import runs

        with self.services.tenant(self.tenant_id) as c:
            return runs.list_events(c, run_id)

    def wait_status(
        self,
        run_id: uuid.UUID,
        *statuses: str,
        timeout: float = 60.0,
        tenant_id: uuid.UUID | None = None,
    ) -> Any:
        return wait_for(
            lambda: (r := self.run(run_id, tenant_id)) is not None and r.status in statuses and r,
            timeout=timeout,
        )

    def pending_approval(
        self, run_id: uuid.UUID, timeout: float = 60.0, tenant_id: uuid.UUID | None = None
    ) -> Any:
        from flightdeck.store import approvals

        def find() -> Any:
            run = self.run(run_id, tenant_id)
            if run is None or run.status != "waiting_for_approval":
                return None
            with self.services.tenant(tenant_id or self.tenant_id) as c:
                found = [a for a in approvals.list_for_run(c, run_id) if a.status == "pending"]
            return found[0] if found and found[0].has_token else None

        return wait_for(find, timeout=timeout)

    def execution_status(self, run_id: uuid.UUID) -> str:
        run = self.run(run_id)
        arn = self.machines[run.workflow].replace(":stateMachine:", ":execution:")
        sfn = self.services.sfn
        return str(sfn.describe_execution(executionArn=f"{arn}:{run.execution_name}")["status"])

    def park(self, workflow: str, payload: dict[str, Any]) -> uuid.UUID:
        """A queued run with no execution: the test drives the node runner itself."""
        from flightdeck.engine.runs import canonical_sha256
        from flightdeck.store import runs

        wf = self.services.registry.get(workflow)
        trigger = wf.parse_trigger(payload)
        with self.services.tenant(self.tenant_id) as c, c.transaction():
            run, _ = runs.insert_run(
                c,
                run_id=uuid.uuid4(),
                tenant_id=self.tenant_id,
                workflow=workflow,
                workflow_version=wf.manifest.version,
                idempotency_key=f"parked-{uuid.uuid4()}",
                trigger_source="api",
                trigger_payload=trigger,
                trigger_ref=None,
                trigger_sha256=canonical_sha256(trigger),
                execution_name="manual",
            )
        return run.id  # type: ignore[no-any-return]

    def start(self, workflow: str, payload: dict[str, Any], key: str | None = None) -> uuid.UUID:
        started = self.services.runs.start(
            tenant_id=self.tenant_id,
            workflow_name=workflow,
            payload=payload,
            idempotency_key=key or f"test-{uuid.uuid4()}",
            source="api",
        )
        return started.run.id  # type: ignore[no-any-return]


@pytest.fixture
def platform(
    database_url: str, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Platform]:
    from flightdeck.local.dev import configure_environment
    from flightdeck.local.seed import seed_demo
    from flightdeck.services import reset_services, services
    from flightdeck.settings import EnvVar

    prefix = f"t{next(_counter)}-{uuid.uuid4().hex[:6]}-"
    for var in EnvVar:
        monkeypatch.delenv(var, raising=False)
    configure_environment(database_url, emulator, Path("."), prefix)
    monkeypatch.setenv(EnvVar.STAGE, "test")
    monkeypatch.setenv(EnvVar.WORKFLOW_PACKAGES, TEST_WORKFLOW_PACKAGES)
    monkeypatch.setenv(EnvVar.ARTIFACT_BUCKET, f"{prefix}artifacts")
    reset_services()
    svc = services()
    machines = emulator.deploy(svc.registry, prefix=prefix, bucket=f"{prefix}artifacts")
    with svc.connection() as c:
        creds = seed_demo(c, svc.registry, knowledge=svc.knowledge, secrets=svc.secrets)
    yield Platform(
        services=svc,
        emulator=emulator,
        tenant_id=uuid.UUID(creds.tenant_id),
        api_token=creds.api_token,
        webhook_secret=creds.webhook_secret,
        machines=machines,
    )
    reset_services()


def open_waiting_approval(
    conn: Any, tenant_id: uuid.UUID, *, age: timedelta, workflow: str = "support_triage"
) -> uuid.UUID:
    """A run waiting on an approval opened `age` ago, written straight to the store in the
    caller's tenant transaction (metrics and alarms read the approval's age)."""
    from flightdeck.engine.runs import canonical_sha256
    from flightdeck.store import approvals, runs

    run, _ = runs.insert_run(
        conn,
        run_id=uuid.uuid4(),
        tenant_id=tenant_id,
        workflow=workflow,
        workflow_version="1",
        idempotency_key=f"waiting-{uuid.uuid4()}",
        trigger_source="api",
        trigger_payload={},
        trigger_ref=None,
        trigger_sha256=canonical_sha256({}),
        execution_name="manual",
    )
    approval = approvals.open_request(
        conn,
        tenant_id=tenant_id,
        run_id=run.id,
        node="decide",
        interrupt_id="review",
        request={"draft": "refund"},
        timeout_seconds=86_400,
    )
    conn.execute("UPDATE approvals SET created_at = now() - %s WHERE id = %s", (age, approval.id))
    return approval.id


def lambda_context(function_name: str = "flightdeck-test") -> Any:
    """The one Lambda-context factory the tests use: the emulator's, as handlers see it."""
    from flightdeck.local.emulator import ACCOUNT_ID, DEFAULT_REGION, LambdaContext

    arn = f"arn:aws:lambda:{DEFAULT_REGION}:{ACCOUNT_ID}:function:{function_name}"
    return LambdaContext(function_name, arn)


def signed_webhook_event(secret: str, body: dict[str, Any], msg_id: str) -> dict[str, Any]:
    """An API Gateway proxy event carrying a signed webhook delivery."""
    from flightdeck import webhooks

    raw = json.dumps(body)
    event = load_event("apigw_webhook")
    event["headers"].update(webhooks.headers(secret, msg_id, raw.encode()))
    event["body"] = raw
    return event
