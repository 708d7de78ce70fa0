"""Lambda SnapStart on the API and the node runner: published versions behind a `live` alias,
and API Gateway and the state machines' Tasks invoking that alias, never `$LATEST` (which
SnapStart does not snapshot)."""

from __future__ import annotations

from typing import Any

import pytest

from flightdeck.engine import compiler
from stacks.runtime import LIVE_ALIAS
from tests.infra.conftest import Synthesized
from tests.infra.test_nag import nag_errors

API_HANDLER = "functions.api.handler.handler"
NODE_RUNNER_HANDLER = "functions.node_runner.handler.handler"
SNAP_STARTED = {API_HANDLER: "api", NODE_RUNNER_HANDLER: "workflow"}


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
def test_snapstart_is_on_for_the_api_and_the_node_runner_only(
    stage: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(stage)
    for part in ("api", "workflow"):
        for function in resources(synthesized.template(part), "AWS::Lambda::Function").values():
            props = function["Properties"]
            if props.get("Handler") in SNAP_STARTED:
                assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}, props["Handler"]
            else:
                assert "SnapStart" not in props, props.get("Handler")


@pytest.mark.parametrize(("handler", "part"), sorted(SNAP_STARTED.items()))
def test_each_snapstart_function_has_a_published_version_behind_the_live_alias(
    dev: Synthesized, handler: str, part: str
) -> None:
    assert live_alias_id(dev, part, handler)


def test_api_gateway_invokes_the_api_functions_live_alias(dev: Synthesized) -> None:
    template = dev.template("api")
    alias = {"Ref": live_alias_id(dev, "api", API_HANDLER)}
    function = function_id(dev, "api", API_HANDLER)
    methods = resources(template, "AWS::ApiGateway::Method")
    integrations = [m["Properties"]["Integration"] for m in methods.values()]
    proxied = [i for i in integrations if i.get("Type") == "AWS_PROXY"]
    # Given the proxy methods (the root and {proxy+}), each one's Lambda URI names the alias.
    assert len(proxied) >= 2
    for integration in proxied:
        parts = integration["Uri"]["Fn::Join"][1]
        assert alias in parts, parts
        assert {"Fn::GetAtt": [function, "Arn"]} not in parts
    # And API Gateway may invoke the alias (the permission names it, not the bare function).
    permissions = [
        p["Properties"]
        for p in resources(template, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert permissions
    assert all(p["FunctionName"] == alias for p in permissions)


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
