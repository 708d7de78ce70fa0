"""Compile a workflow's LangGraph graph to Amazon States Language.

One Task per node invokes the node runner with ids only; a Choice after it follows the graph's
edges using the `next` the runner returns; nodes named by the approval policy get a
`.waitForTaskToken` state whose timeout leads to the policy's default action. Every Task is
built by `_task`, which always carries Retry and Catch, so no Task can be written without them.

The output is plain JSON with `${...}` placeholders for the Lambda ARNs. CDK deploys it through
definition substitutions and the local emulator through `substitute`: one document, two places.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from flightdeck.engine.workflow import ApprovalPolicy, Workflow
from flightdeck.errors import WorkflowDefinitionError

# Placeholders, replaced by CDK's definition substitutions or by `substitute`.
NODE_RUNNER = "NodeRunnerFunctionArn"
APPROVAL_REQUEST = "ApprovalRequestFunctionArn"
APPROVAL_TIMEOUT = "ApprovalTimeoutFunctionArn"
RUN_FAILED = "RunFailedFunctionArn"
PLACEHOLDERS = (NODE_RUNNER, APPROVAL_REQUEST, APPROVAL_TIMEOUT, RUN_FAILED)

# What the node runner may answer besides a node name.
END = "__end__"
INTERRUPT = "__interrupt__"

# The project's transient errors (see `flightdeck.errors`): Step Functions matches error names,
# not classes, so each subclass that a Task may raise is named here.
TRANSIENT_ERRORS = ["TransientError", "DatabaseUnavailableError"]
LAMBDA_SERVICE_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]

START_STATE = "Start"
SUCCEEDED_STATE = "Succeeded"
FAILED_STATE = "Failed"
RECORD_FAILURE_STATE = "Record failure"
UNEXPECTED_STATE = "Unexpected transition"
UNKNOWN_START_STATE = "Unknown start node"


def run_state(node: str) -> str:
    return f"Run {node}"


def route_state(node: str) -> str:
    return f"After {node}"


def await_state(node: str) -> str:
    return f"Await approval {node}"


def timeout_state(node: str) -> str:
    return f"Approval timed out {node}"


def escalate_state(node: str) -> str:
    return f"Escalate approval {node}"


def _lambda_retry() -> dict[str, Any]:
    return {
        "ErrorEquals": LAMBDA_SERVICE_ERRORS,
        "IntervalSeconds": 1,
        "MaxAttempts": 6,
        "BackoffRate": 2.0,
        "MaxDelaySeconds": 30,
        "JitterStrategy": "FULL",
    }


def _transient_retry(
    *, interval: int = 1, attempts: int = 3, backoff: float = 2.0, max_delay: int = 30
) -> dict[str, Any]:
    return {
        "ErrorEquals": TRANSIENT_ERRORS,
        "IntervalSeconds": interval,
        "MaxAttempts": attempts,
        "BackoffRate": backoff,
        "MaxDelaySeconds": max_delay,
        "JitterStrategy": "FULL",
    }


def _task(
    function: str,
    payload: dict[str, Any],
    *,
    next_state: str,
    result_path: str | None,
    result_selector: dict[str, Any] | None = None,
    transient_retry: dict[str, Any] | None = None,
    extra_catches: Sequence[dict[str, Any]] = (),
    wait_for_token: bool = False,
    timeout_seconds: int | None = None,
    catch_to: str = RECORD_FAILURE_STATE,
) -> dict[str, Any]:
    """A Lambda Task that retries transient and service errors and catches everything else.
    Node Tasks retry transient errors as their workflow's policy says (`transient_retry`); the
    platform's own Tasks (approvals, failure recording) a few times, quickly."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke"
        + (".waitForTaskToken" if wait_for_token else ""),
        "Parameters": {"FunctionName": f"${{{function}}}", "Payload": payload},
    }
    if timeout_seconds is not None:
        state["TimeoutSeconds"] = timeout_seconds
    if result_selector is not None:
        state["ResultSelector"] = result_selector
    state["ResultPath"] = result_path
    state["Retry"] = [transient_retry or _transient_retry(), _lambda_retry()]
    state["Catch"] = [
        *extra_catches,
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": catch_to},
    ]
    state["Next"] = next_state
    return state


def _equals(variable: str, value: str, next_state: str) -> dict[str, Any]:
    return {"Variable": variable, "StringEquals": value, "Next": next_state}


def _await(node: str, *, escalate: bool, timeout_seconds: int, on_timeout: str) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "run_id.$": "$.run_id",
        "tenant_id.$": "$.tenant_id",
        "node": node,
        "approval_id.$": "$.step.interrupt.approval_id",
        "task_token.$": "$$.Task.Token",
    }
    if escalate:
        payload["escalate"] = True
    return _task(
        APPROVAL_REQUEST,
        payload,
        wait_for_token=True,
        timeout_seconds=timeout_seconds,
        result_path="$.decision",
        next_state=run_state(node),
        extra_catches=[
            {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": on_timeout}
        ],
    )


def _approval_states(node: str, policy: ApprovalPolicy) -> dict[str, Any]:
    """The wait for a decision, the optional escalation to admins, and the default action."""
    states: dict[str, Any] = {}
    escalating = policy.on_timeout == "escalate"
    states[await_state(node)] = _await(
        node,
        escalate=False,
        timeout_seconds=policy.timeout_seconds,
        on_timeout=escalate_state(node) if escalating else timeout_state(node),
    )
    if escalating:
        states[escalate_state(node)] = _await(
            node,
            escalate=True,
            timeout_seconds=policy.escalation_timeout_seconds,
            on_timeout=timeout_state(node),
        )
    states[timeout_state(node)] = _task(
        APPROVAL_TIMEOUT,
        {
            "run_id.$": "$.run_id",
            "tenant_id.$": "$.tenant_id",
            "node": node,
            "approval_id.$": "$.step.interrupt.approval_id",
        },
        result_path="$.decision",
        next_state=run_state(node),
    )
    return states


def analyse(workflow: Workflow) -> tuple[str, dict[str, list[str]]]:
    """The entry node and each node's possible successors (END included), from the graph.

    Refuses what one-node-per-Task cannot express: fan-out to parallel nodes, joins, and
    conditional edges whose possible targets are not declared.
    """
    graph = workflow.graph
    nodes = [n for n in graph.nodes]
    if not nodes:
        raise WorkflowDefinitionError(f"{workflow.name}: the graph has no nodes")
    successors: dict[str, set[str]] = {n: set() for n in nodes}
    static: dict[str, set[str]] = {n: set() for n in [*nodes, "__start__"]}
    for source, target in graph.edges:
        static.setdefault(source, set()).add(target)
    if getattr(graph, "waiting_edges", None):
        raise WorkflowDefinitionError(
            f"{workflow.name}: edges that wait on several nodes (joins) are not supported"
        )
    if "__start__" in graph.branches:
        raise WorkflowDefinitionError(
            f"{workflow.name}: a conditional entry point is not supported; start at one node"
        )
    entry_targets = static.get("__start__", set())
    if len(entry_targets) != 1:
        raise WorkflowDefinitionError(
            f"{workflow.name}: the graph must have exactly one edge from START, "
            f"found {sorted(entry_targets)}"
        )
    (entry,) = entry_targets
    for node in nodes:
        targets = static.get(node, set())
        branches = graph.branches.get(node, {})
        if len(targets) > 1 or (targets and branches) or len(branches) > 1:
            raise WorkflowDefinitionError(
                f"{workflow.name}: node {node!r} fans out to parallel branches, which the "
                "one-node-per-Task model does not support; route with one conditional edge"
            )
        successors[node] |= targets
        for name, branch in branches.items():
            if not branch.ends:
                raise WorkflowDefinitionError(
                    f"{workflow.name}: conditional edge {name!r} from {node!r} must declare its "
                    "targets (a path map, or a Literal return annotation)"
                )
            successors[node] |= set(branch.ends.values())
        if not successors[node]:
            raise WorkflowDefinitionError(f"{workflow.name}: node {node!r} has no way out")
    ordered = {n: sorted(successors[n], key=lambda s: (s == END, s)) for n in nodes}
    return entry, ordered


def compile_workflow(workflow: Workflow) -> dict[str, Any]:
    """The state machine definition for `workflow`, with ARN placeholders."""
    entry, successors = analyse(workflow)
    manifest = workflow.manifest
    interrupting = set(workflow.interrupting_nodes())
    retry = manifest.retry
    transient_retry = _transient_retry(
        interval=retry.interval_seconds,
        attempts=retry.max_attempts,
        backoff=retry.backoff_rate,
        max_delay=retry.max_delay_seconds,
    )

    states: dict[str, Any] = {
        START_STATE: {
            "Type": "Choice",
            "Comment": "A new run starts at the entry node; a resumed one names it in $.next.",
            "Choices": [
                {"Variable": "$.next", "IsPresent": False, "Next": run_state(entry)},
                *(_equals("$.next", node, run_state(node)) for node in successors),
            ],
            "Default": UNKNOWN_START_STATE,
        },
        UNKNOWN_START_STATE: {
            "Type": "Pass",
            "Parameters": {
                "Error": "UnknownStartNode",
                "Cause.$": "States.Format('no node named {} to start from', $.next)",
            },
            "ResultPath": "$.error",
            "Next": RECORD_FAILURE_STATE,
        },
    }
    for node, targets in successors.items():
        states[run_state(node)] = _task(
            NODE_RUNNER,
            {
                "run_id.$": "$.run_id",
                "tenant_id.$": "$.tenant_id",
                "workflow": workflow.name,
                "node": node,
                "attempt.$": "$$.State.RetryCount",
                "execution.$": "$$.Execution.Name",
                "entered_at.$": "$$.State.EnteredTime",
                # The run's trace (W3C traceparent, 55 characters); every execution's input
                # has one (`RunService._start_execution`), empty when tracing is off.
                "traceparent.$": "$.traceparent",
            },
            result_selector={"next.$": "$.Payload.next", "interrupt.$": "$.Payload.interrupt"},
            result_path="$.step",
            next_state=route_state(node),
            transient_retry=transient_retry,
        )
        choices = [
            _equals("$.step.next", target, SUCCEEDED_STATE if target == END else run_state(target))
            for target in targets
        ]
        if node in interrupting:
            choices.append(_equals("$.step.next", INTERRUPT, await_state(node)))
        states[route_state(node)] = {
            "Type": "Choice",
            "Choices": choices,
            "Default": UNEXPECTED_STATE,
        }
        if node in interrupting:
            assert manifest.approval is not None
            states.update(_approval_states(node, manifest.approval))
    states[UNEXPECTED_STATE] = {
        "Type": "Pass",
        "Parameters": {
            "Error": "UnexpectedTransition",
            "Cause.$": "States.Format('the node runner answered next={}', $.step.next)",
        },
        "ResultPath": "$.error",
        "Next": RECORD_FAILURE_STATE,
    }
    states[RECORD_FAILURE_STATE] = _task(
        RUN_FAILED,
        {"run_id.$": "$.run_id", "tenant_id.$": "$.tenant_id", "error.$": "$.error"},
        result_path=None,
        next_state=FAILED_STATE,
        catch_to=FAILED_STATE,
    )
    states[FAILED_STATE] = {"Type": "Fail", "Error": "RunFailed", "Cause": "see the run's events"}
    states[SUCCEEDED_STATE] = {"Type": "Succeed"}
    return {
        "Comment": f"Flightdeck workflow {workflow.name} {manifest.version}; "
        "compiled from its LangGraph graph, do not edit",
        "StartAt": START_STATE,
        "States": states,
    }


def to_json(definition: Mapping[str, Any]) -> str:
    return json.dumps(definition, indent=2, sort_keys=False)


def substitute(definition: Mapping[str, Any], arns: Mapping[str, str]) -> str:
    """The definition as a string with placeholders replaced, as CDK's substitutions do."""
    missing = [p for p in PLACEHOLDERS if p not in arns]
    if missing:
        raise ValueError(f"no ARN given for {missing}")
    text = json.dumps(definition)
    for name, arn in arns.items():
        text = text.replace(f"${{{name}}}", arn)
    return text
