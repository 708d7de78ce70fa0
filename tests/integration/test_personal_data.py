"""Personal data never leaves in clear: 200 canaries (e-mail addresses, phone numbers,
Luhn-valid card numbers, IBANs) planted in support tickets sent as signed webhooks are found in
no log line, no callback body, no annotation export and no text or jsonb column of the
database; the triggers are stored sealed, and a re-run from the trigger still reaches the same
result."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import random
import re
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any, cast

import pytest

from flightdeck import observability
from flightdeck.engine.runner import thread_config
from flightdeck.engine.runs import RunService, canonical_sha256
from flightdeck.engine.seal_triggers import SealReport, seal_all
from flightdeck.privacy import iban_valid, luhn_valid
from flightdeck.store import runs as run_store
from flightdeck.store import sealing
from flightdeck.store.blobs import tenant_key
from flightdeck.store.db import connect
from tests.conftest import Platform, free_port, load_event, wait_for
from tests.integration.api_client import Api, api_for

RUNS = 8
PER_RUN = 25  # one as the customer's address, the rest in the ticket's body


def luhn_complete(partial: str) -> str:
    """`partial` with the check digit that makes it pass Luhn."""
    for digit in "0123456789":
        if luhn_valid(partial + digit):
            return partial + digit
    raise AssertionError("no Luhn digit")


def gb_iban(rng: random.Random) -> str:
    bban = "WEST" + "".join(rng.choice("0123456789") for _ in range(14))
    numeric = "".join(str(int(c, 36)) for c in bban + "GB00")
    iban = f"GB{98 - int(numeric) % 97:02d}{bban}"
    assert iban_valid(iban)
    return iban


def canaries(seed: int = 9) -> list[tuple[str, str]]:
    """200 (kind, value) pairs, each unique, in the shapes people write them."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for i in range(50):
        out.append(("email", f"canary.{i}.{rng.randrange(10**6):06d}@mail{i}.example.org"))
        if i % 2:
            out.append(("phone", f"+44 7700 9{rng.randrange(10**5):05d}"))
        else:
            out.append(("phone", f"415-{rng.randrange(200, 999)}-{rng.randrange(10**4):04d}"))
        card = luhn_complete("4" + "".join(rng.choice("0123456789") for _ in range(14)))
        groups = " ".join(card[j : j + 4] for j in range(0, 16, 4))
        out.append(("card", (groups, groups.replace(" ", "-"), card)[i % 3]))
        iban = gb_iban(rng)
        spaced = " ".join(iban[j : j + 4] for j in range(0, len(iban), 4))
        out.append(("iban", spaced if i % 2 else iban))
    assert len({v for _, v in out}) == 200
    return out


def needles(value: str) -> set[str]:
    """What would give a canary away: itself, and its digits or characters without separators
    (a store that reformats a number still leaks it)."""
    found = {value, value.lower()}
    compact = re.sub(r"[\s().-]", "", value)
    if len(compact) >= 10:
        found.add(compact)
    return found


def leaked(text: str, planted: list[tuple[str, str]]) -> list[str]:
    lowered = text.lower()
    return [v for _, v in planted if any(n.lower() in lowered for n in needles(v))]


@dataclasses.dataclass
class Receiver:
    url: str
    bodies: list[bytes] = dataclasses.field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    port = free_port()
    state = Receiver(url=f"http://127.0.0.1:{port}/hook")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            state.bodies.append(self.rfile.read(int(self.headers.get("content-length", "0"))))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def api(platform: Platform) -> Iterator[Api]:
    with api_for(platform) as client:
        yield client


def tickets(planted: list[tuple[str, str]]) -> list[dict[str, Any]]:
    base = load_event("password_ticket")
    refund = load_event("refund_ticket")
    out = []
    for n in range(RUNS):
        chunk = planted[n * PER_RUN : (n + 1) * PER_RUN]
        email = next(v for k, v in chunk if k == "email")
        rest = [v for v in chunk if v[1] != email]
        template = refund if n == RUNS - 1 else base
        lines = [
            f"You can reach me at {v}." if k in ("email", "phone") else f"My {k} number is {v}."
            for k, v in rest
        ]
        out.append(
            {
                **template,
                "ticket_id": f"T-PII-{n}",
                "customer_email": email,
                "body": template["body"] + "\n" + "\n".join(lines),
            }
        )
    return out


def text_and_json_columns(conn: Any) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
        " AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb',"
        " 'ARRAY', 'USER-DEFINED')"
        " ORDER BY 1, 2"
    ).fetchall()
    return [(r["table_name"], r["column_name"]) for r in rows]


def binary_columns(conn: Any) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
        " AND c.data_type = 'bytea' ORDER BY 1, 2"
    ).fetchall()
    return [(r["table_name"], r["column_name"]) for r in rows]


def final_state(platform: Platform, run_id: uuid.UUID) -> dict[str, Any]:
    svc = platform.services
    with svc.tenant(platform.tenant_id) as conn:
        workflow = svc.registry.get("support_triage")
        values = (
            svc.runner.compiled(conn, workflow, platform.tenant_id)
            .get_state(thread_config(run_id))
            .values
        )
        return dict(values)


def test_two_hundred_canaries_never_appear_in_clear(
    platform: Platform,
    api: Api,
    receiver: Receiver,
    database_url: str,
) -> None:
    planted = canaries()
    # (the detector this test relies on finds every canary in the tickets as sent)
    assert len(leaked(json.dumps(tickets(planted)), planted)) == 200
    # Every line the platform's logger writes, as it writes it (masking formatter included).
    log_lines = io.StringIO()
    handler = cast(logging.StreamHandler[Any], observability.logger.logger_handler)
    previous = handler.setStream(log_lines)
    answer = api.client.put(
        "/v1/workflows/support_triage/callback",
        json={"url": receiver.url},
        headers=api.headers(api.admin),
    )
    assert answer.status_code == 201, answer.text

    # Given support tickets full of personal data, sent as signed webhooks
    run_ids = []
    for ticket in tickets(planted):
        sent = api.webhook(ticket)
        assert sent.status_code in (200, 201, 202), sent.text
        run_ids.append(uuid.UUID(sent.json()["run_id"]))
    # ... the runs finish (the refund waits for a person, who approves it)
    refund_run = run_ids[-1]
    approval = api.pending(refund_run)
    decided = api.post(f"/v1/approvals/{approval['id']}/decision", json={"decision": "approve"})
    assert decided.status_code == 200, decided.text
    for run_id in run_ids:
        assert platform.wait_status(run_id, "succeeded", "failed").status == "succeeded"
    # ... someone logs a ticket on purpose, and an operator quotes the customer in comments
    observability.logger.info("ticket received", extra={"ticket": tickets(planted)[0]})
    for run_id, (_, value) in zip(run_ids, planted[:RUNS], strict=True):
        made = api.post(
            f"/v1/runs/{run_id}/annotations",
            json={"kind": "comment", "body": f"Customer wrote from {value}, answered."},
        )
        assert made.status_code == 201, made.text
    # ... and the callbacks go out
    wait_for(
        lambda: (
            platform.services.callbacks.deliver_due().attempted == 0
            and len(receiver.bodies) >= RUNS
        ),
        timeout=30,
    )

    exports = [
        api.get("/v1/annotations/export", api.viewer, params={"format": fmt}).text
        for fmt in ("csv", "jsonl")
    ]
    handler.setStream(previous)
    logs = log_lines.getvalue()

    # Then no canary is in a log line, a callback body or an export
    assert "node finished" in logs
    assert "<email:" in logs  # the ticket logged on purpose, masked
    assert leaked(logs, planted) == []
    assert len(receiver.bodies) >= RUNS
    assert leaked(b"\n".join(receiver.bodies).decode(), planted) == []
    assert all("Customer wrote from <" in e for e in exports)
    assert leaked("\n".join(exports), planted) == []

    # ... nor in any text or jsonb column of any table
    with connect(database_url) as conn:
        columns = text_and_json_columns(conn)
        assert ("runs", "trigger_payload") in columns
        assert ("outbox", "payload") in columns
        found = {}
        for table, column in columns:
            values = conn.execute(
                f'SELECT "{column}"::text AS v FROM "{table}" WHERE "{column}" IS NOT NULL'
            ).fetchall()
            hits = leaked("\n".join(r["v"] for r in values), planted)
            if hits:
                found[f"{table}.{column}"] = hits[:3]
        assert found == {}
        # ... nor in any binary column: LangGraph's checkpoints hold the run's state, the
        # opened ticket included, and are stored encrypted under the tenant's data key
        binary = binary_columns(conn)
        assert ("checkpoint_blobs", "blob") in binary
        assert ("checkpoint_writes", "blob") in binary
        for table, column in binary:
            values = conn.execute(
                f'SELECT "{column}" AS v FROM "{table}" WHERE "{column}" IS NOT NULL'
            ).fetchall()
            # Bytes as text, one character per byte: UTF-8 text inside stays findable.
            raw = b"\n".join(bytes(r["v"]) for r in values).decode("latin-1")
            hits = leaked(raw, planted)
            if hits:
                found[f"{table}.{column}"] = hits[:3]
        assert found == {}
        encrypted = conn.execute(
            "SELECT count(*) FILTER (WHERE type LIKE '%%+aesgcm-%%') AS sealed, count(*) AS n"
            " FROM checkpoint_blobs WHERE type <> 'empty'"
        ).fetchone()
        assert encrypted["n"] > 0
        assert encrypted["sealed"] == encrypted["n"]

    # ... the triggers are stored sealed, yet the runs read them
    for run_id in run_ids:
        run = platform.run(run_id)
        assert run.trigger_sealed
        assert sealing.is_envelope(run.trigger_payload["body"])
        assert sealing.is_envelope(run.trigger_payload["customer_email"])
        assert run.trigger_payload["ticket_id"].startswith("T-PII-")
    first = final_state(platform, run_ids[0])
    assert first["ticket"]["customer_email"] == tickets(planted)[0]["customer_email"]

    # When the first run is re-run from its trigger
    rerun = api.post(f"/v1/runs/{run_ids[0]}/rerun")
    assert rerun.status_code in (200, 201, 202), rerun.text
    again = uuid.UUID(rerun.json()["run_id"])

    # Then it reaches the same result from the same (decrypted) ticket
    assert platform.wait_status(again, "succeeded", "failed").status == "succeeded"
    second = final_state(platform, again)
    assert second["ticket"] == first["ticket"]
    for key in ("plan", "draft", "review", "reflection"):
        assert second[key] == first[key], key


def test_a_large_trigger_is_sealed_in_its_s3_object(platform: Platform) -> None:
    svc = platform.services
    small_limit = RunService(
        registry=svc.registry,
        connection=svc.connection,
        sfn=svc.sfn,
        blobs=svc.blobs,
        state_machine_arn=svc.settings.state_machine_arn,
        inline_payload_limit=1024,
        runner=svc.runner,
        sealer=lambda: svc.sealer,
    )
    planted = canaries(seed=11)[:40]
    ticket = {
        **load_event("password_ticket"),
        "ticket_id": "T-LARGE",
        "body": "I forgot my password. " + " ".join(v for _, v in planted),
    }

    started = small_limit.start(
        tenant_id=platform.tenant_id,
        workflow_name="support_triage",
        payload=ticket,
        idempotency_key=f"large-{uuid.uuid4()}",
        source="api",
    )

    run = platform.wait_status(started.run.id, "succeeded", "failed")
    assert run.status == "succeeded"
    assert run.trigger_payload is None
    assert run.trigger_ref is not None
    assert run.trigger_sealed
    stored = svc.blobs.get_json(run.trigger_ref)
    assert sealing.is_envelope(stored["body"])
    assert leaked(json.dumps(stored), planted) == []
    assert final_state(platform, run.id)["ticket"]["body"] == ticket["body"]


def test_plaintext_triggers_stay_readable_and_are_sealed_in_place(platform: Platform) -> None:
    svc = platform.services
    # Given runs stored before triggers were sealed: one plaintext row, one plaintext S3
    # object in the (versioned) bucket
    ticket = {**load_event("password_ticket"), "customer_email": "old.customer@example.net"}
    inline_id = platform.park("support_triage", ticket)
    s3 = svc.client("s3")
    s3.put_bucket_versioning(
        Bucket=svc.settings.artifact_bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    large = {**ticket, "ticket_id": "T-OLD-LARGE", "customer_email": "old.large@example.net"}
    stored_id = uuid.uuid4()
    ref = svc.blobs.put_json(
        tenant_key(platform.tenant_id, "runs", str(stored_id), "trigger.json"), large
    )
    with svc.tenant(platform.tenant_id) as conn:
        run_store.insert_run(
            conn,
            run_id=stored_id,
            tenant_id=platform.tenant_id,
            workflow="support_triage",
            workflow_version="1.0.0",
            idempotency_key=f"old-{stored_id}",
            trigger_source="api",
            trigger_payload=None,
            trigger_ref=ref,
            trigger_sha256=canonical_sha256(large),
            execution_name="manual",
        )
    before = platform.run(inline_id)
    assert not before.trigger_sealed
    # ... which the runner still reads as they are
    assert sealing.open_trigger(svc.blobs, svc.sealer, before) == before.trigger_payload

    # When the one-off command seals every tenant's stored triggers
    report = seal_all(svc)

    # Then the row and the object hold envelopes (no plaintext version left), and open to
    # exactly what was stored
    assert report.sealed >= 2
    assert report.left == 0
    inline_run = platform.run(inline_id)
    stored_run = platform.run(stored_id)
    assert inline_run.trigger_sealed
    assert stored_run.trigger_sealed
    assert "old.customer" not in json.dumps(inline_run.trigger_payload)
    assert sealing.open_trigger(svc.blobs, svc.sealer, inline_run) == before.trigger_payload
    key = svc.blobs.key_of(ref)
    versions = s3.list_object_versions(Bucket=svc.settings.artifact_bucket, Prefix=key)
    assert len(versions["Versions"]) == 1
    assert "old.large" not in json.dumps(svc.blobs.get_json(ref))
    assert sealing.open_trigger(svc.blobs, svc.sealer, stored_run) == large
    assert seal_all(svc) == SealReport(sealed=0, left=0)
