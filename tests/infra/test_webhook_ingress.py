"""The webhook route's own function in the API stack: API Gateway sends
`POST /v1/webhooks/{workflow}` to it and every other request to the app; it may seal and store
triggers and start executions, and nothing the app's other routes need."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.conftest import Synthesized

HANDLER = "functions.webhook_ingress.handler.handler"


def resources(template: Any, kind: str) -> dict[str, Any]:
    return dict(template.find_resources(kind))


def test_post_webhooks_goes_to_the_ingress_function(dev: Synthesized) -> None:
    template = dev.template("api")
    functions = resources(template, "AWS::Lambda::Function")
    ((ingress_id, ingress),) = [
        (k, f) for k, f in functions.items() if f["Properties"]["Handler"] == HANDLER
    ]
    paths = resources(template, "AWS::ApiGateway::Resource")
    by_id = {k: r["Properties"] for k, r in paths.items()}

    def path_of(resource_id: str) -> str:
        props = by_id[resource_id]
        parent = props["ParentId"]
        prefix = path_of(parent["Ref"]) if "Ref" in parent else ""
        return f"{prefix}/{props['PathPart']}"

    methods = [
        m["Properties"]
        for m in resources(template, "AWS::ApiGateway::Method").values()
        if "Ref" in m["Properties"]["ResourceId"]
        and path_of(m["Properties"]["ResourceId"]["Ref"]) == "/v1/webhooks/{workflow}"
    ]
    assert [m["HttpMethod"] for m in methods] == ["POST"]
    integration = methods[0]["Integration"]
    assert integration["Type"] == "AWS_PROXY"
    # Through its SnapStart `live` alias (tests/infra/test_snapstart.py).
    (alias_id,) = [
        k
        for k, a in resources(template, "AWS::Lambda::Alias").items()
        if a["Properties"]["FunctionName"] == {"Ref": ingress_id}
    ]
    assert alias_id in json.dumps(integration["Uri"])
    # Everything else still reaches the app through its proxy resource.
    assert "/{proxy+}" in {path_of(k) for k in by_id}
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Ref": alias_id},
            "Principal": "apigateway.amazonaws.com",
        },
    )
    api = next(
        f["Properties"]
        for f in functions.values()
        if f["Properties"]["Handler"] == "functions.api.handler.handler"
    )
    # The same settings as the app's function (database, state machines, trigger key, limits).
    assert ingress["Properties"]["Environment"] == api["Environment"]


def test_the_ingress_may_seal_store_and_start_and_no_more(dev: Synthesized) -> None:
    template = dev.template("api")
    functions = resources(template, "AWS::Lambda::Function")
    ingress = next(
        f["Properties"] for f in functions.values() if f["Properties"]["Handler"] == HANDLER
    )
    role = ingress["Role"]["Fn::GetAtt"][0]
    statements = [
        s
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert "states:StartExecution" in actions
    assert "kms:Encrypt" in actions
    assert "s3:PutObject" in actions
    # No reading of executions, no opening triggers, no deleting objects, no model calls.
    assert not {a for a in actions if a.startswith("states:") and a != "states:StartExecution"}
    seals = [s for s in statements if "TriggerKey" in json.dumps(s["Resource"])]
    assert [s["Action"] for s in seals] == [
        ["kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
    ]
    decrypts = [s for s in statements if "kms:Decrypt" in json.dumps(s["Action"])]
    assert not [s for s in decrypts if "TriggerKey" in json.dumps(s["Resource"])]
    assert not {a for a in actions if a.startswith(("s3:Delete", "bedrock:"))}
