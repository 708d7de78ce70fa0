"""Signing secrets under `make dev`: they live in the emulator's Secrets Manager, which keeps
its state in memory, so the dev stack keeps them beside its Postgres data across restarts."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path

import httpx

from flightdeck import webhooks
from flightdeck.local.dev import SAMPLE_TICKET, SECRETS_FILE
from tests.e2e.test_dev_stack import DevStack

BODY = json.dumps(SAMPLE_TICKET).encode()


def deliver(stack: DevStack, secret: str) -> int:
    answer = httpx.post(
        f"{stack.api_base}/v1/webhooks/support_triage",
        params={"tenant": "demo"},
        content=BODY,
        headers=webhooks.headers(secret, f"msg_{uuid.uuid4()}", BODY),
    )
    return answer.status_code


def test_webhook_secrets_survive_a_restart_of_the_dev_stack(tmp_path: Path) -> None:
    stack = DevStack(tmp_path / "fd", "--no-demo-history").start()
    try:
        creds = stack.credentials()
        admin = {"authorization": f"Bearer {creds['admin_token']}"}
        made = httpx.post(f"{stack.api_base}/v1/webhook-secrets", json={}, headers=admin)
        assert made.status_code == 201, made.text
        assert deliver(stack, made.json()["secret"]) == 202
        assert deliver(stack, creds["webhook_secret"]) == 202

        # When the stack is stopped (Ctrl-C) and started again on the same data
        assert stack.interrupt() == 0
        kept = stack.data_dir / SECRETS_FILE
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        stack.start()

        # Then the demo secret and the one made through the API still verify
        assert stack.credentials()["webhook_secret"] == creds["webhook_secret"]
        assert deliver(stack, creds["webhook_secret"]) == 202
        assert deliver(stack, made.json()["secret"]) == 202
    finally:
        stack.stop()
