"""The dev stack killed outright (SIGKILL, no shutdown of any kind) while 20 runs are under way,
then started again on the same data and ports: every run finishes, no node's effect is
repeated, no approval is lost or decided twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_WORKFLOW_PACKAGES, free_port, load_event, wait_for

ROOT = Path(__file__).resolve().parents[2]
REFUND_NODES = ["plan", "retrieve", "decide", "act", "reflect"]
GATE_NODES = ["prepare", "hold", "act", "finish"]


class Stack:
    """`python -m flightdeck.local.dev` in a process group of its own, with the test
    workflows; started again on the same data directory and ports."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.api_port = free_port()
        self.aws_port = free_port()
        self.log = data_dir / "dev.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> Stack:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHTDECK_")}
        env.update(
            FLIGHTDECK_API_PORT=str(self.api_port),
            FLIGHTDECK_AWS_PORT=str(self.aws_port),
            FLIGHTDECK_WORKFLOW_PACKAGES=TEST_WORKFLOW_PACKAGES,
        )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "flightdeck.local.dev"),
                *("--data-dir", str(self.data_dir), "--no-demo-history"),
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self._ready, timeout=180, every=0.2)
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"dev stack exited early:\n{self.output()}")
        try:
            return httpx.get(f"{self.api_base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL to the whole process group: nothing gets to clean up."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    dev = Stack(tmp_path / "fd").start()
    yield dev
    dev.stop()


class Client:
    def __init__(self, stack: Stack) -> None:
        creds = json.loads((stack.data_dir / "dev-credentials.json").read_text())
        self.stack = stack
        self.headers = {"authorization": f"Bearer {creds['api_token']}"}

    def start(self, workflow: str, payload: dict[str, Any]) -> str:
        answer = httpx.post(
            f"{self.stack.api_base}/v1/runs",
            headers={**self.headers, "idempotency-key": f"crash-{uuid.uuid4()}"},
            json={"workflow": workflow, "input": payload},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["run_id"])

    def run(self, run_id: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.stack.api_base}/v1/runs/{run_id}", headers=self.headers)
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def pending(self) -> list[dict[str, Any]]:
        answer = httpx.get(
            f"{self.stack.api_base}/v1/approvals",
            params={"status": "pending"},
            headers=self.headers,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def approve(self, approval_id: str) -> httpx.Response:
        return httpx.post(
            f"{self.stack.api_base}/v1/approvals/{approval_id}/decision",
            json={"decision": "approve"},
            headers=self.headers,
            timeout=30,
        )


def test_runs_survive_a_sigkill_of_the_dev_stack(stack: Stack, tmp_path: Path) -> None:
    api = Client(stack)
    gate = tmp_path / "gate"
    gate.mkdir()
    refund = load_event("refund_ticket")

    # Given 20 runs under way: 5 blocked inside `act` after queueing their effect, 5 between
    # nodes (Step Functions waiting to retry `hold`), 8 waiting for approval (2 of them just
    # approved), and 2 just started
    inside = [
        api.start("crash_gate", {"order": f"in-{i}", "gate": str(gate), "mode": "inside"})
        for i in range(5)
    ]
    between = [
        api.start("crash_gate", {"order": f"bt-{i}", "gate": str(gate), "mode": "between"})
        for i in range(5)
    ]
    waiting = [api.start("support_triage", {**refund, "ticket_id": f"R-{i}"}) for i in range(8)]
    wait_for(lambda: all((gate / f"{run}.inside").exists() for run in inside), timeout=90)
    wait_for(
        lambda: all(
            any(e["type"] == "node.failed" and e["node"] == "hold" for e in api.run(r)["events"])
            for r in between
        ),
        timeout=90,
        every=0.2,
    )
    wait_for(lambda: len(api.pending()) == len(waiting), timeout=90, every=0.2)
    assert all(api.run(r)["status"] == "waiting_for_approval" for r in waiting)
    decided_before = [a for a in api.pending() if a["run_id"] in waiting[:2]]
    for approval in decided_before:
        assert api.approve(approval["id"]).status_code == 200
    fresh = [
        api.start("support_triage", {**load_event("password_ticket"), "ticket_id": f"P-{i}"})
        for i in range(2)
    ]
    # The blocked nodes have written their effect in their open transaction.
    assert all(api.run(r)["effects"] == [] for r in inside)

    # When the whole stack is killed, the gate opens, and the stack starts again on the same
    # data and ports
    stack.kill()
    (gate / "open").touch()
    stack.start()
    assert "continuing" in stack.output().rsplit("AWS emulator on", 1)[-1]

    # Then the six approvals still waiting are there, once each, and can be decided
    still_waiting = wait_for(
        lambda: (found := api.pending()) and len(found) == len(waiting) - 2 and found,
        timeout=90,
        every=0.2,
    )
    assert sorted(a["run_id"] for a in still_waiting) == sorted(waiting[2:])
    for approval in still_waiting:
        answer = api.approve(approval["id"])
        assert answer.status_code == 200, answer.text

    every = inside + between + waiting + fresh
    assert len(every) == 20

    def finished() -> list[dict[str, Any]] | None:
        runs = [api.run(r) for r in every]
        done = all(r["status"] in ("succeeded", "failed", "cancelled") for r in runs)
        return runs if done else None

    runs = wait_for(finished, timeout=120, every=0.5)
    assert {r["id"]: r["status"] for r in runs} == {r: "succeeded" for r in every}

    for run in runs:
        nodes = GATE_NODES if run["workflow"] == "crash_gate" else REFUND_NODES
        # No node's work is recorded twice, and every effect is queued once.
        succeeded = Counter(e["node"] for e in run["events"] if e["type"] == "node.succeeded")
        assert succeeded == Counter(nodes), run["id"]
        assert [e["kind"] for e in run["effects"]] == (
            ["shipment"] if run["workflow"] == "crash_gate" else ["email.reply"]
        ), run["id"]
        assert Counter(e["type"] for e in run["events"])["run.succeeded"] == 1
        # One approval per request, decided once.
        if run["id"] in waiting:
            (approval,) = run["approvals"]
            assert approval["status"] == "approved"
            types = [e["type"] for e in run["events"]]
            assert types.count("approval.approved") == 1, run["id"]
        else:
            assert run["approvals"] == [] or run["workflow"] == "support_triage"

    # The runs inside `act` ran it again after the restart (their first try was never
    # committed); the runs between nodes did not run a finished node again.
    for run in runs:
        entered = Counter(e["node"] for e in run["events"] if e["type"] == "node.entered")
        if run["id"] in inside:
            assert entered["act"] == 2
        if run["id"] in between:
            assert entered["prepare"] == 1

    # Stopped cleanly after the restart, it stops the Postgres the killed one left running.
    stack.stop()
    assert not (stack.data_dir / "pgdata" / "postmaster.pid").exists()
