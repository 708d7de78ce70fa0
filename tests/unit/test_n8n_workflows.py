"""The importable n8n workflows in docs/n8n: importable by the editor and by
`n8n import:workflow`, their signing and verifying Code nodes agree with Flightdeck's own
Standard Webhooks implementation, no node's output holds a secret, the trigger retries only what
a retry can fix, and the approval form shows the API's answer.

The Code nodes' JavaScript runs under Node.js with a small harness standing in for what n8n
gives a Code node (`$input`, `$('<node>')`, `$env`, `$vars`, `$execution`, `this.helpers` with a
scripted `httpRequest`, `require`, timers that do not wait). Expressions of the other nodes
(`={{ ... }}`) are evaluated as JavaScript the same way. Node.js is required: without it these
tests fail, they do not skip.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flightdeck import webhooks
from flightdeck.engine.callbacks import signed_headers

ROOT = Path(__file__).resolve().parents[2]
N8N_DIR = ROOT / "docs" / "n8n"
TRIGGER = N8N_DIR / "flightdeck-trigger.json"
CALLBACKS = N8N_DIR / "flightdeck-callbacks.json"
WORKFLOW_FILES = sorted(N8N_DIR.glob("*.json"))
SIGN_NODE = "Sign webhook"
SEND_NODE = "Send to Flightdeck"
VERIFY_NODE = "Verify signature"
ANSWER_NODE = "Decision answer"

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_" + base64.b64encode(bytes(range(24))).decode()
CHAT_URL = "https://hooks.slack.com/services/T0SECRET/B0SECRET/chatWebhookToken123"
NOW = 1_700_000_000
DELIVERY_ID = uuid.UUID("0b9c1c7e-0000-4000-8000-0000000000aa")
APPROVAL_ID = "0b9c1c7e-0000-4000-8000-000000000001"
RUN_ID = "6f1f8c1e-3b8a-4f7e-9d51-0c7f7f1a2b3c"

TICKET = {
    "ticket_id": "T-1001",
    "customer_email": "sam@example.com",
    "subject": "Doppelt belastet \u2013 Rückerstattung, bitte",
    "body": 'Order 5512 was charged twice (2 \u00d7 19,90 €). "Quotes", \\ and emoji 🙂 too.',
    "channel": "email",
}

# What n8n hands a Code node, reduced to what the workflows' Code nodes use. The node's code is
# the body of an async function called with `this` = { helpers }, as in n8n. `httpRequest`
# answers from a script (`responses`) and records each request; `setTimeout` does not wait but
# records the delay and moves the clock on. The result, or the node's error, goes to stdout.
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
const $env = input.env_blocked
  ? new Proxy({}, { get: () => { throw new Error('access to env vars denied'); } })
  : input.env;
const $vars = input.vars;
const $execution = { id: input.execution_id };
let now = input.now_ms;
if (now !== null) Date.now = () => now;
const sleeps = [];
globalThis.setTimeout = (fn, ms) => {
  sleeps.push(ms);
  if (now !== null) now += ms;
  Promise.resolve().then(fn);
  return 0;
};
const requests = [];
const responses = input.responses;
const helpers = {
  getBinaryDataBuffer: async (index, property) =>
    Buffer.from(items[index].binary[property].data, 'base64'),
  httpRequest: async (options) => {
    requests.push(JSON.parse(JSON.stringify(options)));
    const next = responses.shift();
    if (next === undefined) throw new Error('harness: no scripted answer left');
    if (next.network_error) throw new Error(next.network_error);
    if (options.ignoreHttpStatusErrors !== true && (next.status < 200 || next.status > 299)) {
      throw new Error(`harness: Request failed with status code ${next.status}`);
    }
    const { status, headers = {}, body } = next;
    return { statusCode: status, statusMessage: '', headers, body };
  },
};
const done = (result) => process.stdout.write(JSON.stringify({ ...result, requests, sleeps }));
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const run = new AsyncFunction('$input', '$', '$env', '$vars', '$execution', 'require', input.code);
run
  .call({ helpers }, $input, $, $env, $vars, $execution, require)
  .then((output) => done({ ok: true, output, error: null }))
  .catch((err) => done({ ok: false, output: null, error: String((err && err.message) || err) }));
"""

# n8n expressions: a parameter starting with `=` has `{{ js }}` parts; a lone `{{ }}` gives the
# value itself, otherwise the parts are joined into a string.
EXPRESSIONS = r"""
const fs = require('fs');
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const $json = input.json;
const $env = input.env;
const $ = (name) => {
  if (!(name in input.nodes)) throw new Error(`no node named ${name} in this execution`);
  return { first: () => ({ json: input.nodes[name] }) };
};
const part = /\{\{([\s\S]*?)\}\}/g;
const js = (expr) => new Function('$json', '$env', '$', `return (${expr});`)($json, $env, $);
const evaluate = (value) => {
  if (typeof value !== 'string' || !value.startsWith('=')) return value;
  const text = value.slice(1);
  const whole = text.trim().match(/^\{\{([\s\S]*?)\}\}$/);
  if (whole && !whole[1].includes('}}')) return js(whole[1]);
  return text.replace(part, (_, expr) => {
    const v = js(expr);
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  });
};
process.stdout.write(JSON.stringify(input.values.map(evaluate)));
"""


@dataclass
class CodeRun:
    ok: bool
    output: Any
    error: str | None
    requests: list[dict[str, Any]]
    sleeps: list[int]


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


def targets(doc: dict[str, Any], source: str, output: int = 0) -> list[str]:
    branches = doc["connections"].get(source, {}).get("main", [])
    return [t["node"] for t in branches[output]] if output < len(branches) else []


@pytest.fixture(scope="module")
def node_bin() -> str:
    found = shutil.which("node")
    assert found is not None, "Node.js (`node`) is required to run the n8n Code nodes' JavaScript"
    return found


def _node(node_bin: str, tmp_path: Path, name: str, script: str, payload: dict[str, Any]) -> Any:
    path = tmp_path / name
    path.write_text(script, encoding="utf-8")
    done = subprocess.run(
        [node_bin, str(path)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def execute(
    node_bin: str,
    tmp_path: Path,
    code: str,
    *,
    items: list[dict[str, Any]],
    nodes: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    variables: dict[str, str] | None = None,
    env_blocked: bool = False,
    now: int | None = None,
    execution_id: str = "1",
    responses: list[dict[str, Any]] | None = None,
) -> CodeRun:
    """Run a Code node's JavaScript; its error, if any, is in the result."""
    result = _node(
        node_bin,
        tmp_path,
        "harness.js",
        HARNESS,
        {
            "code": code,
            "items": items,
            "nodes": nodes or {},
            "env": env or {},
            "vars": variables or {},
            "env_blocked": env_blocked,
            "now_ms": None if now is None else now * 1000,
            "execution_id": execution_id,
            "responses": responses or [],
        },
    )
    return CodeRun(**result)


def run_code(node_bin: str, tmp_path: Path, code: str, **kw: Any) -> list[dict[str, Any]]:
    """Run a Code node's JavaScript; its error is raised as RuntimeError."""
    done = execute(node_bin, tmp_path, code, **kw)
    if not done.ok:
        raise RuntimeError(f"the Code node failed: {done.error}")
    out: list[dict[str, Any]] = done.output
    return out


def evaluate(
    node_bin: str,
    tmp_path: Path,
    values: list[Any],
    *,
    json_in: dict[str, Any],
    env: dict[str, str] | None = None,
    nodes: dict[str, Any] | None = None,
) -> list[Any]:
    """Evaluate node parameters (n8n expressions) against one input item."""
    out: list[Any] = _node(
        node_bin,
        tmp_path,
        "expressions.js",
        EXPRESSIONS,
        {"values": values, "json": json_in, "env": env or {}, "nodes": nodes or {}},
    )
    return out


def run_set_node(
    node_bin: str,
    tmp_path: Path,
    node: dict[str, Any],
    json_in: dict[str, Any],
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """What an Edit Fields (Set) node outputs for one item: raw JSON, or its assignments."""
    assert node["type"] == "n8n-nodes-base.set"
    params = node["parameters"]
    if params.get("mode") == "raw":
        [raw] = evaluate(node_bin, tmp_path, [params["jsonOutput"]], json_in=json_in, env=env)
        out: dict[str, Any] = json.loads(raw)
        return out
    assignments = params["assignments"]["assignments"]
    values = evaluate(
        node_bin, tmp_path, [a["value"] for a in assignments], json_in=json_in, env=env
    )
    fields = {a["name"]: v for a, v in zip(assignments, values, strict=True)}
    return {**json_in, **fields} if params.get("includeOtherFields") else fields


def secret_forms(secret: str) -> list[str]:
    """Ways a secret could show up in an output: as given, its base64, its key bytes in hex."""
    if not secret.startswith("whsec_"):
        return [secret]
    encoded = secret.removeprefix("whsec_")
    return [secret, encoded, base64.b64decode(encoded).hex()]


def assert_holds_no_secret(what: str, data: Any, secrets: list[str]) -> None:
    text = json.dumps(data, ensure_ascii=False)
    for secret in secrets:
        for form in secret_forms(secret):
            assert form not in text, f"{what} contains a secret"


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


def test_the_docs_ship_both_workflows() -> None:
    # `n8n import:workflow --separate --input=docs/n8n/` imports every *.json file there.
    assert sorted([TRIGGER, CALLBACKS]) == WORKFLOW_FILES


UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflow_has_what_n8n_import_workflow_needs(path: Path) -> None:
    """`n8n import:workflow --input=<file>` upserts the JSON into `workflow_entity` as it is: no
    defaults are filled in for `id` (without --separate), `versionId` or `active`, which are
    NOT NULL, and tags must name existing tags."""
    doc = load(path)
    assert isinstance(doc, dict), "one workflow per file (a JSON object)"
    assert isinstance(doc["nodes"], list)
    assert doc["nodes"]
    assert isinstance(doc["connections"], dict)
    # workflow_entity.id: varchar(36), n8n's own ids are 16 letters and digits.
    assert isinstance(doc.get("id"), str)
    assert re.fullmatch(r"[A-Za-z0-9]{16}", doc["id"]), doc.get("id")
    # workflow_entity.versionId: varchar(36) NOT NULL; also the workflow_history key.
    assert isinstance(doc.get("versionId"), str)
    assert UUID.match(doc["versionId"]), doc.get("versionId")
    # workflow_entity.name: varchar(128) NOT NULL.
    assert isinstance(doc["name"], str)
    assert 1 <= len(doc["name"]) <= 128
    # workflow_entity.active: boolean NOT NULL; imports are deactivated anyway, and an active
    # or published version (activeVersionId) trips the import's publish history.
    assert doc.get("active") is False
    assert "activeVersionId" not in doc
    assert isinstance(doc["settings"], dict)
    assert doc.get("tags", []) == [], "tags must exist in the target n8n: ship none"
    for n in doc["nodes"]:
        assert {"id", "name", "type", "typeVersion", "position", "parameters"} <= set(n), n
        assert UUID.match(n["id"]), n["name"]
        assert "credentials" not in n, f"{n['name']}: credentials are chosen after the import"


def test_workflow_ids_do_not_collide() -> None:
    docs = [load(p) for p in WORKFLOW_FILES]
    # The same id would make the second import overwrite the first workflow.
    for key in ("id", "versionId", "name"):
        values = [d[key] for d in docs]
        assert len(values) == len(set(values)), key
    webhook_ids = [n["webhookId"] for d in docs for n in d["nodes"] if "webhookId" in n]
    assert len(webhook_ids) == len(set(webhook_ids))
    paths = [
        n["parameters"].get("path") or n["parameters"].get("options", {}).get("path")
        for d in docs
        for n in d["nodes"]
        if "webhookId" in n
    ]
    assert all(paths)
    assert len(paths) == len(set(paths))


def test_readme_shows_both_imports_the_environment_and_the_retry_policy() -> None:
    readme = (N8N_DIR / "README.md").read_text(encoding="utf-8")
    assert "Import from File" in readme
    assert "n8n import:workflow --input=docs/n8n/flightdeck-trigger.json" in readme
    environment = readme[readme.index("## The environment the workflows read") :]
    environment = environment[: environment.index("\n## ")]
    read = {
        name
        for path in WORKFLOW_FILES
        for n in load(path)["nodes"]
        if n["type"] != "n8n-nodes-base.stickyNote"
        for name in re.findall(r"FLIGHTDECK_[A-Z_]+", json.dumps(n["parameters"]))
    }
    assert read == {
        "FLIGHTDECK_WEBHOOK_SECRET",
        "FLIGHTDECK_CALLBACK_SECRETS",
        "FLIGHTDECK_CHAT_WEBHOOK_URL",
    }
    for name in [*sorted(read), "NODE_FUNCTION_ALLOW_BUILTIN", "N8N_BLOCK_ENV_ACCESS_IN_NODE"]:
        assert f"| `{name}" in environment, name
    send_code = code_of(TRIGGER, SEND_NODE)
    attempts = re.search(r"const MAX_ATTEMPTS = (\d+);", send_code)
    backoff = re.search(r"const BACKOFF_SECONDS = \[(\d+), (\d+), (\d+)\];", send_code)
    assert attempts
    assert backoff
    assert f"**at most {attempts[1]} attempts** per item" in readme
    assert f"**{backoff[1]} s, then {backoff[2]} s, then {backoff[3]} s**" in readme
    assert "**`429`, any `5xx`, and network errors**" in readme


def test_switch_and_if_outputs_match_their_rules() -> None:
    doc = load(CALLBACKS)
    switch = node_named(doc, "Route by type")
    rules = switch["parameters"]["rules"]["values"]
    routed = {r["conditions"]["conditions"][0]["rightValue"] for r in rules}
    assert routed == {"run.succeeded", "run.failed", "approval.requested"}
    fallback = switch["parameters"]["options"].get("fallbackOutput") == "extra"
    assert len(doc["connections"]["Route by type"]["main"]) == len(rules) + int(fallback)
    assert len(doc["connections"]["Signature valid?"]["main"]) == 2
    assert len(doc["connections"]["Decision form?"]["main"]) == 2
    webhook = node_named(doc, "Flightdeck callback")
    assert webhook["parameters"]["options"]["rawBody"] is True
    assert webhook["parameters"]["responseMode"] == "responseNode"


def test_form_submissions_and_callbacks_take_their_own_branch(
    node_bin: str, tmp_path: Path
) -> None:
    doc = load(CALLBACKS)
    [condition] = node_named(doc, "Decision form?")["parameters"]["conditions"]["conditions"]
    assert condition["operator"]["operation"] == "true"
    form_item = {"Approval id": APPROVAL_ID, "Decision": "approve", "formMode": "production"}
    callback_item = {"verified": True, "reason": None, "webhook_id": "d", "event": {"type": "x"}}
    assert evaluate(node_bin, tmp_path, [condition["leftValue"]], json_in=form_item) == [True]
    assert evaluate(node_bin, tmp_path, [condition["leftValue"]], json_in=callback_item) == [False]
    assert targets(doc, "Decision form?", 0) == ["Send decision"]
    assert targets(doc, "Decision form?", 1) == ["Route by type"]
    # Both triggers pass through the one settings node.
    assert targets(doc, "Decide approval") == ["Flightdeck settings"]
    assert targets(doc, "Accept (200)") == ["Flightdeck settings"]
    assert targets(doc, "Flightdeck settings") == ["Decision form?"]


def test_trigger_sends_from_a_code_node_without_blind_retries() -> None:
    doc = load(TRIGGER)
    assert targets(doc, SIGN_NODE) == [SEND_NODE]
    send = node_named(doc, SEND_NODE)
    assert send["type"] == "n8n-nodes-base.code"
    # n8n's own "Retry On Fail" retries every error, 4xx included: not used anywhere.
    for path in (TRIGGER, CALLBACKS):
        for n in load(path)["nodes"]:
            assert not n.get("retryOnFail"), n["name"]


# -- signing in n8n, verified by Flightdeck ---------------------------------------------------


def settings(**overrides: str) -> dict[str, str]:
    base = {
        "api": "http://127.0.0.1:8000/",
        "tenant": "acme",
        "workflow": "support_triage",
        "id_field": "ticket_id",
    }
    return {**base, **overrides}


def sign(node_bin: str, tmp_path: Path, items: list[dict[str, Any]], **kw: Any) -> list[Any]:
    kw.setdefault("env", {"FLIGHTDECK_WEBHOOK_SECRET": SECRET})
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


def test_signing_reads_an_n8n_variable_where_env_is_blocked(node_bin: str, tmp_path: Path) -> None:
    [out] = sign(
        node_bin,
        tmp_path,
        [TICKET],
        env_blocked=True,
        variables={"FLIGHTDECK_WEBHOOK_SECRET": SECRET},
    )
    body = out["json"]["body"].encode()
    assert webhooks.verify([SECRET], out["json"]["headers"], body, now=NOW)


def test_signing_refuses_a_missing_or_malformed_secret(node_bin: str, tmp_path: Path) -> None:
    malformed = "whsec_not*base64!"
    with pytest.raises(RuntimeError, match="whsec_ followed by base64") as raised:
        sign(node_bin, tmp_path, [TICKET], env={"FLIGHTDECK_WEBHOOK_SECRET": malformed})
    assert "not*base64" not in str(raised.value), "the error must not repeat the secret"
    for kw in ({"env": {}}, {"env": {"FLIGHTDECK_WEBHOOK_SECRET": " "}}, {"env_blocked": True}):
        with pytest.raises(RuntimeError, match="FLIGHTDECK_WEBHOOK_SECRET is not set"):
            sign(node_bin, tmp_path, [TICKET], **kw)
    with pytest.raises(RuntimeError, match='"tenant" is empty'):
        sign(node_bin, tmp_path, [TICKET], settings=settings(tenant=""))


# -- no node's output holds a secret ----------------------------------------------------------

SECRET_VARIABLES = ("FLIGHTDECK_WEBHOOK_SECRET", "FLIGHTDECK_CALLBACK_SECRETS")
# Nodes whose output is (or echoes) their evaluated parameters: an $env or $vars in them would
# put the value into every saved execution.
ECHOING_TYPES = (
    "n8n-nodes-base.set",
    "n8n-nodes-base.respondToWebhook",
    "n8n-nodes-base.if",
    "n8n-nodes-base.switch",
    "n8n-nodes-base.noOp",
    "n8n-nodes-base.stickyNote",
)


@pytest.mark.parametrize("path", [TRIGGER, CALLBACKS], ids=lambda p: p.name)
def test_secrets_are_read_only_inside_the_code_nodes(path: Path) -> None:
    doc = load(path)
    readers = set()
    for n in doc["nodes"]:
        params = json.dumps(n["parameters"])
        if any(name in params for name in SECRET_VARIABLES) and n["type"] != (
            "n8n-nodes-base.stickyNote"
        ):
            readers.add(n["name"])
        if n["type"] in ECHOING_TYPES[:-1]:
            assert "$env" not in params, n["name"]
            assert "$vars" not in params, n["name"]
        if n["type"] == "n8n-nodes-base.httpRequest":
            rest = {k: v for k, v in n["parameters"].items() if k != "url"}
            assert "$env" not in json.dumps(rest), n["name"]
    assert readers <= {SIGN_NODE, VERIFY_NODE}
    assert readers, "the secret is read somewhere"
    # No secret is written into the files themselves.
    assert not re.search(r"whsec_[A-Za-z0-9+/]{8,}", path.read_text(encoding="utf-8"))


def trigger_execution(
    node_bin: str, tmp_path: Path, env: dict[str, str], responses: list[dict[str, Any]]
) -> tuple[dict[str, Any], CodeRun]:
    """The trigger workflow from Start to Send to Flightdeck, as n8n runs it: every node's
    output, and the last node's run (its error and requests)."""
    doc = load(TRIGGER)
    outputs: dict[str, Any] = {"Start": {}}
    outputs["Flightdeck settings"] = run_set_node(
        node_bin, tmp_path, node_named(doc, "Flightdeck settings"), {}, env
    )
    outputs["Sample ticket"] = run_set_node(
        node_bin, tmp_path, node_named(doc, "Sample ticket"), outputs["Flightdeck settings"], env
    )
    nodes = {"Flightdeck settings": outputs["Flightdeck settings"]}
    outputs[SIGN_NODE] = run_code(
        node_bin,
        tmp_path,
        code_of(TRIGGER, SIGN_NODE),
        items=[{"json": outputs["Sample ticket"]}],
        nodes=nodes,
        env=env,
        now=NOW,
    )
    send = execute(
        node_bin,
        tmp_path,
        code_of(TRIGGER, SEND_NODE),
        items=outputs[SIGN_NODE],
        nodes=nodes,
        env=env,
        now=NOW,
        responses=responses,
    )
    outputs[SEND_NODE] = send.output
    assert set(outputs) == {n["name"] for n in doc["nodes"]} - {"About this workflow"}
    return outputs, send


def test_no_node_output_of_the_trigger_contains_the_secret(node_bin: str, tmp_path: Path) -> None:
    env = {"FLIGHTDECK_WEBHOOK_SECRET": SECRET}
    accepted = {"status": 202, "body": {"run_id": RUN_ID, "workflow": "support_triage"}}
    outputs, send = trigger_execution(node_bin, tmp_path, env, [accepted])
    assert send.ok, send.error
    assert outputs[SEND_NODE][0]["json"]["status"] == 202
    for name, output in outputs.items():
        assert_holds_no_secret(f"the output of {name!r}", output, [SECRET])
    # It did sign with it.
    [request] = send.requests
    body = request["body"].encode()
    assert webhooks.verify([SECRET], request["headers"], body, now=NOW)
    # A refused delivery's error (stored with the execution) does not hold it either.
    refused = {"status": 401, "body": {"title": "Unauthorized", "detail": "no signature matches"}}
    _, failed = trigger_execution(node_bin, tmp_path, env, [refused])
    assert not failed.ok
    assert_holds_no_secret("the error of 'Send to Flightdeck'", failed.error, [SECRET])


# -- retries: only what a retry can fix --------------------------------------------------------


def signed_items(node_bin: str, tmp_path: Path, *tickets: dict[str, Any]) -> list[Any]:
    return sign(node_bin, tmp_path, list(tickets or [TICKET]))


def send(
    node_bin: str,
    tmp_path: Path,
    responses: list[dict[str, Any]],
    *,
    items: list[Any] | None = None,
    now: int = NOW,
) -> CodeRun:
    return execute(
        node_bin,
        tmp_path,
        code_of(TRIGGER, SEND_NODE),
        items=items if items is not None else signed_items(node_bin, tmp_path),
        now=now,
        responses=responses,
    )


def problem(status: int, detail: str) -> dict[str, Any]:
    return {"status": status, "body": {"title": "x", "status": status, "detail": detail}}


ACCEPTED = {
    "status": 202,
    "headers": {"Idempotent-Replayed": "true"},
    "body": {"run_id": RUN_ID, "workflow": "support_triage"},
}


def test_a_delivery_posts_the_signed_bytes_once(node_bin: str, tmp_path: Path) -> None:
    items = signed_items(node_bin, tmp_path)
    done = send(node_bin, tmp_path, [ACCEPTED], items=items)
    assert done.ok, done.error
    [request] = done.requests
    signed = items[0]["json"]
    assert request["method"] == "POST"
    assert request["url"] == signed["url"]
    assert request["body"] == signed["body"], "the body goes out as the string that was signed"
    assert request["headers"] == {"content-type": "application/json", **signed["headers"]}
    assert request["ignoreHttpStatusErrors"] is True
    assert request["returnFullResponse"] is True
    assert webhooks.verify([SECRET], request["headers"], request["body"].encode(), now=NOW)
    assert done.sleeps == []
    [out] = done.output
    assert out["json"] == {
        "webhook_id": "support_triage-T-1001",
        "status": 202,
        "attempts": 1,
        "replayed": True,
        "response": {"run_id": RUN_ID, "workflow": "support_triage"},
    }


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 410, 413, 422])
def test_answers_a_retry_cannot_change_are_not_retried(
    node_bin: str, tmp_path: Path, status: int
) -> None:
    done = send(node_bin, tmp_path, [problem(status, "the detail"), ACCEPTED])
    assert not done.ok
    assert len(done.requests) == 1
    assert done.sleeps == []
    assert f"support_triage-T-1001: {status}, the detail, after 1 attempt" in (done.error or "")


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_429_and_5xx_are_retried_with_backoff(node_bin: str, tmp_path: Path, status: int) -> None:
    done = send(node_bin, tmp_path, [problem(status, "busy"), problem(status, "busy"), ACCEPTED])
    assert done.ok, done.error
    assert len(done.requests) == 3
    assert done.sleeps == [2000, 6000]
    assert done.requests[0] == done.requests[1] == done.requests[2], "the same signed request"
    assert done.output[0]["json"]["attempts"] == 3


def test_network_errors_are_retried(node_bin: str, tmp_path: Path) -> None:
    refused = {"network_error": "connect ECONNREFUSED 127.0.0.1:8000"}
    done = send(node_bin, tmp_path, [refused, ACCEPTED])
    assert done.ok, done.error
    assert len(done.requests) == 2
    assert done.sleeps == [2000]


def test_at_most_four_attempts(node_bin: str, tmp_path: Path) -> None:
    done = send(node_bin, tmp_path, [problem(503, "down")] * 10)
    assert not done.ok
    assert len(done.requests) == 4
    assert done.sleeps == [2000, 6000, 18000]
    assert (done.error or "").endswith("support_triage-T-1001: 503, down, after 4 attempts")
    refused = {"network_error": "socket hang up"}
    done = send(node_bin, tmp_path, [refused] * 10)
    assert len(done.requests) == 4
    assert "no answer (socket hang up)" in (done.error or "")


def test_retry_after_lengthens_a_wait_up_to_30_seconds(node_bin: str, tmp_path: Path) -> None:
    slow = {**problem(429, "slow down"), "headers": {"Retry-After": "10"}}
    very_slow = {**problem(503, "later"), "headers": {"retry-after": "600"}}
    done = send(node_bin, tmp_path, [slow, very_slow, ACCEPTED])
    assert done.ok, done.error
    assert done.sleeps == [10000, 30000]


def test_no_retry_once_the_signature_is_too_old(node_bin: str, tmp_path: Path) -> None:
    # Signed at NOW; 3 minutes 59 seconds later, a retry after the 2-second wait would send a
    # signature over 4 minutes old, too close to Flightdeck's 5-minute window.
    done = send(node_bin, tmp_path, [problem(503, "down"), ACCEPTED], now=NOW + 239)
    assert not done.ok
    assert len(done.requests) == 1
    assert "too old to retry" in (done.error or "")
    # Four seconds earlier the retry still goes out.
    done = send(node_bin, tmp_path, [problem(503, "down"), ACCEPTED], now=NOW + 235)
    assert done.ok, done.error
    assert len(done.requests) == 2


def test_every_item_is_tried_and_each_failure_named(node_bin: str, tmp_path: Path) -> None:
    second = {**TICKET, "ticket_id": "T-1002"}
    items = signed_items(node_bin, tmp_path, TICKET, second)
    invalid = {
        "status": 422,
        "body": {"detail": "body: field required", "errors": [{"field": "subject"}]},
    }
    done = send(node_bin, tmp_path, [ACCEPTED, invalid], items=items)
    assert not done.ok
    assert [r["headers"]["webhook-id"] for r in done.requests] == [
        "support_triage-T-1001",
        "support_triage-T-1002",
    ]
    error = done.error or ""
    assert error.startswith("Flightdeck did not accept 1 of 2 deliveries: ")
    assert "support_triage-T-1002: 422, body: field required" in error
    assert "T-1001" not in error


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


# -- the callbacks workflow: no secret in any output ------------------------------------------


def callbacks_execution(
    node_bin: str, tmp_path: Path, env: dict[str, str], body: bytes, headers: dict[str, str]
) -> dict[str, Any]:
    """A callback delivery through the workflow up to Route by type: every node's output."""
    doc = load(CALLBACKS)
    outputs: dict[str, Any] = {"Flightdeck callback": delivery(body, headers)}
    [verified] = run_code(
        node_bin,
        tmp_path,
        code_of(CALLBACKS, VERIFY_NODE),
        items=[outputs["Flightdeck callback"]],
        env=env,
    )
    outputs[VERIFY_NODE] = verified
    if not verified["json"]["verified"]:
        return outputs
    outputs["Flightdeck settings"] = run_set_node(
        node_bin, tmp_path, node_named(doc, "Flightdeck settings"), verified["json"], env
    )
    post = node_named(doc, "Post approval request")["parameters"]
    url, text = evaluate(
        node_bin,
        tmp_path,
        [post["url"], post["jsonBody"]],
        json_in=outputs["Flightdeck settings"],
        env=env,
    )
    assert url == env["FLIGHTDECK_CHAT_WEBHOOK_URL"]
    outputs["(chat message)"] = json.loads(text)
    return outputs


def test_no_node_output_of_the_callbacks_contains_a_secret(node_bin: str, tmp_path: Path) -> None:
    env = {
        "FLIGHTDECK_CALLBACK_SECRETS": f"{SECRET}, {OTHER_SECRET}",
        "FLIGHTDECK_CHAT_WEBHOOK_URL": CHAT_URL,
    }
    secrets = [SECRET, OTHER_SECRET, CHAT_URL]
    body = callback_body()
    good = callbacks_execution(node_bin, tmp_path, env, body, webhooks.headers(SECRET, "d-1", body))
    assert good[VERIFY_NODE]["json"]["verified"] is True
    assert "Flightdeck needs a decision" in good["(chat message)"]["text"]
    bad = callbacks_execution(
        node_bin, tmp_path, env, body, webhooks.headers("whsec_" + "A" * 32, "d-2", body)
    )
    assert bad[VERIFY_NODE]["json"]["verified"] is False
    for outputs in (good, bad):
        for name, output in outputs.items():
            assert_holds_no_secret(f"the output of {name!r}", output, secrets)
    # A malformed secret fails the node without repeating any secret.
    with pytest.raises(RuntimeError) as raised:
        callbacks_execution(
            node_bin,
            tmp_path,
            {**env, "FLIGHTDECK_CALLBACK_SECRETS": f"{SECRET} whsec_bad*secret!"},
            body,
            webhooks.headers(SECRET, "d-3", body),
        )
    assert "whsec_ followed by base64" in str(raised.value)
    assert "bad*secret" not in str(raised.value)
    assert_holds_no_secret("the error", str(raised.value), secrets)


def test_n8n_verifier_reads_an_n8n_variable_where_env_is_blocked(
    node_bin: str, tmp_path: Path
) -> None:
    body = callback_body()
    [out] = run_code(
        node_bin,
        tmp_path,
        code_of(CALLBACKS, VERIFY_NODE),
        items=[delivery(body, webhooks.headers(SECRET, "d-4", body))],
        env_blocked=True,
        variables={"FLIGHTDECK_CALLBACK_SECRETS": SECRET},
    )
    assert out["json"]["verified"] is True


# -- deciding an approval: the form shows the API's answer ------------------------------------


def test_send_decision_uses_the_settings_api(node_bin: str, tmp_path: Path) -> None:
    doc = load(CALLBACKS)
    send_decision = node_named(doc, "Send decision")
    assert "127.0.0.1" not in json.dumps(send_decision)
    form_item = {
        "Approval id": f" {APPROVAL_ID} ",
        "Decision": "edit",
        "Edited reply": "Refund issued.",
        "submittedAt": "2024-05-01T12:00:00.000+00:00",
        "formMode": "production",
    }
    settings_node = node_named(doc, "Flightdeck settings")
    item = run_set_node(node_bin, tmp_path, settings_node, form_item)
    item["api"] = "https://flightdeck.example.com/prod/"
    params = send_decision["parameters"]
    url, body = evaluate(node_bin, tmp_path, [params["url"], params["jsonBody"]], json_in=item)
    assert url == f"https://flightdeck.example.com/prod/v1/approvals/{APPROVAL_ID}/decision"
    assert json.loads(body) == {"decision": "edit", "payload": {"reply": "Refund issued."}}


def test_the_decision_form_waits_for_the_api_answer() -> None:
    doc = load(CALLBACKS)
    form = node_named(doc, "Decide approval")
    # The form's page answers with what "Show answer" responds, not a fixed "submitted".
    assert form["parameters"]["responseMode"] == "responseNode"
    assert targets(doc, "Decision form?", 0) == ["Send decision"]
    assert targets(doc, "Send decision") == [ANSWER_NODE]
    assert targets(doc, ANSWER_NODE) == ["Show answer"]
    send_decision = node_named(doc, "Send decision")
    response = send_decision["parameters"]["options"]["response"]["response"]
    # Every HTTP answer, and a network error, reaches "Decision answer" as an item.
    assert response == {"fullResponse": True, "neverError": True}
    assert send_decision["onError"] == "continueRegularOutput"
    show = node_named(doc, "Show answer")
    assert show["type"] == "n8n-nodes-base.respondToWebhook"
    assert show["parameters"]["respondWith"] == "json"
    assert show["parameters"]["options"]["responseCode"] == 200


def form_shows(node_bin: str, tmp_path: Path, answer: dict[str, Any]) -> tuple[Any, str]:
    """What Decision answer makes of Send decision's output, and the text the form shows."""
    doc = load(CALLBACKS)
    submitted = {"Approval id": f"{APPROVAL_ID}\n", "Decision": "approve", "formMode": "production"}
    [out] = run_code(
        node_bin,
        tmp_path,
        code_of(CALLBACKS, ANSWER_NODE),
        items=[{"json": answer}],
        nodes={"Decide approval": submitted},
    )
    show = node_named(doc, "Show answer")["parameters"]
    [page] = evaluate(node_bin, tmp_path, [show["responseBody"]], json_in=out["json"])
    assert set(page) == {"formSubmittedText"}
    text: str = page["formSubmittedText"]
    return out["json"], text


def http_answer(status: int, body: Any) -> dict[str, Any]:
    """Send decision's item with Full Response and Never Error on."""
    return {"statusCode": status, "statusMessage": "", "headers": {}, "body": body}


def test_the_form_says_a_decision_was_recorded(node_bin: str, tmp_path: Path) -> None:
    body = {"approval_id": APPROVAL_ID, "run_id": RUN_ID, "status": "approved"}
    out, text = form_shows(node_bin, tmp_path, http_answer(200, body))
    assert out["ok"] is True
    assert out["status"] == 200
    assert out["approval_id"] == APPROVAL_ID
    assert text == f"Recorded: approval {APPROVAL_ID} is approved. Run {RUN_ID} continues."


@pytest.mark.parametrize(
    ("status", "detail", "says"),
    [
        (409, "approval already decided: rejected", "already decided"),
        (404, "approval not found", "no such approval for this tenant"),
        (410, "approval expired: timed_out", "expired"),
        (403, "escalated: an admin must decide", "escalated to admins"),
        (401, "unknown token", "operator token was refused"),
    ],
)
def test_the_form_shows_a_refusal(
    node_bin: str, tmp_path: Path, status: int, detail: str, says: str
) -> None:
    problem_body = {"type": "about:blank", "title": "x", "status": status, "detail": detail}
    out, text = form_shows(node_bin, tmp_path, http_answer(status, problem_body))
    assert out["ok"] is False
    assert out["status"] == status
    assert text.startswith(f"Not recorded: Flightdeck answered {status}: ")
    assert says in text
    assert text.endswith(f"Detail: {detail}")
    assert "Recorded:" not in text


def test_the_form_names_the_invalid_field(node_bin: str, tmp_path: Path) -> None:
    body = {
        "status": 422,
        "detail": "payload.reply: Field required",
        "errors": [{"field": "payload.reply", "message": "Field required"}],
    }
    out, text = form_shows(node_bin, tmp_path, http_answer(422, body))
    assert out["ok"] is False
    assert "Not recorded: Flightdeck answered 422" in text
    assert "payload.reply: Field required" in text


@pytest.mark.parametrize(
    "answer",
    [
        {"error": {"message": "connect ECONNREFUSED 127.0.0.1:8000", "name": "NodeApiError"}},
        {"error": "getaddrinfo ENOTFOUND flightdeck.example.com"},
        http_answer(502, {"message": "Internal server error"}),
    ],
    ids=["error object", "error text", "502"],
)
def test_the_form_says_when_the_outcome_is_unknown(
    node_bin: str, tmp_path: Path, answer: dict[str, Any]
) -> None:
    out, text = form_shows(node_bin, tmp_path, answer)
    assert out["ok"] is False
    assert text.startswith("Not confirmed: Flightdeck ")
    assert "submit it again (a 409 then means the first one was)" in text
    if "error" in answer:
        assert out["status"] is None
        assert ("ECONNREFUSED" in text) or ("ENOTFOUND" in text)
