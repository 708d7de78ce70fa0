"""The importable n8n workflows in docs/n8n: well-formed, and their signing and verifying Code
nodes agree with Flightdeck's own Standard Webhooks implementation.

The Code nodes' JavaScript runs under Node.js with a small harness standing in for what n8n
gives a Code node (`$input`, `$('<node>')`, `$env`, `$execution`, `this.helpers`, `require`).
Node.js is required: without it these tests fail, they do not skip.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from flightdeck import webhooks
from flightdeck.engine.callbacks import signed_headers

ROOT = Path(__file__).resolve().parents[2]
N8N_DIR = ROOT / "docs" / "n8n"
TRIGGER = N8N_DIR / "flightdeck-trigger.json"
CALLBACKS = N8N_DIR / "flightdeck-callbacks.json"
SIGN_NODE = "Sign webhook"
VERIFY_NODE = "Verify signature"

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_" + base64.b64encode(bytes(range(24))).decode()
NOW = 1_700_000_000
DELIVERY_ID = uuid.UUID("0b9c1c7e-0000-4000-8000-0000000000aa")

TICKET = {
    "ticket_id": "T-1001",
    "customer_email": "sam@example.com",
    "subject": "Doppelt belastet \u2013 Rückerstattung, bitte",
    "body": 'Order 5512 was charged twice (2 \u00d7 19,90 €). "Quotes", \\ and emoji 🙂 too.',
    "channel": "email",
}

# What n8n hands a Code node, reduced to what the workflows' Code nodes use. The node's code is
# the body of an async function called with `this` = { helpers }, as in n8n.
HARNESS = r"""
const fs = require('fs');
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const items = input.items;
const wrap = (json) => ({ json });
const $input = { all: () => items, first: () => items[0], last: () => items[items.length - 1] };
const $ = (name) => {
  if (!(name in input.nodes)) throw new Error(`no node named ${name} in this execution`);
  const json = input.nodes[name];
  return { first: () => wrap(json), all: () => [wrap(json)], item: wrap(json) };
};
const $env = input.env;
const $execution = { id: input.execution_id };
if (input.now_ms !== null) Date.now = () => input.now_ms;
const helpers = {
  getBinaryDataBuffer: async (index, property) =>
    Buffer.from(items[index].binary[property].data, 'base64'),
};
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const run = new AsyncFunction('$input', '$', '$env', '$execution', 'require', input.code);
run
  .call({ helpers }, $input, $, $env, $execution, require)
  .then((out) => process.stdout.write(JSON.stringify(out)))
  .catch((err) => {
    process.stderr.write(String((err && err.stack) || err));
    process.exit(1);
  });
"""


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def node_named(doc: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [n for n in doc["nodes"] if n["name"] == name]
    assert len(matches) == 1, f"expected one node named {name!r}"
    return matches[0]


def code_of(path: Path, name: str) -> str:
    node = node_named(load(path), name)
    assert node["type"] == "n8n-nodes-base.code"
    code: str = node["parameters"]["jsCode"]
    return code


@pytest.fixture(scope="module")
def node_bin() -> str:
    found = shutil.which("node")
    assert found is not None, "Node.js (`node`) is required to run the n8n Code nodes' JavaScript"
    return found


def run_code(
    node_bin: str,
    tmp_path: Path,
    code: str,
    *,
    items: list[dict[str, Any]],
    nodes: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    now: int | None = None,
    execution_id: str = "1",
) -> list[dict[str, Any]]:
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS, encoding="utf-8")
    payload = {
        "code": code,
        "items": items,
        "nodes": nodes or {},
        "env": env or {},
        "now_ms": None if now is None else now * 1000,
        "execution_id": execution_id,
    }
    done = subprocess.run(
        [node_bin, str(harness)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the Code node failed: {done.stderr.strip()}")
    out: list[dict[str, Any]] = json.loads(done.stdout)
    return out


# -- the workflow documents ---------------------------------------------------------------------


@pytest.mark.parametrize("path", [TRIGGER, CALLBACKS], ids=lambda p: p.name)
def test_workflow_is_a_valid_n8n_export(path: Path) -> None:
    doc = load(path)
    assert isinstance(doc["name"], str)
    assert doc["name"]
    assert isinstance(doc["settings"], dict)
    nodes = doc["nodes"]
    names = [n["name"] for n in nodes]
    ids = [n["id"] for n in nodes]
    assert len(names) == len(set(names)), "node names must be unique"
    assert len(ids) == len(set(ids)), "node ids must be unique"
    for n in nodes:
        assert n["type"].startswith("n8n-nodes-base."), n["name"]
        assert isinstance(n["typeVersion"], int | float), n["name"]
        assert isinstance(n["parameters"], dict), n["name"]
        position = n["position"]
        assert len(position) == 2
        assert all(isinstance(v, int | float) for v in position)

    by_name = {n["name"]: n for n in nodes}
    targeted: set[str] = set()
    for source, outputs in doc["connections"].items():
        assert source in by_name, f"connection from unknown node {source!r}"
        for kind, branches in outputs.items():
            assert kind == "main"
            for branch in branches:
                for target in branch:
                    assert target["node"] in by_name, f"{source!r} connects to {target!r}"
                    assert target["type"] == "main"
                    assert target["index"] == 0
                    targeted.add(target["node"])
    # Every node but triggers and notes is reached from somewhere.
    starts = {
        n["name"]
        for n in nodes
        if n["type"].endswith(("Trigger", ".webhook", ".stickyNote"))
        or n["type"] == "n8n-nodes-base.manualTrigger"
    }
    assert set(by_name) - starts <= targeted, "a node is not connected to anything"


def test_switch_and_if_outputs_match_their_rules() -> None:
    doc = load(CALLBACKS)
    switch = node_named(doc, "Route by type")
    rules = switch["parameters"]["rules"]["values"]
    routed = {r["conditions"]["conditions"][0]["rightValue"] for r in rules}
    assert routed == {"run.succeeded", "run.failed", "approval.requested"}
    fallback = switch["parameters"]["options"].get("fallbackOutput") == "extra"
    assert len(doc["connections"]["Route by type"]["main"]) == len(rules) + int(fallback)
    assert len(doc["connections"]["Signature valid?"]["main"]) == 2
    webhook = node_named(doc, "Flightdeck callback")
    assert webhook["parameters"]["options"]["rawBody"] is True
    assert webhook["parameters"]["responseMode"] == "responseNode"


def test_trigger_posts_the_signed_bytes_as_a_raw_body() -> None:
    http = node_named(load(TRIGGER), "Send to Flightdeck")
    params = http["parameters"]
    assert params["method"] == "POST"
    assert params["contentType"] == "raw"
    assert params["body"] == "={{ $json.body }}"
    headers = {h["name"] for h in params["headerParameters"]["parameters"]}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}


# -- signing in n8n, verified by Flightdeck ---------------------------------------------------


def settings(**overrides: str) -> dict[str, str]:
    base = {
        "api": "http://127.0.0.1:8000/",
        "tenant": "acme",
        "workflow": "support_triage",
        "secret": SECRET,
        "id_field": "ticket_id",
    }
    return {**base, **overrides}


def sign(node_bin: str, tmp_path: Path, items: list[dict[str, Any]], **kw: Any) -> list[Any]:
    return run_code(
        node_bin,
        tmp_path,
        code_of(TRIGGER, SIGN_NODE),
        items=[{"json": i} for i in items],
        nodes={"Flightdeck settings": kw.pop("settings", settings())},
        now=NOW,
        **kw,
    )


def test_n8n_signature_is_accepted_by_flightdeck(node_bin: str, tmp_path: Path) -> None:
    [out] = sign(node_bin, tmp_path, [TICKET])
    signed = out["json"]
    assert signed["url"] == "http://127.0.0.1:8000/v1/webhooks/support_triage?tenant=acme"
    assert signed["headers"]["webhook-id"] == "support_triage-T-1001"
    assert signed["headers"]["webhook-timestamp"] == str(NOW)
    body = signed["body"].encode("utf-8")
    assert json.loads(body) == TICKET
    assert webhooks.verify([SECRET], signed["headers"], body, now=NOW) == "support_triage-T-1001"
    # Byte for byte what Flightdeck's own signer makes for the same delivery.
    assert signed["headers"]["webhook-signature"] == webhooks.sign(
        SECRET, "support_triage-T-1001", NOW, body
    )


def test_n8n_signature_fails_with_another_secret_or_body(node_bin: str, tmp_path: Path) -> None:
    [out] = sign(node_bin, tmp_path, [TICKET])
    headers, body = out["json"]["headers"], out["json"]["body"].encode()
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify([OTHER_SECRET], headers, body, now=NOW)
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify([SECRET], headers, body.replace(b"5512", b"5513"), now=NOW)
    # Re-serializing the JSON (what a JSON-body HTTP node would do) breaks it too.
    reserialized = json.dumps(json.loads(body)).encode()
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify([SECRET], headers, reserialized, now=NOW)


def test_each_item_gets_its_own_stable_id(node_bin: str, tmp_path: Path) -> None:
    second = {**TICKET, "ticket_id": "T-1002"}
    keyed = sign(node_bin, tmp_path, [TICKET, second])
    assert [o["json"]["headers"]["webhook-id"] for o in keyed] == [
        "support_triage-T-1001",
        "support_triage-T-1002",
    ]
    unkeyed = sign(
        node_bin, tmp_path, [TICKET, second], settings=settings(id_field=""), execution_id="77"
    )
    ids = [o["json"]["headers"]["webhook-id"] for o in unkeyed]
    assert ids == ["n8n-77-0", "n8n-77-1"]
    for out, msg_id in zip(unkeyed, ids, strict=True):
        body = out["json"]["body"].encode()
        assert webhooks.verify([SECRET], out["json"]["headers"], body, now=NOW) == msg_id


def test_signing_refuses_a_malformed_secret(node_bin: str, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="whsec_ followed by base64"):
        sign(node_bin, tmp_path, [TICKET], settings=settings(secret="whsec_not*base64!"))
    with pytest.raises(RuntimeError, match='"secret" is empty'):
        sign(node_bin, tmp_path, [TICKET], settings=settings(secret=""))


# -- signed by Flightdeck, verified in n8n ----------------------------------------------------


def delivery(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """The item n8n's Webhook node (v2, option Raw Body) hands on: lower-cased headers, the
    parsed body, the raw body as base64 binary data."""
    return {
        "json": {
            "headers": {k.lower(): v for k, v in headers.items()},
            "params": {},
            "query": {},
            "body": json.loads(body),
        },
        "binary": {
            "data": {"data": base64.b64encode(body).decode(), "mimeType": "application/json"}
        },
    }


def callback_body(event_type: str = "approval.requested") -> bytes:
    payload = {
        "type": event_type,
        "timestamp": "2024-05-01T12:00:00+00:00",
        "data": {
            "run_id": "6f1f8c1e-3b8a-4f7e-9d51-0c7f7f1a2b3c",
            "workflow": "support_triage",
            "status": "waiting_for_approval",
            "approval": {
                "id": "0b9c1c7e-0000-4000-8000-000000000001",
                "node": "decide",
                "request": {"kind": "reply_review", "summary": "Grüße", "reasons": ["refund"]},
                "expires_at": "2024-05-01T16:00:00+00:00",
            },
        },
    }
    # As the dispatcher serializes it (compact, sorted keys).
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def verify_in_n8n(
    node_bin: str,
    tmp_path: Path,
    body: bytes,
    headers: dict[str, str],
    secrets: str = SECRET,
) -> dict[str, Any]:
    [out] = run_code(
        node_bin,
        tmp_path,
        code_of(CALLBACKS, VERIFY_NODE),
        items=[delivery(body, headers)],
        env={"FLIGHTDECK_CALLBACK_SECRETS": secrets},
    )
    result: dict[str, Any] = out["json"]
    return result


def test_n8n_accepts_a_flightdeck_delivery(node_bin: str, tmp_path: Path) -> None:
    body = callback_body()
    headers = webhooks.headers(SECRET, "delivery-1", body)
    result = verify_in_n8n(node_bin, tmp_path, body, headers)
    assert result["verified"] is True, result["reason"]
    assert result["reason"] is None
    assert result["webhook_id"] == "delivery-1"
    assert result["event"] == json.loads(body)


def test_n8n_accepts_raw_utf8_bytes(node_bin: str, tmp_path: Path) -> None:
    body = json.dumps(TICKET, ensure_ascii=False).encode("utf-8")
    headers = webhooks.headers(SECRET, "delivery-utf8", body)
    assert verify_in_n8n(node_bin, tmp_path, body, headers)["verified"] is True


def test_n8n_rejects_a_tampered_body(node_bin: str, tmp_path: Path) -> None:
    body = callback_body()
    headers = webhooks.headers(SECRET, "delivery-2", body)
    tampered = body.replace(b"reply_review", b"reply_reviee")
    result = verify_in_n8n(node_bin, tmp_path, tampered, headers)
    assert result["verified"] is False
    assert result["reason"] == "no signature matches"
    assert result["event"] is None


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("wrong secret", "no signature matches"),
        ("six minutes old", "outside the allowed window"),
        ("six minutes ahead", "outside the allowed window"),
        ("no signature header", "missing"),
        ("no id header", "missing"),
        ("other id", "no signature matches"),
        ("v2 only", "no v1 signature"),
        ("timestamp not a number", "not an integer"),
    ],
)
def test_n8n_rejects_invalid_deliveries(
    node_bin: str, tmp_path: Path, case: str, reason: str
) -> None:
    body = callback_body("run.failed")
    now = int(time.time())
    headers = webhooks.headers(SECRET, "delivery-3", body, timestamp=now)
    if case == "wrong secret":
        headers = webhooks.headers(OTHER_SECRET, "delivery-3", body, timestamp=now)
    elif case == "six minutes old":
        headers = webhooks.headers(SECRET, "delivery-3", body, timestamp=now - 360)
    elif case == "six minutes ahead":
        headers = webhooks.headers(SECRET, "delivery-3", body, timestamp=now + 360)
    elif case == "no signature header":
        del headers["webhook-signature"]
    elif case == "no id header":
        del headers["webhook-id"]
    elif case == "other id":
        headers["webhook-id"] = "delivery-4"
    elif case == "v2 only":
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    elif case == "timestamp not a number":
        headers["webhook-timestamp"] = "soon"
    result = verify_in_n8n(node_bin, tmp_path, body, headers)
    assert result["verified"] is False
    assert reason in result["reason"]


def test_n8n_follows_secret_rotation(node_bin: str, tmp_path: Path) -> None:
    body = callback_body("run.succeeded")
    # Flightdeck signs with the new secret and, during the grace period, the old one too.
    both = signed_headers([OTHER_SECRET, SECRET], DELIVERY_ID, body)
    assert len(both["webhook-signature"].split(" ")) == 2
    assert verify_in_n8n(node_bin, tmp_path, body, both, secrets=SECRET)["verified"] is True
    assert verify_in_n8n(node_bin, tmp_path, body, both, secrets=OTHER_SECRET)["verified"] is True
    # A receiver holding both secrets accepts a delivery signed by either one alone.
    only_new = webhooks.headers(OTHER_SECRET, "delivery-5", body)
    held = f"{SECRET}, {OTHER_SECRET}"
    assert verify_in_n8n(node_bin, tmp_path, body, only_new, secrets=held)["verified"] is True


def test_n8n_verifier_refuses_to_run_without_a_secret(node_bin: str, tmp_path: Path) -> None:
    body = callback_body()
    headers = webhooks.headers(SECRET, "delivery-6", body)
    with pytest.raises(RuntimeError, match="FLIGHTDECK_CALLBACK_SECRETS"):
        verify_in_n8n(node_bin, tmp_path, body, headers, secrets="")
