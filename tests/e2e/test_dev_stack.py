"""The dev stack as `make dev` starts it, used over HTTP as a new user would: paste the printed
curl, approve, see the run succeed; stop with Ctrl-C; start again on the same data."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


class DevStack:
    def __init__(self, data_dir: Path, *args: str) -> None:
        self.data_dir = data_dir
        self.args = args
        self.api_port = free_port()
        self.aws_port = free_port()
        self.log = data_dir / "dev.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> DevStack:
        env = {
            **os.environ,
            "FLIGHTDECK_API_PORT": str(self.api_port),
            "FLIGHTDECK_AWS_PORT": str(self.aws_port),
        }
        for name in list(env):
            if name.startswith("FLIGHTDECK_") and name not in (
                "FLIGHTDECK_API_PORT",
                "FLIGHTDECK_AWS_PORT",
            ):
                del env[name]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flightdeck.local.dev",
                "--data-dir",
                str(self.data_dir),
                *self.args,
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_for(self._ready, timeout=120, every=0.2)
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"dev stack exited early:\n{self.output()}")
        try:
            return httpx.get(f"{self.api_base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def credentials(self) -> dict[str, Any]:
        return json.loads((self.data_dir / "dev-credentials.json").read_text())  # type: ignore[no-any-return]

    def interrupt(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)

    def stop(self) -> None:
        """Stop as a user would (Ctrl-C); kill only if that does not work."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.interrupt()
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[DevStack]:
    # An empty demo tenant, so each test sees only the runs it makes.
    dev = DevStack(tmp_path / "fd", "--no-demo-history").start()
    yield dev
    dev.stop()


def test_terminate_stops_everything_it_started(stack: DevStack) -> None:
    assert stack.process is not None
    stack.process.terminate()
    assert stack.process.wait(timeout=60) == 0
    assert "flightdeck: stopping" in stack.output()
    assert not (stack.data_dir / "pgdata" / "postmaster.pid").exists()


def test_busy_port_is_reported_not_hung(tmp_path: Path) -> None:
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "flightdeck.local.dev",
                "--data-dir",
                str(tmp_path),
                "--aws-port",
                str(busy),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"port {busy} for the AWS emulator is in use" in result.stderr


def printed_curl(output: str) -> str:
    match = re.search(r"paste into a shell\):\n\n(.*?)\n\nThen look", output, re.S)
    assert match, output
    return match.group(1)


def test_signed_webhook_to_succeeded_run(stack: DevStack) -> None:
    creds = stack.credentials()
    assert set(creds) >= {"api_base", "tenant_id", "api_token", "webhook_secret"}
    assert creds["api_base"] == stack.api_base
    headers = {"authorization": f"Bearer {creds['api_token']}"}

    # When the user pastes the printed curl into a shell
    sent = subprocess.run(
        ["bash", "-c", printed_curl(stack.output())], capture_output=True, text=True, check=True
    )
    accepted = json.loads(sent.stdout)
    run_id = accepted["run_id"]

    # Then the run waits for approval; approving it through the API finishes it
    pending = wait_for(
        lambda: httpx.get(
            f"{stack.api_base}/v1/approvals", params={"status": "pending"}, headers=headers
        ).json()
    )
    assert pending[0]["run_id"] == run_id
    time.sleep(0.2)
    decision = httpx.post(
        f"{stack.api_base}/v1/approvals/{pending[0]['id']}/decision",
        json={"decision": "approve"},
        headers=headers,
    )
    assert decision.status_code == 200, decision.text

    def finished() -> Any:
        run = httpx.get(f"{stack.api_base}/v1/runs/{run_id}", headers=headers).json()
        return run if run["status"] in ("succeeded", "failed") else None

    run = wait_for(finished, timeout=60, every=0.2)
    assert run["status"] == "succeeded"
    nodes = [e for e in run["events"] if e["type"] == "node.succeeded"]
    assert [e["node"] for e in nodes] == ["plan", "retrieve", "decide", "act", "reflect"]
    assert all(e["duration_ms"] > 0 for e in nodes)
    assert run["approvals"][0]["status"] == "approved"

    # Ctrl-C stops it cleanly, Postgres included; started again on the same data, the run and
    # the token are still there
    assert stack.interrupt() == 0
    assert "flightdeck: stopping" in stack.output()
    assert not (stack.data_dir / "pgdata" / "postmaster.pid").exists()
    stack.start()
    assert stack.credentials()["api_token"] == creds["api_token"]
    again = httpx.get(f"{stack.api_base}/v1/runs/{run_id}", headers=headers).json()
    assert again["status"] == "succeeded"


def test_the_api_around_a_run_works_against_the_dev_stack(stack: DevStack) -> None:
    creds = stack.credentials()
    base = stack.api_base
    operator = {"authorization": f"Bearer {creds['api_token']}"}
    admin = {"authorization": f"Bearer {creds['admin_token']}"}
    ticket = {
        "ticket_id": "T-9",
        "customer_email": "kim@example.com",
        "subject": "Refund please",
        "body": "Please refund my order, it was charged twice.",
    }

    # An API-triggered run, idempotent by key, waiting for approval
    first = httpx.post(
        f"{base}/v1/runs",
        headers={**operator, "idempotency-key": "e2e-1"},
        json={"workflow": "support_triage", "input": ticket},
    )
    again = httpx.post(
        f"{base}/v1/runs",
        headers={**operator, "idempotency-key": "e2e-1"},
        json={"workflow": "support_triage", "input": ticket},
    )
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    run_id = first.json()["run_id"]
    wait_for(
        lambda: (
            httpx.get(f"{base}/v1/runs/{run_id}", headers=operator).json()["status"]
            == "waiting_for_approval"
        ),
        every=0.2,
    )

    # Listed, annotated, exported, cancelled
    listed = httpx.get(
        f"{base}/v1/runs", headers=operator, params={"status": "waiting_for_approval"}
    )
    assert [r["id"] for r in listed.json()["items"]] == [run_id]
    note = httpx.post(
        f"{base}/v1/runs/{run_id}/annotations",
        headers=operator,
        json={"kind": "label", "label": "refund"},
    )
    assert note.status_code == 201
    export = httpx.get(f"{base}/v1/annotations/export", headers=operator, params={"format": "csv"})
    assert export.status_code == 200
    assert "refund" in export.text
    cancelled = httpx.post(f"{base}/v1/runs/{run_id}/cancel", headers=operator)
    assert cancelled.json()["status"] == "cancelled"
    detail = httpx.get(f"{base}/v1/runs/{run_id}", headers=operator).json()
    assert detail["approvals"][0]["status"] == "cancelled"
    assert detail["annotations"][0]["label"] == "refund"

    # The admin token manages tokens; the operator token may not
    assert httpx.get(f"{base}/v1/tokens", headers=admin).status_code == 200
    assert httpx.get(f"{base}/v1/tokens", headers=operator).status_code == 403
    problem = httpx.post(
        f"{base}/v1/runs", headers=operator, json={"workflow": "nope", "input": {}}
    )
    assert problem.status_code == 404
    assert problem.headers["content-type"] == "application/problem+json"


def test_first_start_seeds_history_and_serves_the_dashboard(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "signin").mkdir(parents=True)
    (site / "index.html").write_text("<h1>Outcomes</h1>")
    (site / "signin" / "index.html").write_text("<h1>Sign in</h1>")
    (site / "404.html").write_text("<h1>Page not found</h1>")
    dev = DevStack(tmp_path / "fd", "--site-dir", str(site)).start()
    try:
        base = dev.api_base
        wait_for(lambda: "Dashboard" in dev.output(), timeout=30)
        link = re.search(rf"({re.escape(base)}/signin/#code=(\S+))", dev.output())
        assert link, dev.output()
        assert httpx.get(f"{base}/signin/").text == "<h1>Sign in</h1>"
        assert httpx.get(f"{base}/").text == "<h1>Outcomes</h1>"
        missing = httpx.get(f"{base}/no/such/page/")
        assert (missing.status_code, missing.text) == (404, "<h1>Page not found</h1>")
        assert httpx.get(f"{base}/healthz").status_code == 200

        session = httpx.post(f"{base}/v1/sign-in", json={"code": link.group(2)})
        assert session.status_code == 200, session.text
        assert session.json()["role"] == "operator"
        viewer = {"authorization": f"Bearer {dev.credentials()['viewer_token']}"}
        outcomes = httpx.get(f"{base}/v1/outcomes", headers=viewer).json()
        assert outcomes["total"]["runs"] > 100
        assert outcomes["workflows"][0]["time_to_benefit"]["reached_at"] is not None
        # The two live runs: one finishes alone, one waits in the inbox for a person.
        waiting = wait_for(
            lambda: httpx.get(
                f"{base}/v1/runs", headers=viewer, params={"status": "waiting_for_approval"}
            ).json()["items"],
            timeout=60,
        )
        assert len(waiting) == 1
        assert dev.interrupt() == 0
        # Started again on the same data: no second history.
        dev = DevStack(tmp_path / "fd", "--site-dir", str(site)).start()
        again = httpx.get(f"{base.rsplit(':', 1)[0]}:{dev.api_port}/v1/outcomes", headers=viewer)
        assert again.json()["total"]["runs"] == outcomes["total"]["runs"]
        assert "seeded" not in dev.output().split("flightdeck: stopping")[-1]
    finally:
        dev.stop()
