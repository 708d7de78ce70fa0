"""The ingestion path on AWS: the artifact bucket's events through EventBridge to the ingest
function, with the emulator's rule pattern, retries and dead letters; IAM limited to the
knowledge prefix; Bedrock access for the configured model ids only, and only when a stage
chooses Bedrock."""

from __future__ import annotations

import fnmatch
import uuid
from typing import Any

import pytest

from flightdeck.local.emulator import INGEST, knowledge_event_pattern
from flightdeck.settings import EnvVar
from stacks.config import (
    DEFAULT_BEDROCK_EMBEDDING_MODEL,
    ConfigError,
    stage_config,
)
from stacks.ingest import KNOWLEDGE_OBJECTS
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.test_nag import nag_errors

# The bedrock stage chats through a cross-Region inference profile and embeds with a foundation
# model, so both kinds of model ARN are checked.
PROFILE_CHAT_MODEL = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
BEDROCK_CONTEXT = {
    "stage": "dev",
    "prefix": "bedrock",
    "model_provider": "bedrock",
    "bedrock_chat_model": PROFILE_CHAT_MODEL,
    "embedding_provider": "bedrock",
}
NODE_RUNNER_HANDLER = "functions.node_runner.handler.handler"
API_HANDLER = "functions.api.handler.handler"


@pytest.fixture(scope="module")
def bedrock(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("bedrock"), dict(BEDROCK_CONTEXT))


# --- helpers ---------------------------------------------------------------------------------


def resources(template: Any, kind: str) -> dict[str, Any]:
    return dict(template.find_resources(kind))


def flat(value: Any) -> Any:
    """A CloudFormation value as text: `Ref`s and `Fn::GetAtt`s become `${...}`, `Fn::Join`s
    are joined, imports become `${Import:<name>}`, other functions `${<function>}`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return f"${{{arg}}}"
        if key == "Fn::GetAtt":
            return f"${{{'.'.join(arg)}}}"
        if key == "Fn::ImportValue":
            return f"${{Import:{arg}}}"
        if key == "Fn::Join":
            separator, parts = arg
            return separator.join(str(flat(p)) for p in parts)
        return f"${{{key}}}"
    raise AssertionError(f"unexpected CloudFormation value {value!r}")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def function_by_handler(template: Any, handler: str) -> tuple[str, dict[str, Any]]:
    functions = resources(template, "AWS::Lambda::Function")
    ((logical_id, function),) = [
        (k, f) for k, f in functions.items() if f["Properties"].get("Handler") == handler
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


def export_of(synthesized: Synthesized, value: dict[str, Any]) -> dict[str, Any]:
    """How another stack refers to the data stack's `value` (its export)."""
    outputs = synthesized.template("data").to_json()["Outputs"].values()
    (name,) = [o["Export"]["Name"] for o in outputs if o["Value"] == value and "Export" in o]
    return {"Fn::ImportValue": name}


def artifacts_id(synthesized: Synthesized) -> str:
    buckets = resources(synthesized.template("data"), "AWS::S3::Bucket")
    (logical_id,) = [k for k in buckets if k.startswith("Artifacts")]
    return logical_id


def s3_violations(statements: list[dict[str, Any]], objects_arn: str) -> list[str]:
    """Why these statements give more S3 access than `s3:GetObject` on `objects_arn`."""
    found = []
    for statement in statements:
        actions = as_list(statement["Action"])
        s3 = [a for a in actions if a == "*" or a.startswith("s3:")]
        if not s3:
            continue
        if s3 != ["s3:GetObject"]:
            found.append(f"actions {s3}")
        for resource in as_list(statement["Resource"]):
            if flat(resource) != objects_arn:
                found.append(f"resource {flat(resource)}")
    return found


def bedrock_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        s
        for s in statements
        if any(a == "*" or a.startswith("bedrock:") for a in as_list(s["Action"]))
    ]


def foundation_model(model_id: str, region: str = "${AWS::Region}") -> str:
    return f"arn:${{AWS::Partition}}:bedrock:{region}::foundation-model/{model_id}"


def inference_profile(profile_id: str) -> str:
    return (
        "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/"
        f"{profile_id}"
    )


# --- the function ----------------------------------------------------------------------------


def test_the_ingest_function_runs_the_emulators_handler_like_the_other_functions(
    dev: Synthesized,
) -> None:
    template = dev.template("ingest")
    _, ingest = function_by_handler(template, INGEST.handler)
    assert ingest["Handler"] == "functions.ingest.handler.handler"
    assert ingest["Runtime"] == "python3.12"
    assert ingest["Architectures"] == ["arm64"]
    assert len(ingest["Layers"]) == 2
    assert ingest["Timeout"] == 300
    assert ingest["MemorySize"] == 1024
    assert ingest["ReservedConcurrentExecutions"] == dev.config.ingest_concurrency
    assert 1 <= dev.config.ingest_concurrency <= 10
    assert ingest["TracingConfig"] == {"Mode": "Active"}
    # In the app subnets, with the functions' security group, reaching PostgreSQL through the
    # proxy, as every database function does.
    workflow = dev.template("workflow")
    _, runner = function_by_handler(workflow, NODE_RUNNER_HANDLER)
    assert ingest["VpcConfig"] == runner["VpcConfig"]
    variables = ingest["Environment"]["Variables"]
    proxy = resources(dev.template("data"), "AWS::RDS::DBProxy")
    (proxy_id,) = proxy
    assert variables[EnvVar.DATABASE_HOST] == export_of(dev, {"Fn::GetAtt": [proxy_id, "Endpoint"]})
    assert variables == runner["Environment"]["Variables"]
    assert variables[EnvVar.ARTIFACT_BUCKET] == export_of(dev, {"Ref": artifacts_id(dev)})


def test_the_artifact_bucket_sends_its_events_to_eventbridge(dev: Synthesized) -> None:
    data = dev.template("data")
    notifications = resources(data, "Custom::S3BucketNotifications")
    configured = {
        n["Properties"]["BucketName"]["Ref"]: n["Properties"]["NotificationConfiguration"]
        for n in notifications.values()
    }
    # The artifact bucket only (documents and access logs are not ingested), EventBridge only.
    assert configured == {artifacts_id(dev): {"EventBridgeConfiguration": {}}}


# --- the rule --------------------------------------------------------------------------------


def test_the_rule_has_the_emulators_pattern_for_the_artifact_bucket(dev: Synthesized) -> None:
    rules = resources(dev.template("ingest"), "AWS::Events::Rule")
    (rule,) = rules.values()
    # The bucket name, as this stack imports it, in place of the emulator's literal name.
    bucket: Any = export_of(dev, {"Ref": artifacts_id(dev)})
    assert rule["Properties"]["EventPattern"] == knowledge_event_pattern(bucket)
    assert rule["Properties"]["State"] == "ENABLED"
    assert "EventBusName" not in rule["Properties"]  # S3 events arrive on the default bus


def test_the_rule_invokes_ingest_with_a_retry_policy_and_dead_letters(dev: Synthesized) -> None:
    template = dev.template("ingest")
    ingest_id, ingest = function_by_handler(template, INGEST.handler)
    ((rule_id, rule),) = resources(template, "AWS::Events::Rule").items()
    (queue_id,) = resources(template, "AWS::SQS::Queue")
    ((target),) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [ingest_id, "Arn"]}
    retry = target["RetryPolicy"]
    assert 1 <= retry["MaximumRetryAttempts"] <= 20
    assert 600 <= retry["MaximumEventAgeInSeconds"] <= 24 * 3600
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    # Function errors: Lambda's own retries, then the same dead-letter queue.
    (config,) = resources(template, "AWS::Lambda::EventInvokeConfig").values()
    assert config["Properties"]["FunctionName"] == {"Ref": ingest_id}
    assert config["Properties"]["MaximumRetryAttempts"] == 2
    assert config["Properties"]["MaximumEventAgeInSeconds"] >= retry["MaximumEventAgeInSeconds"]
    assert ingest["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    # Only this rule may invoke the function.
    (permission,) = resources(template, "AWS::Lambda::Permission").values()
    assert permission["Properties"]["Principal"] == "events.amazonaws.com"
    assert permission["Properties"]["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}


def test_dead_letters_are_encrypted_tls_only_and_alarmed(dev: Synthesized) -> None:
    template = dev.template("ingest")
    (queue,) = resources(template, "AWS::SQS::Queue").values()
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    (policy,) = resources(template, "AWS::SQS::QueuePolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )
    alarms = resources(dev.template("observability"), "AWS::CloudWatch::Alarm")
    dead = [
        a
        for a in alarms.values()
        if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    ]
    assert len(dead) == 1
    assert dead[0]["Properties"]["Threshold"] == 1
    assert dead[0]["Properties"]["AlarmActions"]
    lambda_alarms = {
        a["Properties"]["MetricName"]
        for a in alarms.values()
        if a["Properties"].get("Namespace") == "AWS/Lambda"
        and any("Ingest" in str(d["Value"]) for d in a["Properties"].get("Dimensions", []))
    }
    assert lambda_alarms == {"Errors", "Throttles"}


# --- S3 permissions --------------------------------------------------------------------------


def test_the_ingest_function_may_only_read_knowledge_objects(dev: Synthesized) -> None:
    template = dev.template("ingest")
    _, ingest = function_by_handler(template, INGEST.handler)
    statements = role_statements(template, ingest)
    artifacts = export_of(dev, {"Fn::GetAtt": [artifacts_id(dev), "Arn"]})
    objects = f"{flat(artifacts)}/tenants/*/knowledge/*"
    assert s3_violations(statements, objects) == []
    assert any(as_list(s["Action"]) == ["s3:GetObject"] for s in statements)
    # The bucket's KMS key: decrypt only (no encrypt, no data keys: it writes nothing).
    kms = [a for s in statements for a in as_list(s["Action"]) if a.startswith("kms:")]
    assert kms == ["kms:Decrypt"]
    assert not any(a in ("*", "s3:*") for s in statements for a in as_list(s["Action"]))


def test_the_s3_check_flags_a_bucket_wide_grant(dev: Synthesized) -> None:
    # The API's grant (read/write on every object) must fail the check the ingest passes:
    # the test above cannot pass vacuously.
    template = dev.template("api")
    _, api = function_by_handler(template, API_HANDLER)
    artifacts = export_of(dev, {"Fn::GetAtt": [artifacts_id(dev), "Arn"]})
    violations = s3_violations(
        role_statements(template, api), f"{flat(artifacts)}/{KNOWLEDGE_OBJECTS}"
    )
    assert any("s3:PutObject" in v for v in violations)
    assert f"resource {flat(artifacts)}/*" in violations


def test_the_api_may_put_get_and_delete_knowledge_objects(dev: Synthesized) -> None:
    template = dev.template("api")
    _, api = function_by_handler(template, API_HANDLER)
    artifacts = flat(export_of(dev, {"Fn::GetAtt": [artifacts_id(dev), "Arn"]}))
    document = f"{artifacts}/tenants/{uuid.uuid4()}/knowledge/{uuid.uuid4()}/policy.pdf"
    allowed = {
        action
        for statement in role_statements(template, api)
        if statement["Effect"] == "Allow"
        and any(fnmatch.fnmatchcase(document, flat(r)) for r in as_list(statement["Resource"]))
        for action in ("s3:PutObject", "s3:GetObject", "s3:DeleteObject")
        if any(fnmatch.fnmatchcase(action, a) for a in as_list(statement["Action"]))
    }
    assert allowed == {"s3:PutObject", "s3:GetObject", "s3:DeleteObject"}


def test_the_knowledge_prefix_is_where_documents_are_stored() -> None:
    from flightdeck.knowledge.service import object_key
    from flightdeck.store.blobs import tenant_key

    tenant, document = uuid.uuid4(), uuid.uuid4()
    assert fnmatch.fnmatchcase(
        object_key(tenant, document, "Returns policy.pdf"), KNOWLEDGE_OBJECTS
    )
    assert not fnmatch.fnmatchcase(
        tenant_key(tenant, "runs", str(uuid.uuid4()), "trigger.json"), KNOWLEDGE_OBJECTS
    )


def test_the_rule_delivers_only_objects_the_function_may_read() -> None:
    from moto.events.models import EventPattern

    from flightdeck.knowledge.service import object_key
    from flightdeck.store.blobs import tenant_key

    def created(key: str) -> Any:
        return {
            "source": "aws.s3",
            "detail-type": "Object Created",
            "detail": {"bucket": {"name": "artifacts"}, "object": {"key": key}},
        }

    pattern = EventPattern(None, knowledge_event_pattern("artifacts"))
    tenant = uuid.uuid4()
    document = object_key(tenant, uuid.uuid4(), "faq.md")
    assert pattern.matches_event(created(document))
    run_payload = tenant_key(tenant, "runs", str(uuid.uuid4()), "trigger.json")
    assert not pattern.matches_event(created(run_payload))


# --- Bedrock ---------------------------------------------------------------------------------


def all_functions(synthesized: Synthesized) -> list[tuple[str, Any, dict[str, Any]]]:
    found = []
    for part in ("data", "workflow", "api", "ingest"):
        template = synthesized.template(part)
        for function in resources(template, "AWS::Lambda::Function").values():
            if function["Properties"].get("Layers"):
                found.append((part, template, function["Properties"]))
    return found


def test_no_bedrock_access_on_the_offline_providers(dev: Synthesized) -> None:
    assert dev.config.model_provider == dev.config.embedding_provider == "offline"
    for part, template, function in all_functions(dev):
        assert bedrock_statements(role_statements(template, function)) == [], (
            part,
            function["Handler"],
        )
        variables = function["Environment"]["Variables"]
        assert variables[EnvVar.MODEL_PROVIDER] == "offline"
        assert variables[EnvVar.EMBEDDING_PROVIDER] == "offline"
        assert EnvVar.BEDROCK_CHAT_MODEL not in variables
        assert EnvVar.EMBEDDING_MODEL not in variables


def test_bedrock_access_is_scoped_to_the_configured_models(bedrock: Synthesized) -> None:
    embedding = [foundation_model(DEFAULT_BEDROCK_EMBEDDING_MODEL)]
    chat = [
        inference_profile(PROFILE_CHAT_MODEL),
        foundation_model(PROFILE_CHAT_MODEL.removeprefix("us."), region="*"),
    ]
    expected = {
        NODE_RUNNER_HANDLER: sorted(chat + embedding),
        API_HANDLER: embedding,
        INGEST.handler: embedding,
    }
    granted = {}
    for _, template, function in all_functions(bedrock):
        statements = bedrock_statements(role_statements(template, function))
        if not statements:
            continue
        (statement,) = statements
        assert statement["Effect"] == "Allow"
        assert as_list(statement["Action"]) == ["bedrock:InvokeModel"]
        resources_ = [flat(r) for r in as_list(statement["Resource"])]
        assert "*" not in resources_
        granted[function["Handler"]] = sorted(resources_)
    assert granted == {handler: sorted(arns) for handler, arns in expected.items()}


def test_functions_read_the_bedrock_models_the_stage_grants(
    bedrock: Synthesized, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flightdeck.llm.factory import embedding_model
    from flightdeck.settings import Settings

    for _, _, function in all_functions(bedrock):
        variables = function["Environment"]["Variables"]
        with monkeypatch.context() as env:
            for name, value in variables.items():
                env.setenv(name, value if isinstance(value, str) else "stand-in")
            settings = Settings()
        assert settings.model_provider == "bedrock"
        assert settings.bedrock_chat_model == PROFILE_CHAT_MODEL
        assert settings.embedding_provider == "bedrock"
        assert embedding_model(settings)[0] == DEFAULT_BEDROCK_EMBEDDING_MODEL


def test_the_bedrock_stage_passes_cdk_nag(bedrock: Synthesized) -> None:
    errors = {s.stack_name: nag_errors(s) for s in bedrock.stacks.all()}
    assert errors == {s.stack_name: [] for s in bedrock.stacks.all()}


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"model_provider": "openai"}, "model_provider must be one of"),
        ({"embedding_provider": "ollama"}, "embedding_provider must be one of"),
        ({"bedrock_chat_model": "*"}, "bedrock_chat_model must be a Bedrock model"),
        ({"embedding_model": "amazon.*"}, "embedding_model must be a Bedrock model"),
        ({"embedding_model": "arn:aws:bedrock:us-east-1::foundation-model/x"}, "embedding_model"),
    ],
)
def test_the_stage_refuses_unknown_providers_and_model_patterns(
    context: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        stage_config({"stage": "dev", "prefix": "ci", **context})


def test_model_ids_default_and_choose_what_is_granted() -> None:
    offline = stage_config({"stage": "prod"})
    assert offline.bedrock_chat_models == offline.bedrock_embedding_models == ()
    chosen = stage_config(
        {"stage": "prod", "embedding_provider": "bedrock", "embedding_model": "cohere.embed-v4:0"}
    )
    assert chosen.bedrock_chat_models == ()
    assert chosen.bedrock_embedding_models == ("cohere.embed-v4:0",)


def test_the_dashboard_may_put_large_documents_from_the_browser(dev: Synthesized) -> None:
    """Presigned PUTs from the dashboard need the artifact bucket's CORS rule, and no other
    bucket has one."""
    buckets = resources(dev.template("data"), "AWS::S3::Bucket")
    with_cors = {k for k, b in buckets.items() if "CorsConfiguration" in b["Properties"]}
    assert with_cors == {artifacts_id(dev)}
    rules = buckets[artifacts_id(dev)]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rules == [
        {
            "AllowedHeaders": ["content-type"],
            "AllowedMethods": ["PUT"],
            "AllowedOrigins": ["*"],
            "MaxAge": 3600,
        }
    ]
