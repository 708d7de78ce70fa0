"""Template assertions: what each stack deploys, checked on the synthesized CloudFormation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from flightdeck.engine import compiler
from flightdeck.local.emulator import FUNCTIONS
from flightdeck.settings import EnvVar
from tests.infra.conftest import Synthesized
from tests.infra.test_nag import nag_errors


def resources(template: Any, kind: str) -> dict[str, Any]:
    return dict(template.find_resources(kind))


def test_every_function_runs_python_312_on_arm64(dev: Synthesized) -> None:
    for part in ("data", "workflow", "api"):
        functions = resources(dev.template(part), "AWS::Lambda::Function")
        ours = {k: f for k, f in functions.items() if f["Properties"].get("Layers")}
        assert ours, part
        for name, function in ours.items():
            props = function["Properties"]
            assert props["Runtime"] == "python3.12", name
            assert props["Architectures"] == ["arm64"], name
            assert props["TracingConfig"] == {"Mode": "Active"}, name
            assert props["Handler"].startswith("functions."), name
            assert len(props["Layers"]) == 2, name


def test_task_functions_use_the_handlers_the_emulator_dispatches(dev: Synthesized) -> None:
    handlers = {
        f["Properties"]["Handler"]
        for f in resources(dev.template("workflow"), "AWS::Lambda::Function").values()
    }
    assert {spec.handler for spec in FUNCTIONS} <= handlers


def proxy_endpoint(dev: Synthesized, part: str) -> Any:
    """How a function in stack `part` refers to the RDS Proxy endpoint."""
    data = dev.template("data")
    (proxy_id,) = resources(data, "AWS::RDS::DBProxy")
    endpoint = {"Fn::GetAtt": [proxy_id, "Endpoint"]}
    if part == "data":
        return endpoint
    exports = [
        o["Export"]["Name"]
        for o in data.to_json()["Outputs"].values()
        if o["Value"] == endpoint and "Export" in o
    ]
    assert exports
    return {"Fn::ImportValue": exports[0]}


def test_functions_get_settings_by_the_runtime_names(dev: Synthesized) -> None:
    template = dev.template("workflow")
    for function in resources(template, "AWS::Lambda::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        for name in (
            EnvVar.STAGE,
            EnvVar.DATABASE_SECRET_ARN,
            EnvVar.DATABASE_HOST,
            EnvVar.ARTIFACT_BUCKET,
            EnvVar.STATE_MACHINE_ARN_PREFIX,
            EnvVar.AWS_REGION,
            EnvVar.WORKFLOW_PACKAGES,
        ):
            assert str(name) in variables
        assert variables[str(EnvVar.STAGE)] == "development"


def test_every_database_function_connects_through_the_proxy(dev: Synthesized) -> None:
    for part in ("data", "workflow", "api"):
        functions = resources(dev.template(part), "AWS::Lambda::Function")
        ours = {
            k: f["Properties"]["Environment"]["Variables"]
            for k, f in functions.items()
            if str(EnvVar.DATABASE_SECRET_ARN)
            in f["Properties"].get("Environment", {}).get("Variables", {})
        }
        assert ours, part
        for name, variables in ours.items():
            assert variables[str(EnvVar.DATABASE_HOST)] == proxy_endpoint(dev, part), name


def test_only_the_proxy_and_rotation_reach_the_database(dev: Synthesized) -> None:
    template = dev.template("data")
    groups = resources(template, "AWS::EC2::SecurityGroup")

    def group_id(prefix: str) -> dict[str, Any]:
        (logical_id,) = [k for k in groups if k.startswith(prefix)]
        return {"Fn::GetAtt": [logical_id, "GroupId"]}

    def sources(prefix: str) -> set[str]:
        rules = [
            r["Properties"]
            for r in resources(template, "AWS::EC2::SecurityGroupIngress").values()
            if r["Properties"]["GroupId"] == group_id(prefix)
        ]
        return {r["SourceSecurityGroupId"]["Fn::GetAtt"][0] for r in rules}

    database = sources("DatabaseSg")
    # Given the functions' security group, then it reaches the proxy and never the instance;
    # the rotation function (which changes the instance's password) has its own group.
    assert database == {
        group_id("ProxySg")["Fn::GetAtt"][0],
        group_id("RotationSg")["Fn::GetAtt"][0],
    }
    assert sources("ProxySg") == {
        group_id("FunctionsSg")["Fn::GetAtt"][0],
        group_id("CallbacksSg")["Fn::GetAtt"][0],
    }
    db_group = groups[group_id("DatabaseSg")["Fn::GetAtt"][0]]["Properties"]
    assert "SecurityGroupIngress" not in db_group


def test_state_machine_definitions_are_the_compilers_output(dev: Synthesized) -> None:
    template = dev.template("workflow")
    machines = resources(template, "AWS::StepFunctions::StateMachine")
    by_name = {m["Properties"]["StateMachineName"]: m["Properties"] for m in machines.values()}
    assert len(by_name) == len(dev.workflows) >= 1
    for workflow in dev.workflows:
        props = by_name[f"{dev.config.state_machine_prefix}{workflow.name}"]
        # Given the deployed definition, when parsed, then it is exactly the compiled ASL.
        assert json.loads(props["DefinitionString"]) == compiler.compile_workflow(workflow)
        assert set(props["DefinitionSubstitutions"]) == set(compiler.PLACEHOLDERS)
        assert props["StateMachineType"] == "STANDARD"
        assert props["TracingConfiguration"] == {"Enabled": True}
        assert props["LoggingConfiguration"]["Level"] == "ALL"


def test_state_machine_names_match_the_runtime_arn_prefix(dev: Synthesized) -> None:
    template = dev.template("workflow")
    function = next(iter(resources(template, "AWS::Lambda::Function").values()))
    prefix = function["Properties"]["Environment"]["Variables"][
        str(EnvVar.STATE_MACHINE_ARN_PREFIX)
    ]
    parts = prefix["Fn::Join"][1]
    assert parts[-1].endswith(f":stateMachine:{dev.config.state_machine_prefix}")
    assert {"Ref": "AWS::Region"} in parts
    assert {"Ref": "AWS::AccountId"} in parts


def test_a_scheduled_workflow_gets_a_schedule_that_invokes_the_scheduled_run_function(
    tmp_path: Any,
) -> None:
    from flightdeck.engine.registry import discover
    from tests.conftest import TEST_WORKFLOW_PACKAGES
    from tests.infra.conftest import synthesize
    from tests.workflows import nightly_digest

    workflows = list(discover(tuple(TEST_WORKFLOW_PACKAGES.split(","))))
    scheduled = [w.name for w in workflows if w.manifest.schedule]
    assert scheduled == ["nightly_digest"]
    synthesized = synthesize(tmp_path, {"stage": "dev", "prefix": "sched"}, workflows=workflows)
    assert nag_errors(synthesized.stacks.workflow) == []
    template = synthesized.template("workflow")
    functions = resources(template, "AWS::Lambda::Function")
    (runner_id,) = [
        k
        for k, f in functions.items()
        if f["Properties"]["Handler"] == "functions.scheduled_run.handler.handler"
    ]
    runner_arn = {"Fn::GetAtt": [runner_id, "Arn"]}

    # Given the scheduled workflow, then one schedule invokes the scheduled-run function with
    # the firing's time, through a role that may invoke that function and nothing else.
    (schedule,) = resources(template, "AWS::Scheduler::Schedule").values()
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == nightly_digest.SCHEDULE
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert props["Target"]["Arn"] == runner_arn
    assert json.loads(props["Target"]["Input"]) == {
        "workflow": "nightly_digest",
        "scheduled_at": "<aws.scheduler.scheduled-time>",
    }
    role_id = props["Target"]["RoleArn"]["Fn::GetAtt"][0]
    role_statements = [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert role_statements == [
        {"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": runner_arn}
    ]

    # And the function may start that workflow's executions only.
    machines = resources(template, "AWS::StepFunctions::StateMachine")
    (digest_id,) = [
        k
        for k, m in machines.items()
        if m["Properties"]["StateMachineName"].endswith("-nightly_digest")
    ]
    runner_role = functions[runner_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    starts = [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": runner_role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "states:StartExecution" in json.dumps(statement["Action"])
    ]
    assert [s["Resource"] for s in starts] == [{"Ref": digest_id}]


def test_no_schedule_and_no_scheduled_run_function_without_a_scheduled_workflow(
    dev: Synthesized,
) -> None:
    assert not [w for w in dev.workflows if w.manifest.schedule]
    template = dev.template("workflow")
    template.resource_count_is("AWS::Scheduler::Schedule", 0)
    handlers = {
        f["Properties"]["Handler"] for f in resources(template, "AWS::Lambda::Function").values()
    }
    assert "functions.scheduled_run.handler.handler" not in handlers


def test_the_oldest_pending_approval_is_published_every_five_minutes(dev: Synthesized) -> None:
    from functions.approval_metrics import metric

    template = dev.template("workflow")
    functions = resources(template, "AWS::Lambda::Function")
    (publisher_id,) = [
        k
        for k, f in functions.items()
        if f["Properties"]["Handler"] == "functions.approval_metrics.handler.handler"
    ]
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(5 minutes)",
            "State": "ENABLED",
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [publisher_id, "Arn"]}})],
        },
    )
    role = functions[publisher_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "cloudwatch:PutMetricData" in json.dumps(statement["Action"])
    ]
    assert statements == [
        {
            "Action": "cloudwatch:PutMetricData",
            "Condition": {"StringEquals": {"cloudwatch:namespace": metric.NAMESPACE}},
            "Effect": "Allow",
            "Resource": "*",
        }
    ]
    # The alarm watches exactly what the publisher writes.
    dev.template("observability").has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": metric.NAMESPACE,
            "MetricName": metric.OLDEST_PENDING_APPROVAL,
            "Dimensions": [{"Name": metric.STAGE_DIMENSION, "Value": "development"}],
        },
    )


def test_buckets_are_kms_encrypted_private_and_tls_only(dev: Synthesized) -> None:
    template = dev.template("data")
    buckets = resources(template, "AWS::S3::Bucket")
    assert len(buckets) == 3  # documents, artifacts, access logs
    kms_buckets = 0
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        if rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms":
            kms_buckets += 1
    assert kms_buckets == 2
    policies = resources(template, "AWS::S3::BucketPolicy")
    tls_denials = [
        s
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
        and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(tls_denials) == 3


def test_database_is_postgres_16_encrypted_private_behind_a_tls_proxy(dev: Synthesized) -> None:
    template = dev.template("data")
    template.has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "Engine": "postgres",
            "EngineVersion": Match.string_like_regexp(r"^16\."),
            "StorageEncrypted": True,
            "PubliclyAccessible": False,
        },
    )
    template.has_resource_properties("AWS::RDS::DBProxy", {"RequireTLS": True})
    template.resource_count_is("AWS::SecretsManager::RotationSchedule", 1)
    template.has_resource_properties(
        "AWS::RDS::DBParameterGroup", {"Parameters": Match.object_like({"rds.force_ssl": "1"})}
    )


def test_prod_database_is_multi_az_and_protected(prod: Synthesized) -> None:
    prod.template("data").has_resource_properties(
        "AWS::RDS::DBInstance", {"MultiAZ": True, "DeletionProtection": True}
    )


def test_functions_run_in_private_subnets_with_endpoints(dev: Synthesized) -> None:
    template = dev.template("data")
    endpoints = resources(template, "AWS::EC2::VPCEndpoint")
    services = json.dumps([e["Properties"]["ServiceName"] for e in endpoints.values()])
    for service in ("secretsmanager", "states", "bedrock-runtime", "s3"):
        assert service in services
    for function in resources(dev.template("workflow"), "AWS::Lambda::Function").values():
        assert function["Properties"]["VpcConfig"]["SubnetIds"]


def test_migrations_run_at_deploy(dev: Synthesized) -> None:
    template = dev.template("data")
    template.resource_count_is("Custom::Trigger", 1)
    template.has_resource_properties(
        "AWS::Lambda::Function", {"Handler": "functions.migrate.handler.handler"}
    )


def test_api_is_throttled_logged_and_size_limited(dev: Synthesized) -> None:
    template = dev.template("api")
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "TracingEnabled": True,
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "ThrottlingRateLimit": dev.config.api_rate_limit,
                            "ThrottlingBurstLimit": dev.config.api_burst_limit,
                        }
                    )
                ]
            ),
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "functions.api.handler.handler",
            "Environment": {
                "Variables": Match.object_like(
                    {str(EnvVar.MAX_BODY_BYTES): str(dev.config.max_body_bytes)}
                )
            },
        },
    )
    template.resource_count_is("AWS::WAFv2::WebACLAssociation", 1)
    template.has_output("ApiUrl", {})


def test_dashboard_is_served_through_cloudfront_with_oac(dev: Synthesized) -> None:
    template = dev.template("frontend")
    template.resource_count_is("AWS::CloudFront::OriginAccessControl", 1)
    template.resource_count_is("AWS::CloudFront::CloudFrontOriginAccessIdentity", 0)
    for bucket in resources(template, "AWS::S3::Bucket").values():
        assert bucket["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicPolicy"]
        assert "BucketEncryption" in bucket["Properties"]
    template.has_output("DashboardUrl", {})
    # Routing, functions and deployments: tests/infra/test_frontend_stack.py.


def test_alarms_cover_runs_approvals_functions_database_and_api(dev: Synthesized) -> None:
    template = dev.template("observability")
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    metrics = {
        (a["Properties"].get("Namespace"), a["Properties"].get("MetricName"))
        for a in alarms.values()
    }
    assert ("Flightdeck", "OldestPendingApprovalAgeSeconds") in metrics
    assert ("AWS/Lambda", "Errors") in metrics
    assert ("AWS/Lambda", "Throttles") in metrics
    assert ("AWS/RDS", "DatabaseConnections") in metrics
    assert ("AWS/ApiGateway", "5XXError") in metrics
    # The failed-run alarms are rates (metric math over the state machine's metrics).
    state_alarms = [
        a
        for a in alarms.values()
        if "ExecutionsFailed" in json.dumps(a["Properties"].get("Metrics"))
    ]
    assert len(state_alarms) == len(dev.workflows)
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"]
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})


def function_by_handler(template: Any, handler: str) -> tuple[str, dict[str, Any]]:
    functions = resources(template, "AWS::Lambda::Function")
    ((logical_id, function),) = [
        (k, f) for k, f in functions.items() if f["Properties"]["Handler"] == handler
    ]
    return logical_id, function["Properties"]


def role_statements(template: Any, function: dict[str, Any]) -> list[dict[str, Any]]:
    role = function["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_callback_dispatcher_runs_every_minute_one_at_a_time(dev: Synthesized) -> None:
    template = dev.template("workflow")
    dispatcher_id, props = function_by_handler(
        template, "functions.callback_dispatcher.handler.handler"
    )
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert props["Timeout"] == 300
    assert props["ReservedConcurrentExecutions"] == 1

    # Given the schedule, then an enabled rule fires every minute at the dispatcher, and a
    # firing that cannot run (the previous one still sends) is dropped, not queued for hours.
    rules = [
        r["Properties"]
        for r in resources(template, "AWS::Events::Rule").values()
        if any(
            t["Arn"] == {"Fn::GetAtt": [dispatcher_id, "Arn"]} for t in r["Properties"]["Targets"]
        )
    ]
    assert len(rules) == 1
    assert rules[0]["ScheduleExpression"] == "rate(1 minute)"
    assert rules[0]["State"] == "ENABLED"
    assert len(rules[0]["Targets"]) == 1
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [dispatcher_id, "Arn"]},
            "Principal": "events.amazonaws.com",
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": dispatcher_id},
            "MaximumEventAgeInSeconds": 60,
            "MaximumRetryAttempts": 0,
        },
    )


def test_the_callback_dispatcher_has_the_database_settings_of_the_workflow_functions(
    dev: Synthesized,
) -> None:
    template = dev.template("workflow")
    _, dispatcher = function_by_handler(template, "functions.callback_dispatcher.handler.handler")
    _, runner = function_by_handler(template, "functions.node_runner.handler.handler")
    variables = dispatcher["Environment"]["Variables"]
    assert variables == runner["Environment"]["Variables"]
    assert variables[str(EnvVar.DATABASE_HOST)] == proxy_endpoint(dev, "workflow")
    # Same subnets (private, with a NAT route), its own security group.
    assert dispatcher["VpcConfig"]["SubnetIds"] == runner["VpcConfig"]["SubnetIds"]
    assert dispatcher["VpcConfig"]["SecurityGroupIds"] != runner["VpcConfig"]["SecurityGroupIds"]
    secret = variables[str(EnvVar.DATABASE_SECRET_ARN)]
    reads = [
        s
        for s in role_statements(template, dispatcher)
        if "secretsmanager:GetSecretValue" in json.dumps(s["Action"])
    ]
    assert secret in [s["Resource"] for s in reads]
    # … the tenants' signing secrets (tests/infra/test_tenant_secrets.py) and the masking key
    # (tests/infra/test_masking_key.py)
    assert len(reads) == 3
    # Least privilege otherwise: no bucket, state machine or metrics permissions.
    actions = json.dumps([s["Action"] for s in role_statements(template, dispatcher)])
    for service in ("s3:", "states:", "cloudwatch:", "kms:"):
        assert service not in actions


def test_the_callback_dispatcher_may_send_https_anywhere_and_reach_only_the_proxy(
    dev: Synthesized,
) -> None:
    data = dev.template("data")
    groups = resources(data, "AWS::EC2::SecurityGroup")
    (callbacks_id,) = [k for k in groups if k.startswith("CallbacksSg")]
    (proxy_id,) = [k for k in groups if k.startswith("ProxySg")]
    (endpoints_id,) = [k for k in groups if k.startswith("EndpointsSg")]
    callbacks = {"Fn::GetAtt": [callbacks_id, "GroupId"]}

    # Given the dispatcher's group, then its only egress is HTTPS to anywhere (n8n through the
    # NAT gateway, the interface endpoints) and PostgreSQL to the proxy.
    inline = groups[callbacks_id]["Properties"]["SecurityGroupEgress"]
    assert [(r["CidrIp"], r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in inline] == [
        ("0.0.0.0/0", "tcp", 443, 443)
    ]
    assert "SecurityGroupIngress" not in groups[callbacks_id]["Properties"]
    egress = [
        r["Properties"]
        for r in resources(data, "AWS::EC2::SecurityGroupEgress").values()
        if r["Properties"]["GroupId"] == callbacks
    ]
    assert [
        (r["DestinationSecurityGroupId"], r["IpProtocol"], r["FromPort"], r["ToPort"])
        for r in egress
    ] == [({"Fn::GetAtt": [proxy_id, "GroupId"]}, "tcp", 5432, 5432)]
    ingress_to = {
        r["Properties"]["GroupId"]["Fn::GetAtt"][0]: r["Properties"]["FromPort"]
        for r in resources(data, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"].get("SourceSecurityGroupId") == callbacks
    }
    assert ingress_to == {proxy_id: 5432, endpoints_id: 443}

    # And the function sits in that group, in the app subnets (which route through the NAT).
    workflow = dev.template("workflow")
    _, dispatcher = function_by_handler(workflow, "functions.callback_dispatcher.handler.handler")
    (group,) = dispatcher["VpcConfig"]["SecurityGroupIds"]
    export = group["Fn::ImportValue"]
    outputs = data.to_json()["Outputs"].values()
    assert [o["Value"] for o in outputs if o.get("Export", {}).get("Name") == export] == [callbacks]
    routes = resources(data, "AWS::EC2::Route")
    nat_routes = [r for r in routes.values() if "NatGatewayId" in r["Properties"]]
    assert nat_routes


def test_the_callback_dispatcher_has_error_and_throttle_alarms(dev: Synthesized) -> None:
    alarms = resources(dev.template("observability"), "AWS::CloudWatch::Alarm")
    dispatcher = {
        a["Properties"]["MetricName"]
        for k, a in alarms.items()
        if k.startswith("CallbackDispatcher") and a["Properties"]["Namespace"] == "AWS/Lambda"
    }
    assert dispatcher == {"Errors", "Throttles"}


def test_every_function_has_the_powertools_settings_and_never_dev_mode(
    dev: Synthesized,
) -> None:
    from flightdeck import observability

    for part in ("data", "workflow", "api"):
        functions = resources(dev.template(part), "AWS::Lambda::Function")
        ours = {k: f for k, f in functions.items() if f["Properties"].get("Layers")}
        assert ours, part
        for name, function in ours.items():
            variables = function["Properties"]["Environment"]["Variables"]
            assert variables["POWERTOOLS_SERVICE_NAME"] == observability.SERVICE, name
            assert variables["POWERTOOLS_METRICS_NAMESPACE"] == observability.NAMESPACE, name
            assert variables["POWERTOOLS_LOG_LEVEL"] == "INFO", name
        # No function of the stack (ours or CDK's helpers) runs Powertools' dev mode.
        for name, function in functions.items():
            variables = function["Properties"].get("Environment", {}).get("Variables", {})
            assert "POWERTOOLS_DEV" not in variables, name


def test_the_function_factory_refuses_powertools_dev_mode(tmp_path: Any) -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2

    from stacks.config import stage_config
    from stacks.runtime import FunctionFactory, Network
    from tests.infra.conftest import stub_assets

    config = stage_config({"stage": "dev", "prefix": "ci"})
    stack = cdk.Stack(cdk.App(), "Factory")
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0)
    network = Network(
        vpc=vpc,
        subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        security_group=ec2.SecurityGroup(stack, "Sg", vpc=vpc),
    )
    factory = FunctionFactory(stack, "Runtime", assets=stub_assets(tmp_path), config=config)
    with pytest.raises(ValueError, match="POWERTOOLS_DEV"):
        factory.function(
            stack,
            "Dev",
            handler="functions.api.handler.handler",
            description="must not deploy",
            environment={"POWERTOOLS_DEV": "true"},
            network=network,
        )
