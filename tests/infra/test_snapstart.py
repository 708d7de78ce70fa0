"""Lambda SnapStart on the API, the webhook ingress and the node runner: published versions
behind a `live` alias, and API Gateway and the state machines' Tasks invoking that alias, never
`$LATEST` (which SnapStart does not snapshot)."""

from __future__ import annotations

from typing import Any

import pytest

from flightdeck.engine import compiler
from stacks.runtime import LIVE_ALIAS
from tests.infra.conftest import Synthesized
from tests.infra.test_nag import nag_errors

API_HANDLER = "functions.api.handler.handler"
WEBHOOK_INGRESS_HANDLER = "functions.webhook_ingress.handler.handler"
NODE_RUNNER_HANDLER = "functions.node_runner.handler.handler"
SNAP_STARTED = {API_HANDLER: "api", WEBHOOK_INGRESS_HANDLER: "api", NODE_RUNNER_HANDLER: "workflow"}


def resources(template: Any, kind: str) -> dict[str, Any]:
    return dict(template.find_resources(kind))


def function_id(synthesized: Synthesized, part: str, handler: str) -> str:
    functions = resources(synthesized.template(part), "AWS::Lambda::Function")
    (found,) = [k for k, f in functions.items() if f["Properties"]["Handler"] == handler]
    return found


def live_alias_id(synthesized: Synthesized, part: str, handler: str) -> str:
    """The `live` alias of the handler's function, pointing at a version of that function."""
    template = synthesized.template(part)
    function = function_id(synthesized, part, handler)
    aliases = {
        k: a["Properties"]
        for k, a in resources(template, "AWS::Lambda::Alias").items()
        if a["Properties"]["FunctionName"] == {"Ref": function}
    }
    (alias_id,) = aliases
    props = aliases[alias_id]
    assert props["Name"] == LIVE_ALIAS
    version_id, attribute = props["FunctionVersion"]["Fn::GetAtt"]
    assert attribute == "Version"
    version = resources(template, "AWS::Lambda::Version")[version_id]["Properties"]
    assert version["FunctionName"] == {"Ref": function}
    return alias_id


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_snapstart_is_on_for_the_api_the_webhook_ingress_and_the_node_runner(
    stage: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(stage)
    for handler, part in SNAP_STARTED.items():
        functions = resources(synthesized.template(part), "AWS::Lambda::Function")
        props = functions[function_id(synthesized, part, handler)]["Properties"]
        assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}, handler


@pytest.mark.parametrize(("handler", "part"), sorted(SNAP_STARTED.items()))
def test_each_snapstart_function_has_a_published_version_behind_the_live_alias(
    dev: Synthesized, handler: str, part: str
) -> None:
    assert live_alias_id(dev, part, handler)


@pytest.mark.parametrize(
    ("handler", "methods"),
    # The API function serves the root and {proxy+}; the ingress, POST /v1/webhooks/{workflow}.
    [(API_HANDLER, 2), (WEBHOOK_INGRESS_HANDLER, 1)],
)
def test_api_gateway_invokes_each_functions_live_alias(
    dev: Synthesized, handler: str, methods: int
) -> None:
    template = dev.template("api")
    alias = {"Ref": live_alias_id(dev, "api", handler)}
    function = function_id(dev, "api", handler)
    bare = {"Fn::GetAtt": [function, "Arn"]}
    uris = [
        m["Properties"]["Integration"]["Uri"]["Fn::Join"][1]
        for m in resources(template, "AWS::ApiGateway::Method").values()
        if m["Properties"].get("Integration", {}).get("Type") == "AWS_PROXY"
    ]
    # Given the proxy methods, the function's name its alias in their Lambda URI, and none
    # names the bare function ($LATEST).
    assert sum(alias in parts for parts in uris) >= methods
    assert not any(bare in parts for parts in uris)
    # And API Gateway's permissions for the function name the alias, never the function.
    named = [
        p["Properties"]["FunctionName"]
        for p in resources(template, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert alias in named
    assert not any(name in ({"Ref": function}, bare) for name in named)


def test_every_state_machine_task_invokes_the_node_runners_live_alias(dev: Synthesized) -> None:
    template = dev.template("workflow")
    alias = {"Ref": live_alias_id(dev, "workflow", NODE_RUNNER_HANDLER)}
    runner = function_id(dev, "workflow", NODE_RUNNER_HANDLER)
    machines = resources(template, "AWS::StepFunctions::StateMachine")
    assert len(machines) == len(dev.workflows) >= 1
    for machine in machines.values():
        props = machine["Properties"]
        substitutions = props["DefinitionSubstitutions"]
        # The node Tasks' `${NodeRunner}` placeholder is the alias ARN ...
        assert f"${{{compiler.NODE_RUNNER}}}" in props["DefinitionString"]
        assert substitutions[compiler.NODE_RUNNER] == alias
        # ... and the other Task functions (no SnapStart) are invoked as they are.
        for placeholder, value in substitutions.items():
            if placeholder != compiler.NODE_RUNNER:
                assert value["Fn::GetAtt"][1] == "Arn", placeholder
        # The machine's role may invoke the alias (the function's ARN and its qualifiers).
        role = props["RoleArn"]["Fn::GetAtt"][0]
        resources_granted = [
            resource
            for policy in resources(template, "AWS::IAM::Policy").values()
            if {"Ref": role} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if "lambda:InvokeFunction" in statement["Action"]
            for resource in statement["Resource"]
        ]
        qualified = {"Fn::Join": ["", [{"Fn::GetAtt": [runner, "Arn"]}, ":*"]]}
        assert qualified in resources_granted


def test_the_snapstart_stacks_stay_nag_clean(dev: Synthesized) -> None:
    assert nag_errors(dev.stacks.api) == []
    assert nag_errors(dev.stacks.workflow) == []
