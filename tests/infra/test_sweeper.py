"""The run sweeper in the workflow stack: scheduled every minute, one at a time, allowed to
start executions of the workflows' state machines and nothing broader, cdk-nag clean."""

from __future__ import annotations

import json
from typing import Any

from flightdeck.local.emulator import FUNCTIONS
from tests.infra.conftest import Synthesized
from tests.infra.test_nag import nag_errors

HANDLER = "functions.sweeper.handler.handler"


def resources(template: Any, kind: str) -> dict[str, Any]:
    return dict(template.find_resources(kind))


def sweeper(template: Any) -> tuple[str, dict[str, Any]]:
    ((logical_id, function),) = [
        (k, f)
        for k, f in resources(template, "AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == HANDLER
    ]
    return logical_id, function["Properties"]


def statements(template: Any, function: dict[str, Any]) -> list[dict[str, Any]]:
    role = function["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def test_the_sweeper_runs_every_minute_one_at_a_time(dev: Synthesized) -> None:
    template = dev.template("workflow")
    sweeper_id, props = sweeper(template)
    assert props["Runtime"] == "python3.12"
    assert props["ReservedConcurrentExecutions"] == 1

    rules = [
        r["Properties"]
        for r in resources(template, "AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [sweeper_id, "Arn"]} for t in r["Properties"]["Targets"])
    ]
    assert len(rules) == 1
    assert rules[0]["ScheduleExpression"] == "rate(1 minute)"
    assert rules[0]["State"] == "ENABLED"
    # A failed or throttled firing is dropped: the next one sweeps again a minute later.
    assert rules[0]["Targets"][0]["RetryPolicy"]["MaximumRetryAttempts"] == 0
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [sweeper_id, "Arn"]},
            "Principal": "events.amazonaws.com",
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"FunctionName": {"Ref": sweeper_id}, "MaximumRetryAttempts": 0},
    )


def test_the_sweeper_may_start_executions_of_every_workflow_and_nothing_else(
    dev: Synthesized,
) -> None:
    template = dev.template("workflow")
    _, props = sweeper(template)
    granted = statements(template, props)
    starts = [s for s in granted if "states:StartExecution" in actions(s)]
    machines = {
        k
        for k, m in resources(template, "AWS::StepFunctions::StateMachine").items()
        if m["Properties"].get("StateMachineName")
    }
    assert machines
    assert len(machines) == len(dev.workflows)
    assert sorted(json.dumps(s["Resource"]) for s in starts) == sorted(
        json.dumps({"Ref": m}) for m in machines
    )
    for statement in starts:
        assert actions(statement) == {"states:StartExecution"}
    # Nothing stops, signals or reads executions, and no secret beyond the database's.
    everything = set().union(*(actions(s) for s in granted))
    assert not {a for a in everything if a.startswith("states:") and a != "states:StartExecution"}
    assert not [a for a in everything if a.startswith("secretsmanager:Put")]
    # Its settings are the other workflow functions' (database, state machines, key).
    _, runner = next(
        (k, f["Properties"])
        for k, f in resources(template, "AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == FUNCTIONS[0].handler
    )
    assert props["Environment"]["Variables"] == runner["Environment"]["Variables"]
    assert props["VpcConfig"] == runner["VpcConfig"]


def test_the_workflow_stack_with_the_sweeper_is_nag_clean(dev: Synthesized) -> None:
    assert nag_errors(dev.stacks.workflow) == []
