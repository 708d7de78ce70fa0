"""How every Flightdeck Lambda is built: Python 3.12 on arm64, the same two layers (third-party
dependencies, the core package), the same handler code asset, tracing on, logs retained, and
the same Powertools settings (service, metrics namespace, log level).

Each stack makes its own layer versions from the shared assets rather than importing another
stack's: an exported layer ARN would block every layer update (CloudFormation refuses to change
an export that another stack imports). The assets are content-hashed, so they upload once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Aws, Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from flightdeck.observability import NAMESPACE, SERVICE
from flightdeck.settings import EnvVar
from stacks import nag
from stacks.config import ADOT_OTLP_ENDPOINT, StageConfig

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
# The alias callers invoke on a SnapStart function: the version published by the latest deploy
# (SnapStart snapshots published versions only; `$LATEST` would cold start in full).
LIVE_ALIAS = "live"

# AWS Lambda Powertools reads its own variables (not `flightdeck.settings`): the one place they
# are named. Service and namespace are the ones `flightdeck.observability` creates its Logger,
# Tracer and Metrics with, so the environment can never disagree with the code.
POWERTOOLS_ENVIRONMENT: Mapping[str, str] = {
    "POWERTOOLS_SERVICE_NAME": SERVICE,
    "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
    "POWERTOOLS_LOG_LEVEL": "INFO",
}
# Local development only (pretty logs, tracer off): never deployed.
POWERTOOLS_DEV = "POWERTOOLS_DEV"


@dataclass(frozen=True)
class AssetPaths:
    """Directories built by `scripts/build_layers.py` (or small stand-ins in tests)."""

    deps: Path
    core: Path
    code: Path


@dataclass(frozen=True)
class Network:
    """Where functions that reach the database run."""

    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    security_group: ec2.ISecurityGroup


def state_machine_arn_prefix(config: StageConfig) -> str:
    """The ARN of this stage's state machines minus the workflow name (region/account tokens)."""
    return (
        f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:stateMachine:"
        f"{config.state_machine_prefix}"
    )


def base_environment(
    config: StageConfig,
    *,
    database_secret_arn: str,
    database_host: str,
    artifact_bucket: str,
    trigger_key_arn: str | None = None,
) -> dict[str, str]:
    """The settings every function reads (see `flightdeck.settings.Settings`).

    `database_host` is the RDS Proxy endpoint: it replaces the secret's host (the instance),
    which the functions' security group cannot reach. `trigger_key_arn` is the KMS key of
    sealed triggers, for the stacks whose functions start runs or read triggers (a function
    also needs a grant on it to use it).
    """
    trigger_key = {EnvVar.TRIGGER_KEY_ID: trigger_key_arn} if trigger_key_arn else {}
    return {
        **trigger_key,
        EnvVar.STAGE: config.runtime_stage,
        EnvVar.DATABASE_SECRET_ARN: database_secret_arn,
        EnvVar.DATABASE_HOST: database_host,
        EnvVar.ARTIFACT_BUCKET: artifact_bucket,
        EnvVar.STATE_MACHINE_ARN_PREFIX: state_machine_arn_prefix(config),
        EnvVar.AWS_REGION: Aws.REGION,
        EnvVar.WORKFLOW_PACKAGES: config.workflow_packages,
        EnvVar.SECRETS_PREFIX: tenant_secrets_prefix(config),
        EnvVar.MASKING_KEY_SECRET: masking_key_secret_name(config),
        **model_environment(config),
        **telemetry_environment(config),
    }


def masking_key_secret_name(config: StageConfig) -> str:
    """The secret holding the HMAC key of masked tokens (`flightdeck.privacy`): one per stage,
    made by the data stack, read once per process by every function, so one address gets the
    same token in every function's logs and spans."""
    return f"{config.name}/masking-key"


def tenant_secrets_prefix(config: StageConfig) -> str:
    """The name prefix of this stage's webhook and callback signing secrets in Secrets Manager
    (`flightdeck.store.secrets`); the database's secret (`<name>/database`) is outside it."""
    return f"{config.name}/tenants/"


# Reading signing secrets, and making, rotating and revoking them: every function that reads
# them also writes (the API's admin routes, the callback dispatcher's first default secret, the
# migrator's move). A revoked version is removed with PutSecretValue: no secret is deleted.
TENANT_SECRETS_ACTIONS = (
    "secretsmanager:GetSecretValue",
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:TagResource",
)


def grant_tenant_secrets(function: lambda_.IFunction, config: StageConfig) -> None:
    """Let `function` read and write the tenants' signing secrets: those under
    `tenant_secrets_prefix` only."""
    arn = (
        f"arn:{Aws.PARTITION}:secretsmanager:{Aws.REGION}:{Aws.ACCOUNT_ID}:secret:"
        f"{tenant_secrets_prefix(config)}*"
    )
    function.add_to_role_policy(
        iam.PolicyStatement(actions=list(TENANT_SECRETS_ACTIONS), resources=[arn])
    )
    nag.waive(function, nag.TENANT_SECRETS)


def telemetry_environment(config: StageConfig) -> dict[str, str]:
    """Where the functions send spans (see `stacks.config.StageConfig.telemetry_exporter`)."""
    environment: dict[str, str] = {EnvVar.TELEMETRY_EXPORTER: config.telemetry_exporter}
    if config.telemetry_exporter == "otlp":
        environment[EnvVar.OTLP_ENDPOINT] = ADOT_OTLP_ENDPOINT
    return environment


def model_environment(config: StageConfig) -> dict[str, str]:
    """The model providers and Bedrock model ids: the same in every function, so a query is
    embedded by the model its chunks were embedded with."""
    environment: dict[str, str] = {
        EnvVar.MODEL_PROVIDER: config.model_provider,
        EnvVar.EMBEDDING_PROVIDER: config.embedding_provider,
    }
    if config.model_provider == "bedrock":
        environment[EnvVar.BEDROCK_CHAT_MODEL] = config.bedrock_chat_model
    if config.embedding_provider == "bedrock":
        environment[EnvVar.EMBEDDING_MODEL] = config.embedding_model
    return environment


# System-defined (cross-Region) inference profiles: a geography prefix before the model id.
_PROFILE_GEOGRAPHIES = ("us", "us-gov", "eu", "apac", "jp", "au", "ca", "global")


def bedrock_model_arns(model_id: str) -> list[str]:
    """The ARNs `bedrock:InvokeModel` (which also authorises Converse) must allow for one
    configured model id.

    A foundation model id is its ARN in this stack's Region. An inference profile id
    ("us.anthropic...") is the profile's ARN plus its foundation model in the Regions the
    profile routes to, which AWS chooses: that one model in any Region.
    """
    geography, _, base = model_id.partition(".")
    if geography in _PROFILE_GEOGRAPHIES and base:
        return [
            f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:inference-profile/"
            f"{model_id}",
            f"arn:{Aws.PARTITION}:bedrock:*::foundation-model/{base}",
        ]
    return [f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}::foundation-model/{model_id}"]


def grant_bedrock(function: lambda_.IFunction, model_ids: Sequence[str]) -> None:
    """Let `function` invoke exactly these Bedrock models (nothing when there are none)."""
    arns = sorted({arn for model_id in model_ids for arn in bedrock_model_arns(model_id)})
    if not arns:
        return
    function.add_to_role_policy(
        iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=arns)
    )
    if any(":bedrock:*::" in arn for arn in arns):
        nag.waive(function, nag.INFERENCE_PROFILE_MODELS)


class FunctionFactory(Construct):
    """The layers of one stack, and functions built on them."""

    def __init__(
        self, scope: Construct, construct_id: str, *, assets: AssetPaths, config: StageConfig
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self.code = lambda_.Code.from_asset(str(assets.code))
        self.deps = lambda_.LayerVersion(
            self,
            "Deps",
            code=lambda_.Code.from_asset(str(assets.deps)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="Flightdeck third-party dependencies (requirements/layer.txt)",
        )
        # The ADOT collector beside every function when spans go out over OTLP.
        self.telemetry_layers: list[lambda_.ILayerVersion] = (
            [
                lambda_.LayerVersion.from_layer_version_arn(
                    self, "OtlpCollector", config.otlp_layer_arn
                )
            ]
            if config.otlp_layer_arn
            else []
        )
        self.core = lambda_.LayerVersion(
            self,
            "Core",
            code=lambda_.Code.from_asset(str(assets.core)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="Flightdeck core package (layers/flightdeck)",
        )

    def function(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        environment: Mapping[str, str],
        network: Network,
        timeout: Duration | None = None,
        memory_mb: int = 512,
        layers: Sequence[lambda_.ILayerVersion] = (),
        reserved_concurrency: int | None = None,
        dead_letter_queue: sqs.IQueue | None = None,
        snap_start: bool = False,
    ) -> lambda_.Function:
        """`snap_start`: Lambda SnapStart on published versions (the handler module names its
        warm-up and after-restore hooks, `flightdeck.snapstart`); invoke it through
        `live_alias(function)`."""
        variables = {str(name): value for name, value in environment.items()}
        if POWERTOOLS_DEV in variables:
            raise ValueError(f"{construct_id}: {POWERTOOLS_DEV} is for local development only")
        log_group = logs.LogGroup(
            scope,
            f"{construct_id}Logs",
            retention=self._config.log_retention,
            removal_policy=self._config.removal_policy,
        )
        function = lambda_.Function(
            scope,
            construct_id,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=self.code,
            layers=[self.deps, self.core, *self.telemetry_layers, *layers],
            description=description,
            # Plain str keys: jsii would try to marshal an enum member as a jsii enum.
            environment={**POWERTOOLS_ENVIRONMENT, **variables},
            timeout=timeout or Duration.seconds(60),
            memory_size=memory_mb,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            vpc=network.vpc,
            vpc_subnets=network.subnets,
            security_groups=[network.security_group],
            reserved_concurrent_executions=reserved_concurrency,
            dead_letter_queue=dead_letter_queue,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snap_start else None,
        )
        nag.waive(function, nag.PYTHON_312, nag.GRANT_WILDCARDS)
        if str(EnvVar.MASKING_KEY_SECRET) in variables:
            # Every function masks its logs with the stage's key (read only; the suffix is
            # the six characters Secrets Manager appends to a secret's name).
            name = variables[str(EnvVar.MASKING_KEY_SECRET)]
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[
                        f"arn:{Aws.PARTITION}:secretsmanager:{Aws.REGION}:{Aws.ACCOUNT_ID}:"
                        f"secret:{name}-??????"
                    ],
                )
            )
        return function


def live_alias(function: lambda_.Function) -> lambda_.Alias:
    """The version this deploy publishes (a new one whenever the function's code, layers or
    configuration change; SnapStart takes its snapshot then) behind the `live` alias."""
    return lambda_.Alias(function, "Live", alias_name=LIVE_ALIAS, version=function.current_version)
