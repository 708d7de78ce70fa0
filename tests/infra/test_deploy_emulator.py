"""Deploy-to-emulator: the synthesized data and workflow stacks are created by the emulator's
CloudFormation, and `support_triage` runs on the deployed state machine, every Lambda
invocation dispatched in-process to the deployed function's `Handler`.

The data stack is created minus what moto cannot create (see `emulator_deploy` and
docs/deploy.md); the workflow stack is created whole, importing the data stack's exports, with
stand-ins for the two exports whose resources the emulator lacks (the database secret and the
RDS Proxy endpoint). The handlers read this test's settings (its own database and emulator),
as in every tier that runs the platform in process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from flightdeck.engine import compiler
from flightdeck.local.emulator import ACCOUNT_ID
from flightdeck.settings import EnvVar
from tests.conftest import Platform, load_event
from tests.infra import emulator_deploy
from tests.infra.conftest import Synthesized

PROXY_ENDPOINT = "proxy.emulator.invalid"


@dataclass(frozen=True)
class Deployed:
    synthesized: Synthesized
    templates: dict[str, emulator_deploy.Rewritten]
    outputs: dict[str, dict[str, str]]
    # Deployed state machine ARNs by workflow name.
    machines: dict[str, str]
    secret_arn: str


def template_of(synthesized: Synthesized, part: str) -> dict[str, Any]:
    stack = getattr(synthesized.stacks, part)
    path = Path(synthesized.app.outdir) / stack.template_file
    return dict(json.loads(path.read_text()))


@pytest.fixture(scope="module")
def deployed(emulator: Any, dev: Synthesized) -> Deployed:
    cloudformation = emulator.client("cloudformation")
    s3 = emulator.client("s3")
    outdir = Path(dev.app.outdir)
    # The database secret is not creatable by the emulator's CloudFormation; one made through
    # the API stands in for it, so the functions get a real ARN.
    secret_arn = emulator.client("secretsmanager").create_secret(
        Name=f"{dev.config.name}/database",
        SecretString=json.dumps({"username": "flightdeck", "password": "local", "port": 5432}),
    )["ARN"]
    stand_ins = {
        "AWS::SecretsManager::SecretTargetAttachment": secret_arn,
        "AWS::RDS::DBProxy": PROXY_ENDPOINT,
    }
    templates: dict[str, emulator_deploy.Rewritten] = {}
    outputs: dict[str, dict[str, str]] = {}
    for part in ("data", "workflow"):
        stack = getattr(dev.stacks, part)
        template = template_of(dev, part)
        exported = {e["Name"] for e in cloudformation.list_exports()["Exports"]}
        missing = emulator_deploy.unresolved_imports(template, template_of(dev, "data"), exported)
        templates[part] = emulator_deploy.for_emulator(
            template, imports={name: stand_ins[kind] for name, kind in missing.items()}
        )
        emulator_deploy.upload_assets(
            s3,
            outdir / f"{stack.artifact_id}.assets.json",
            account=ACCOUNT_ID,
            region=emulator.region,
        )
        outputs[part] = emulator_deploy.create_stack(
            cloudformation, stack.stack_name, templates[part].template
        )
    handed = emulator_deploy.hand_over_state_machines(
        cloudformation, emulator.client("stepfunctions"), dev.stacks.workflow.stack_name
    )
    machines = {
        name.removeprefix(dev.config.state_machine_prefix): arn for name, arn in handed.items()
    }
    # The stacks stay until the emulator stops with the session: moto cannot delete the
    # data stack's VPC before its dependants.
    return Deployed(dev, templates, outputs, machines, secret_arn)


@pytest.fixture
def on_deployed(
    platform: Platform, deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> Platform:
    """The platform of this test, starting runs on the deployed state machines and keeping
    large outputs in the deployed artifact bucket."""
    from flightdeck.services import reset_services, services

    prefix = deployed.synthesized.config.state_machine_prefix
    monkeypatch.setenv(
        EnvVar.STATE_MACHINE_ARN_PREFIX, platform.emulator.state_machine_arn_prefix(prefix)
    )
    monkeypatch.setenv(EnvVar.ARTIFACT_BUCKET, deployed.outputs["data"]["ArtifactBucketName"])
    reset_services()
    return replace(platform, services=services(), machines=deployed.machines)


def test_the_emulator_creates_the_workflow_stack_whole(emulator: Any, deployed: Deployed) -> None:
    workflow = deployed.templates["workflow"]
    # moto has no model for a function's async-invoke settings (the callback dispatcher's
    # one-minute event age); the template tests assert them. Everything else is created.
    assert set(workflow.dropped) == set(workflow.unsupported)
    assert set(workflow.unsupported.values()) == {"AWS::Lambda::EventInvokeConfig"}
    assert {
        "AWS::Lambda::Function",
        "AWS::Lambda::LayerVersion",
        "AWS::IAM::Role",
        "AWS::StepFunctions::StateMachine",
    } <= workflow.resource_types()
    stack_name = deployed.synthesized.stacks.workflow.stack_name
    created = emulator.client("cloudformation").describe_stack_resources(StackName=stack_name)
    by_type: dict[str, int] = {}
    for resource in created["StackResources"]:
        assert resource["ResourceStatus"] == "CREATE_COMPLETE", resource
        by_type[resource["ResourceType"]] = by_type.get(resource["ResourceType"], 0) + 1
    expected: dict[str, int] = {}
    for resource in workflow.template["Resources"].values():
        expected[resource["Type"]] = expected.get(resource["Type"], 0) + 1
    assert by_type == expected


def test_the_data_stack_is_created_without_what_the_emulator_lacks(
    emulator: Any, deployed: Deployed
) -> None:
    data = deployed.templates["data"]
    lacking = set(data.unsupported.values())
    assert {"AWS::RDS::DBProxy", "AWS::SecretsManager::Secret", "Custom::Trigger"} <= lacking
    assert {"AWS::S3::Bucket", "AWS::KMS::Key", "AWS::EC2::VPC"} <= data.resource_types()
    buckets = {b["Name"] for b in emulator.client("s3").list_buckets()["Buckets"]}
    assert deployed.outputs["data"]["ArtifactBucketName"] in buckets
    assert deployed.outputs["data"]["DocumentBucketName"] in buckets


def test_deployed_functions_dispatch_to_their_handlers_with_the_stacks_settings(
    emulator: Any, deployed: Deployed
) -> None:
    lam = emulator.client("lambda")
    stack_name = deployed.synthesized.stacks.workflow.stack_name
    functions = [
        f for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith(stack_name)
    ]
    handlers = {f["Handler"] for f in functions}
    assert {
        "functions.node_runner.handler.handler",
        "functions.approval_request.handler.handler",
        "functions.approval_timeout.handler.handler",
        "functions.run_failed.handler.handler",
        "functions.approval_metrics.handler.handler",
        "functions.callback_dispatcher.handler.handler",
        "functions.sweeper.handler.handler",
    } == handlers
    for function in functions:
        # (moto's CloudFormation drops `Architectures`; the template tests check arm64.)
        assert function["Runtime"] == "python3.12"
        variables = function["Environment"]["Variables"]
        assert variables[EnvVar.DATABASE_HOST] == PROXY_ENDPOINT
        assert variables[EnvVar.DATABASE_SECRET_ARN] == deployed.secret_arn
        assert variables[EnvVar.ARTIFACT_BUCKET] == deployed.outputs["data"]["ArtifactBucketName"]
        assert variables[EnvVar.STATE_MACHINE_ARN_PREFIX] == emulator.state_machine_arn_prefix(
            deployed.synthesized.config.state_machine_prefix
        )


def test_the_deployed_state_machine_is_the_compilers_output(
    emulator: Any, deployed: Deployed
) -> None:
    lam = emulator.client("lambda")
    arns = {
        f["Handler"]: f["FunctionArn"]
        for f in lam.list_functions()["Functions"]
        if f["FunctionName"].startswith(deployed.synthesized.stacks.workflow.stack_name)
    }
    from stacks.workflow import TASK_FUNCTIONS

    substitutions = {spec.placeholder: arns[spec.handler] for spec in TASK_FUNCTIONS}
    sfn = emulator.client("stepfunctions")
    for workflow in deployed.synthesized.workflows:
        described = sfn.describe_state_machine(stateMachineArn=deployed.machines[workflow.name])
        expected = compiler.substitute(compiler.compile_workflow(workflow), substitutions)
        assert json.loads(described["definition"]) == json.loads(expected)


def test_a_support_triage_run_succeeds_on_the_deployed_state_machine(
    on_deployed: Platform,
) -> None:
    run_id = on_deployed.start("support_triage", load_event("password_ticket"))

    run = on_deployed.wait_status(run_id, "succeeded", "failed")

    assert run.status == "succeeded", run
    assert on_deployed.execution_status(run_id) == "SUCCEEDED"
    nodes = [e.node for e in on_deployed.events(run_id) if e.type == "node.succeeded"]
    assert nodes[0] == "plan"
    assert nodes[-1] == "reflect"


def test_a_refund_waits_for_its_approval_on_the_deployed_state_machine(
    on_deployed: Platform,
) -> None:
    # Given a refund ticket, which policy sends to a person
    run_id = on_deployed.start("support_triage", load_event("refund_ticket"))
    approval = on_deployed.pending_approval(run_id)
    assert on_deployed.execution_status(run_id) == "RUNNING"

    # When an operator approves it
    on_deployed.services.approvals.decide(
        tenant_id=on_deployed.tenant_id,
        approval_id=approval.id,
        decision="approve",
        payload=None,
        decided_by="operator:test",
    )

    # Then the deployed execution resumes and the run succeeds
    run = on_deployed.wait_status(run_id, "succeeded", "failed")
    assert run.status == "succeeded", run
    assert on_deployed.execution_status(run_id) == "SUCCEEDED"
