"""The process's long-lived objects (settings, pool, AWS clients, services), built on first use.

Handlers call `services()`; nothing is built, and no engine, store or AWS module imported, at
import, so a cold start pays only for what the first request needs, and tests can build a
`Services` of their own.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Every service imports its module on first use: the API's routes that never touch the
    # engine (and the functions that never run a node) do not pay for it at cold start.
    from flightdeck.engine.approvals import ApprovalService
    from flightdeck.engine.callbacks import CallbackDispatcher
    from flightdeck.engine.checkpoint_keys import CheckpointCipher
    from flightdeck.engine.registry import Registry
    from flightdeck.engine.runner import NodeRunner
    from flightdeck.engine.runs import RunService
    from flightdeck.knowledge.service import KnowledgeService
    from flightdeck.llm.base import EmbeddingProvider, ModelProvider
    from flightdeck.settings import Settings
    from flightdeck.store.blobs import BlobStore
    from flightdeck.store.db import Connection
    from flightdeck.store.sealing import TriggerSealer
    from flightdeck.store.secrets import SecretStore
    from flightdeck.telemetry.costs import Prices
    from flightdeck.telemetry.tracing import Tracing


class Services:
    def __init__(self, settings: Settings, *, pool_size: int | None = None) -> None:
        self.settings = settings
        self._pool_size = pool_size

    @cached_property
    def registry(self) -> Registry:
        from flightdeck.engine.registry import discover

        return discover(tuple(self.settings.workflow_packages.split(",")))

    @cached_property
    def pool(self) -> Any:
        from flightdeck.store.db import make_pool, resolve_database_url

        if self.settings.telemetry_exporter == "otlp":
            # Statements are traced on connections opened after the instrumentation.
            self.tracing.instrument_libraries()
        return make_pool(
            resolve_database_url(self.settings, self.client("secretsmanager")),
            role=self.settings.database_role,
            max_size=self._pool_size or self.settings.database_pool_size,
            timeout=self.settings.database_pool_timeout,
        )

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A pooled connection working as the application role; scope each transaction to
        its tenant(s) with `flightdeck.store.db.scoped` (or use `tenant`)."""
        with self.pool.connection() as conn:
            yield conn

    @contextmanager
    def tenant(self, *tenant_ids: uuid.UUID) -> Iterator[Connection]:
        """A transaction that sees the rows of `tenant_ids` and nothing else."""
        from flightdeck.store.db import scoped

        with self.pool.connection() as conn, scoped(conn, *tenant_ids):
            yield conn

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=self.settings.aws_region,
            endpoint_url=self.settings.aws_endpoint_url,
        )

    @cached_property
    def sfn(self) -> Any:
        """Step Functions, retrying once: a webhook whose execution cannot start is answered
        503 within about a second (its sender retries, the sweeper starts it), not after
        botocore's default backoff of up to 15 s."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "stepfunctions",
            region_name=self.settings.aws_region,
            endpoint_url=self.settings.aws_endpoint_url,
            config=Config(
                retries={"mode": "standard", "max_attempts": 2},
                connect_timeout=3,
                read_timeout=10,
            ),
        )

    @cached_property
    def sealer(self) -> TriggerSealer | None:
        """Encrypts triggers' personal fields under the trigger KMS key (built on first use:
        the Encryption SDK is not imported by a cold start that never sees a trigger)."""
        from flightdeck.settings import EnvVar
        from flightdeck.store.sealing import TriggerKeyMissingError, kms_sealer

        key = self.settings.trigger_key_id
        if key is None:
            if self.settings.stage in ("staging", "prod"):
                raise TriggerKeyMissingError(
                    f"set {EnvVar.TRIGGER_KEY_ID}: triggers are stored encrypted"
                )
            return None
        if not key.startswith("arn:aws") or ":kms:" not in key:
            raise TriggerKeyMissingError(f"{EnvVar.TRIGGER_KEY_ID} must be a KMS key ARN: {key!r}")
        return kms_sealer(
            key, region=self.settings.aws_region, endpoint_url=self.settings.aws_endpoint_url
        )

    @cached_property
    def checkpoint_cipher(self) -> CheckpointCipher | None:
        """Encrypts LangGraph checkpoints under tenant data keys made by the trigger key;
        None where no trigger key is configured (the sealer says whether that is allowed)."""
        if self.sealer is None:
            return None
        from flightdeck.engine.checkpoint_keys import CheckpointCipher

        assert self.settings.trigger_key_id is not None
        return CheckpointCipher(self.client("kms"), self.settings.trigger_key_id)

    @cached_property
    def secrets(self) -> SecretStore:
        """Webhook and callback signing secrets in Secrets Manager, cached in the process."""
        from flightdeck.store.secrets import SecretStore

        return SecretStore(
            self.client("secretsmanager"),
            prefix=self.settings.secrets_prefix,
            max_age=self.settings.secrets_cache_seconds,
        )

    @cached_property
    def blobs(self) -> BlobStore:
        from flightdeck.store.blobs import BlobStore

        return BlobStore(self.client("s3"), self.settings.artifact_bucket)

    def model_client(self, service: str) -> Any:
        """A client for a model service (Bedrock): always AWS itself, in the configured region,
        since the local emulator has no Bedrock. botocore's standard retries absorb brief
        throttling; what remains surfaces as `TransientError` for Step Functions to retry."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=self.settings.aws_region,
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
        )

    @cached_property
    def model(self) -> ModelProvider:
        from flightdeck.llm.factory import chat_provider

        def offline_rules() -> dict[str, Any]:
            rules: dict[str, Any] = {}
            for workflow in self.registry:
                rules.update(workflow.load_offline_rules())
            return rules

        return chat_provider(self.settings, self.model_client, offline_rules)

    @cached_property
    def embeddings(self) -> EmbeddingProvider:
        """The embedding provider the settings choose (offline by default)."""
        from flightdeck.llm.factory import embedding_provider

        return embedding_provider(self.settings, self.model_client)

    @cached_property
    def knowledge(self) -> KnowledgeService:
        """Documents under the tenants' prefixes of the artifact bucket, and search over them."""
        from flightdeck.knowledge.service import KnowledgeService

        return KnowledgeService(
            self.connection,
            self.client("s3"),
            self.settings.artifact_bucket,
            lambda: self.embeddings,
        )

    @cached_property
    def tracing(self) -> Tracing:
        """OpenTelemetry spans to the exporter the settings name (the SDK loads on the first
        span, not here)."""
        from flightdeck import __version__
        from flightdeck.telemetry.tracing import Tracing

        return Tracing(
            self.settings.telemetry_exporter,
            otlp_endpoint=self.settings.otlp_endpoint,
            service_version=__version__,
        )

    @cached_property
    def prices(self) -> Prices:
        """The cost ledger's price table (`flightdeck/prices.json`)."""
        from flightdeck.telemetry.costs import load_prices

        return load_prices()

    @cached_property
    def runner(self) -> NodeRunner:
        from flightdeck.engine.runner import NodeRunner

        return NodeRunner(
            registry=self.registry,
            connection=self.connection,
            model=self.model,
            blobs=self.blobs,
            embeddings=lambda: self.embeddings,
            sealer=lambda: self.sealer,
            checkpoint_cipher=lambda: self.checkpoint_cipher,
            tracer=self.tracing,
            prices=self.prices,
            memory_mb=self.settings.lambda_memory_mb,
        )

    @cached_property
    def runs(self) -> RunService:
        from flightdeck.engine.runs import RunService

        return RunService(
            registry=self.registry,
            connection=self.connection,
            sfn=self.sfn,
            blobs=self.blobs,
            state_machine_arn=self.settings.state_machine_arn,
            inline_payload_limit=self.settings.inline_payload_limit,
            runner=self.runner,
            sealer=lambda: self.sealer,
            tracer=self.tracing,
            prices=self.prices,
            memory_mb=self.settings.lambda_memory_mb,
        )

    @cached_property
    def approvals(self) -> ApprovalService:
        from flightdeck.engine.approvals import ApprovalService

        return ApprovalService(
            registry=self.registry,
            connection=self.connection,
            sfn=self.sfn,
            sealer=lambda: self.sealer,
        )

    @cached_property
    def callbacks(self) -> CallbackDispatcher:
        """Sends due outbound callbacks; its HTTP client is built on first send."""
        from flightdeck.engine.callbacks import CallbackDispatcher

        return CallbackDispatcher(
            registry=self.registry,
            connection=self.connection,
            secrets=self.secrets,
        )

    def close(self) -> None:
        if "callbacks" in self.__dict__:
            self.callbacks.close()
        if "pool" in self.__dict__:
            self.pool.close()
        if "tracing" in self.__dict__:
            self.tracing.shutdown()


_lock = threading.Lock()
_services: Services | None = None


def services() -> Services:
    """The process-wide services, built from the environment on first call."""
    global _services
    if _services is None:
        with _lock:
            if _services is None:
                from flightdeck.settings import get_settings

                _services = Services(get_settings())
    return _services


def reset_services() -> None:
    """Forget the process-wide services (tests and the local runner re-read settings)."""
    global _services
    with _lock:
        if _services is not None:
            _services.close()
        _services = None
    from flightdeck.settings import get_settings

    get_settings.cache_clear()
