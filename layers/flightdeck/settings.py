"""Runtime settings, validated once per process (Lambda cold start or local start).

Environment variable names live here and only here: the CDK stacks import `EnvVar` to set
them, the runtime reads them through `Settings`, so the two can never drift apart.
"""

from __future__ import annotations

import enum
from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "FLIGHTDECK_"
# Set by the Lambda runtime in every function: its configured memory in MB.
LAMBDA_RUNTIME_MEMORY = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"


class EnvVar(enum.StrEnum):
    """Every environment variable the runtime reads."""

    STAGE = f"{ENV_PREFIX}STAGE"
    DATABASE_URL = f"{ENV_PREFIX}DATABASE_URL"
    DATABASE_SECRET_ARN = f"{ENV_PREFIX}DATABASE_SECRET_ARN"
    DATABASE_HOST = f"{ENV_PREFIX}DATABASE_HOST"
    DATABASE_ROLE = f"{ENV_PREFIX}DATABASE_ROLE"
    DATABASE_POOL_SIZE = f"{ENV_PREFIX}DATABASE_POOL_SIZE"
    DATABASE_POOL_TIMEOUT = f"{ENV_PREFIX}DATABASE_POOL_TIMEOUT"
    AWS_ENDPOINT_URL = f"{ENV_PREFIX}AWS_ENDPOINT_URL"
    AWS_REGION = f"{ENV_PREFIX}AWS_REGION"
    ARTIFACT_BUCKET = f"{ENV_PREFIX}ARTIFACT_BUCKET"
    STATE_MACHINE_ARN_PREFIX = f"{ENV_PREFIX}STATE_MACHINE_ARN_PREFIX"
    MODEL_PROVIDER = f"{ENV_PREFIX}MODEL_PROVIDER"
    INLINE_PAYLOAD_LIMIT = f"{ENV_PREFIX}INLINE_PAYLOAD_LIMIT"
    MAX_BODY_BYTES = f"{ENV_PREFIX}MAX_BODY_BYTES"
    TELEMETRY_EXPORTER = f"{ENV_PREFIX}TELEMETRY_EXPORTER"
    OTLP_ENDPOINT = f"{ENV_PREFIX}OTLP_ENDPOINT"
    LAMBDA_MEMORY_MB = f"{ENV_PREFIX}LAMBDA_MEMORY_MB"
    WORKFLOW_PACKAGES = f"{ENV_PREFIX}WORKFLOW_PACKAGES"
    MODEL_BASE_URL = f"{ENV_PREFIX}MODEL_BASE_URL"
    MODEL_NAME = f"{ENV_PREFIX}MODEL_NAME"
    MODEL_API_KEY = f"{ENV_PREFIX}MODEL_API_KEY"
    BEDROCK_CHAT_MODEL = f"{ENV_PREFIX}BEDROCK_CHAT_MODEL"
    EMBEDDING_PROVIDER = f"{ENV_PREFIX}EMBEDDING_PROVIDER"
    EMBEDDING_MODEL = f"{ENV_PREFIX}EMBEDDING_MODEL"
    EMBEDDING_DIMENSION = f"{ENV_PREFIX}EMBEDDING_DIMENSION"
    EMBEDDING_BATCH_SIZE = f"{ENV_PREFIX}EMBEDDING_BATCH_SIZE"
    EMBEDDING_BASE_URL = f"{ENV_PREFIX}EMBEDDING_BASE_URL"
    EMBEDDING_API_KEY = f"{ENV_PREFIX}EMBEDDING_API_KEY"
    TRIGGER_KEY_ID = f"{ENV_PREFIX}TRIGGER_KEY_ID"
    MASKING_KEY = f"{ENV_PREFIX}MASKING_KEY"
    MASKING_KEY_SECRET = f"{ENV_PREFIX}MASKING_KEY_SECRET"
    SECRETS_PREFIX = f"{ENV_PREFIX}SECRETS_PREFIX"
    SECRETS_CACHE_SECONDS = f"{ENV_PREFIX}SECRETS_CACHE_SECONDS"
    SECRET_ROTATION_OVERLAP_SECONDS = f"{ENV_PREFIX}SECRET_ROTATION_OVERLAP_SECONDS"


Stage = Literal["development", "test", "staging", "prod"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    stage: Stage = "development"
    # Either a libpq URL (local, tests) or a Secrets Manager secret holding RDS credentials.
    database_url: str | None = None
    database_secret_arn: str | None = None
    # Overrides the secret's host: on AWS, the RDS Proxy endpoint in front of the database.
    database_host: str | None = None
    # The non-owner role the application works as, so row-level security applies.
    database_role: str = "flightdeck_app"
    # Connections this process may hold: a Lambda serves one request at a time, while the
    # local stack runs every function in one process and sizes it for that (`local.dev`).
    database_pool_size: int = Field(default=4, ge=1, le=200)
    # How long a request waits for a free connection before it is answered as unavailable
    # (a retryable 503, or a retried Task) instead of queueing until its caller gives up.
    database_pool_timeout: float = Field(default=5.0, gt=0, le=60)
    # Set locally to the emulator (http://127.0.0.1:4566); unset on AWS.
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    artifact_bucket: str = "flightdeck-artifacts"
    # State machine ARN = prefix + workflow name; CDK names the machines to match.
    state_machine_arn_prefix: str = "arn:aws:states:us-east-1:123456789012:stateMachine:flightdeck-"
    # Chat: the offline rules, an OpenAI-compatible endpoint, or Bedrock's Converse API.
    model_provider: Literal["offline", "openai", "bedrock"] = "offline"
    model_base_url: str | None = None
    model_name: str | None = None
    model_api_key: str | None = None
    # A Bedrock model id or inference profile, e.g. "us.anthropic.claude-3-5-haiku-20241022-v1:0".
    bedrock_chat_model: str | None = None
    # Embeddings (see docs/providers.md). Model and dimension default per provider (offline:
    # offline-hashing-v1, 384; bedrock: amazon.titan-embed-text-v2:0, 1024); the openai provider
    # needs both. Base URL and key fall back to the chat model's.
    embedding_provider: Literal["offline", "bedrock", "openai"] = "offline"
    embedding_model: str | None = None
    embedding_dimension: int | None = Field(default=None, ge=16, le=16000)
    embedding_batch_size: int = Field(default=64, ge=1, le=2048)
    embedding_base_url: str | None = None
    embedding_api_key: str | None = None
    # Comma-separated packages whose subpackages are workflows.
    workflow_packages: str = "flightdeck.workflows"
    # Where OpenTelemetry spans go (`flightdeck.telemetry.tracing`): the span store in Postgres
    # (what `GET /v1/runs/{id}/trace` reads), an OTLP/HTTP endpoint (the ADOT collector, X-Ray),
    # or nowhere.
    telemetry_exporter: Literal["postgres", "otlp", "none"] = "postgres"
    # The OTLP/HTTP traces endpoint, e.g. http://localhost:4318/v1/traces (the ADOT layer's).
    otlp_endpoint: str | None = None
    # This function's configured memory: the cost ledger prices Lambda time as measured
    # duration x this. On Lambda the runtime's own variable gives it; ours overrides it.
    lambda_memory_mb: int = Field(
        default=1024,
        ge=128,
        le=10240,
        validation_alias=AliasChoices(EnvVar.LAMBDA_MEMORY_MB, LAMBDA_RUNTIME_MEMORY),
    )
    # The KMS key (ARN) that trigger payloads' personal fields are encrypted under
    # (`flightdeck.store.sealing`); locally the emulator's. Functions that seal or open
    # triggers refuse to run without it outside development and test.
    # A key ARN (the Encryption SDK takes no alias or bare key id).
    trigger_key_id: str | None = None
    # The HMAC key of masking tokens (`flightdeck.privacy` reads it before settings exist);
    # the same in every function so one address gives one token everywhere.
    masking_key: str | None = None
    # Deployed: the Secrets Manager secret (name or ARN) holding that key, read once per process.
    masking_key_secret: str | None = None
    # JSON values larger than this go to S3 and are kept by pointer.
    inline_payload_limit: int = Field(default=32 * 1024, ge=1024)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    # Webhook and callback signing secrets live in Secrets Manager under this name prefix
    # (`flightdeck.store.secrets`); the stacks grant access to this prefix only.
    secrets_prefix: str = Field(
        default="flightdeck/tenants/", pattern=r"^[A-Za-z0-9/_+=.@-]{1,200}/$"
    )
    # How long a process keeps a secret's value before reading it again (Powertools Parameters'
    # max_age): the longest a revoked secret's material stays in another process's memory.
    secrets_cache_seconds: int = Field(default=300, ge=0, le=3600)
    # How long a rotated-out webhook secret keeps verifying, or callback secret keeps signing,
    # beside the new one.
    secret_rotation_overlap_seconds: int = Field(default=24 * 3600, ge=0, le=30 * 24 * 3600)

    @model_validator(mode="after")
    def _database_configured(self) -> Settings:
        if not self.database_url and not self.database_secret_arn:
            raise ValueError(
                f"set {EnvVar.DATABASE_URL} (local) or {EnvVar.DATABASE_SECRET_ARN} (AWS)"
            )
        if self.stage in ("staging", "prod") and self.aws_endpoint_url:
            raise ValueError(f"{EnvVar.AWS_ENDPOINT_URL} is for local emulation only")
        if self.telemetry_exporter == "otlp" and not self.otlp_endpoint:
            raise ValueError(f"the otlp telemetry exporter needs {EnvVar.OTLP_ENDPOINT}")
        if self.model_provider == "bedrock" and not self.bedrock_chat_model:
            raise ValueError(f"the bedrock model provider needs {EnvVar.BEDROCK_CHAT_MODEL}")
        if self.embedding_provider == "openai":
            missing = [
                name
                for name, value in (
                    (
                        f"{EnvVar.EMBEDDING_BASE_URL} (or {EnvVar.MODEL_BASE_URL})",
                        self.embedding_base_url or self.model_base_url,
                    ),
                    (EnvVar.EMBEDDING_MODEL, self.embedding_model),
                    (EnvVar.EMBEDDING_DIMENSION, self.embedding_dimension),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"the openai embedding provider needs {', '.join(missing)}")
        return self

    def state_machine_arn(self, workflow: str) -> str:
        return f"{self.state_machine_arn_prefix}{workflow}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
