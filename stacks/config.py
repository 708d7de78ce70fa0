"""What differs between stages, read from CDK context (`-c stage=dev -c prefix=alice`).

Stages are `dev` (one stack set per engineer, named by a prefix, cheap and disposable),
`staging` and `prod` (shared, retained, highly available). Synthesis reads nothing but context:
no AWS credentials, no git, no Docker.
"""

from __future__ import annotations

import getpass
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs

from flightdeck.llm.bedrock import TITAN_EMBED_V2
from flightdeck.settings import Stage as RuntimeStage

DeployStage = Literal["dev", "staging", "prod"]
STAGES: tuple[DeployStage, ...] = ("dev", "staging", "prod")
_PREFIX = re.compile(r"^[a-z][a-z0-9]{0,11}$")
# A Bedrock model id ("amazon.titan-embed-text-v2:0") or system-defined inference profile id
# ("us.anthropic.claude-3-5-haiku-20241022-v1:0"): it ends up in an IAM resource ARN.
_MODEL_ID = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+(:[a-z0-9-]+)*$")

# Model providers a deployed stage can use: the offline ones, or Amazon Bedrock (reached through
# the VPC's bedrock-runtime endpoint, with IAM scoped to the configured model ids). An
# OpenAI-compatible endpoint needs an API key, which has no place in the stacks yet.
Provider = Literal["offline", "bedrock"]
PROVIDERS: tuple[Provider, ...] = ("offline", "bedrock")
DEFAULT_BEDROCK_CHAT_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
DEFAULT_BEDROCK_EMBEDDING_MODEL = TITAN_EMBED_V2
TelemetryExporter = Literal["postgres", "otlp", "none"]
EXPORTERS: tuple[TelemetryExporter, ...] = ("postgres", "otlp", "none")
# The OTLP/HTTP receiver of the AWS Distro for OpenTelemetry collector layer, in the function.
ADOT_OTLP_ENDPOINT = "http://localhost:4318/v1/traces"
_LAYER_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+:\d+$")
# Every context key the app reads (`-c key=value` or cdk.json).
CONTEXT_KEYS = (
    "stage",
    "prefix",
    "alarm_email",
    "account",
    "region",
    "model_provider",
    "bedrock_chat_model",
    "embedding_provider",
    "embedding_model",
)


class ConfigError(ValueError):
    """The context asks for something the app cannot build."""


@dataclass(frozen=True)
class StageConfig:
    stage: DeployStage
    # The engineer's prefix in `dev` ("alice" -> stacks flightdeck-dev-alice-*); empty otherwise.
    prefix: str
    runtime_stage: RuntimeStage
    retain: bool
    nat_gateways: int
    db_instance_type: ec2.InstanceType
    db_multi_az: bool
    db_allocated_gb: int
    db_backup_days: int
    # Alarm when the database holds more connections than this (about 80% of max_connections).
    db_connection_alarm: int
    api_rate_limit: int
    api_burst_limit: int
    max_body_bytes: int
    log_retention: logs.RetentionDays
    # Ingest functions running at once: a bulk upload queues (Lambda's async queue) rather than
    # exhausting the embedding provider's quota or the database.
    ingest_concurrency: int = 2
    workflow_packages: str = "flightdeck.workflows"
    alarm_email: str | None = None
    # Chat (the node runner) and embeddings (ingestion, search, `retrieve`).
    model_provider: Provider = "offline"
    bedrock_chat_model: str = DEFAULT_BEDROCK_CHAT_MODEL
    embedding_provider: Provider = "offline"
    embedding_model: str = DEFAULT_BEDROCK_EMBEDDING_MODEL
    # Where OpenTelemetry spans go: the span store in the database (default), or `otlp` to the
    # ADOT collector layer `otlp_layer_arn` added to every function, which forwards them to
    # X-Ray or any OTLP backend (its own configuration); `none` makes none.
    telemetry_exporter: TelemetryExporter = "postgres"
    otlp_layer_arn: str | None = None

    @property
    def name(self) -> str:
        """The base of every stack and resource name of this stage."""
        return "-".join(p for p in ("flightdeck", self.stage, self.prefix) if p)

    @property
    def removal_policy(self) -> RemovalPolicy:
        return RemovalPolicy.RETAIN if self.retain else RemovalPolicy.DESTROY

    def stack_name(self, part: str) -> str:
        return f"{self.name}-{part}"

    @property
    def state_machine_prefix(self) -> str:
        """State machines are named `<prefix><workflow>`; the runtime rebuilds ARNs from it."""
        return f"{self.name}-"

    @property
    def bedrock_chat_models(self) -> tuple[str, ...]:
        """The Bedrock model ids chat may invoke (none unless chat is on Bedrock)."""
        return (self.bedrock_chat_model,) if self.model_provider == "bedrock" else ()

    @property
    def bedrock_embedding_models(self) -> tuple[str, ...]:
        """The Bedrock model ids embeddings may invoke (none unless they are on Bedrock)."""
        return (self.embedding_model,) if self.embedding_provider == "bedrock" else ()


def _default_prefix() -> str:
    user = re.sub(r"[^a-z0-9]", "", getpass.getuser().lower())
    return (user if user[:1].isalpha() else f"u{user}")[:12] or "dev"


def stage_config(context: dict[str, Any]) -> StageConfig:
    """The configuration for the stage named in `context` (keys: stage, prefix, alarm_email)."""
    stage = str(context.get("stage") or "dev")
    if stage not in STAGES:
        raise ConfigError(f"stage must be one of {', '.join(STAGES)}; got {stage!r}")
    prefix = str(context.get("prefix") or "")
    if stage == "dev":
        prefix = prefix or _default_prefix()
        if not _PREFIX.match(prefix):
            raise ConfigError(f"prefix must match {_PREFIX.pattern}; got {prefix!r}")
    elif prefix:
        raise ConfigError(f"{stage} is shared: it takes no per-engineer prefix")
    alarm_email = context.get("alarm_email") or None
    common: dict[str, Any] = {
        "prefix": prefix,
        "alarm_email": alarm_email,
        **_models(context),
        **_telemetry(context),
    }
    if stage == "prod":
        return StageConfig(
            stage="prod",
            runtime_stage="prod",
            retain=True,
            nat_gateways=2,
            db_instance_type=ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MEDIUM),
            db_multi_az=True,
            db_allocated_gb=50,
            db_backup_days=14,
            db_connection_alarm=300,
            api_rate_limit=200,
            api_burst_limit=400,
            max_body_bytes=256 * 1024,
            log_retention=logs.RetentionDays.THREE_MONTHS,
            ingest_concurrency=10,
            **common,
        )
    if stage == "staging":
        return StageConfig(
            stage="staging",
            runtime_stage="staging",
            retain=True,
            nat_gateways=1,
            db_instance_type=ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.SMALL),
            db_multi_az=False,
            db_allocated_gb=20,
            db_backup_days=7,
            db_connection_alarm=150,
            api_rate_limit=50,
            api_burst_limit=100,
            max_body_bytes=256 * 1024,
            log_retention=logs.RetentionDays.ONE_MONTH,
            ingest_concurrency=4,
            **common,
        )
    return StageConfig(
        stage="dev",
        runtime_stage="development",
        retain=False,
        nat_gateways=1,
        db_instance_type=ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MICRO),
        db_multi_az=False,
        db_allocated_gb=20,
        db_backup_days=1,
        db_connection_alarm=70,
        api_rate_limit=20,
        api_burst_limit=40,
        max_body_bytes=256 * 1024,
        log_retention=logs.RetentionDays.ONE_WEEK,
        **common,
    )


def _models(context: dict[str, Any]) -> dict[str, Any]:
    """The model settings from context: providers (offline by default) and Bedrock model ids."""
    chosen: dict[str, Any] = {}
    for key in ("model_provider", "embedding_provider"):
        provider = str(context.get(key) or "offline")
        if provider not in PROVIDERS:
            raise ConfigError(
                f"{key} must be one of {', '.join(PROVIDERS)}; got {provider!r} (an "
                "OpenAI-compatible endpoint is configured in the functions' settings, not here)"
            )
        chosen[key] = provider
    for key, default in (
        ("bedrock_chat_model", DEFAULT_BEDROCK_CHAT_MODEL),
        ("embedding_model", DEFAULT_BEDROCK_EMBEDDING_MODEL),
    ):
        model = str(context.get(key) or default)
        if not _MODEL_ID.match(model):
            raise ConfigError(
                f"{key} must be a Bedrock model or inference profile id; got {model!r}"
            )
        chosen[key] = model
    return chosen


def _telemetry(context: dict[str, Any]) -> dict[str, Any]:
    """The span exporter from context (`telemetry_exporter`, `otlp_layer_arn`)."""
    exporter = str(context.get("telemetry_exporter") or "postgres")
    if exporter not in EXPORTERS:
        raise ConfigError(
            f"telemetry_exporter must be one of {', '.join(EXPORTERS)}; got {exporter!r}"
        )
    layer = str(context.get("otlp_layer_arn") or "") or None
    if exporter == "otlp" and layer is None:
        raise ConfigError(
            "telemetry_exporter=otlp needs otlp_layer_arn: the ARN of the ADOT collector "
            "layer (arm64) in the deployment's region"
        )
    if layer is not None and not _LAYER_ARN.match(layer):
        raise ConfigError(f"otlp_layer_arn must be a Lambda layer version ARN; got {layer!r}")
    return {"telemetry_exporter": exporter, "otlp_layer_arn": layer if exporter == "otlp" else None}


def cdk_json_context(root: Path) -> dict[str, Any]:
    """The context in cdk.json (feature flags, default stage).

    The `cdk` CLI passes it to the app; `python app.py` and the tests read it here, so every
    way of synthesizing builds the same templates.
    """
    with (root / "cdk.json").open() as f:
        return dict(json.load(f).get("context", {}))
