"""Knowledge ingestion: an object created under a tenant's knowledge prefix of the artifact
bucket reaches EventBridge (the data stack turns the bucket's events on), and a rule with the
emulator's pattern (`knowledge_event_pattern`) invokes the ingest function, as `make dev` does.

Delivery is at least once and ingestion is idempotent. EventBridge retries an invocation it
could not hand to Lambda; Lambda retries a function error (a throttled embedding provider, the
database away); an event that exhausts either ends in one encrypted dead-letter queue, which
the observability stack alarms on. A file that cannot be read is not an error: the document
ends `failed` with the reason.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import (
    CfnOutput,
    Duration,
    Stack,
)
from aws_cdk import (
    aws_events as events,
)
from aws_cdk import (
    aws_events_targets as targets,
)
from aws_cdk import (
    aws_iam as iam,
)
from aws_cdk import (
    aws_sqs as sqs,
)
from constructs import Construct

from flightdeck.local.emulator import INGEST, knowledge_event_pattern
from stacks import nag
from stacks.config import StageConfig
from stacks.data import DataStack
from stacks.runtime import AssetPaths, FunctionFactory, base_environment, grant_bedrock

INGEST_HANDLER = INGEST.handler
# Where knowledge documents live in the artifact bucket (KnowledgeService.object_key):
# tenants/<tenant id>/knowledge/<document id>/<file name>.
KNOWLEDGE_OBJECTS = "tenants/*/knowledge/*"
# Extracting a 50 MB PDF and embedding a few thousand chunks in batches.
INGEST_TIMEOUT = Duration.minutes(5)
INGEST_MEMORY_MB = 1024
# EventBridge -> Lambda: retry deliveries Lambda refused (service errors) for up to two hours.
DELIVERY_RETRY_ATTEMPTS = 10
DELIVERY_MAX_EVENT_AGE = Duration.hours(2)
# Lambda's own queue: events wait out reserved-concurrency throttling for up to six hours, and
# a function error is retried twice (a throttled embedding provider, the database away).
INVOKE_RETRY_ATTEMPTS = 2
INVOKE_MAX_EVENT_AGE = Duration.hours(6)
DEAD_LETTER_RETENTION = Duration.days(14)


def knowledge_objects_arn(bucket_arn: str) -> str:
    """The ARN of every knowledge document in the bucket, and of nothing else in it."""
    return f"{bucket_arn}/{KNOWLEDGE_OBJECTS}"


class IngestStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        assets: AssetPaths,
        data: DataStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        factory = FunctionFactory(self, "Runtime", assets=assets, config=config)

        # Events EventBridge could not deliver and invocations Lambda gave up on. SQS-managed
        # encryption: EventBridge cannot write to a queue under the data stack's key without
        # that key's policy naming it (a cycle with this stack).
        self.dead_letters = sqs.Queue(
            self,
            "IngestDeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DEAD_LETTER_RETENTION,
            removal_policy=config.removal_policy,
        )

        self.function = factory.function(
            self,
            "Ingest",
            handler=INGEST_HANDLER,
            description="Ingests a knowledge document: extract, chunk, embed, store",
            environment=base_environment(
                config,
                database_secret_arn=data.secret.secret_arn,
                database_host=data.database_host,
                artifact_bucket=data.artifacts.bucket_name,
                # The same settings as every function; no grant: ingestion never seals.
                trigger_key_arn=data.trigger_key.key_arn,
            ),
            network=data.network,
            timeout=INGEST_TIMEOUT,
            memory_mb=INGEST_MEMORY_MB,
            reserved_concurrency=config.ingest_concurrency,
            dead_letter_queue=self.dead_letters,
        )
        self.function.configure_async_invoke(
            retry_attempts=INVOKE_RETRY_ATTEMPTS, max_event_age=INVOKE_MAX_EVENT_AGE
        )
        data.secret.grant_read(self.function)
        # Reads knowledge documents and nothing else: no listing, no writes, no other prefix.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[knowledge_objects_arn(data.artifacts.bucket_arn)],
            )
        )
        data.key.grant_decrypt(self.function)
        grant_bedrock(self.function, config.bedrock_embedding_models)
        nag.waive(self.function, nag.KNOWLEDGE_OBJECTS)

        self.rule = events.Rule(
            self,
            "KnowledgeObjectCreated",
            description=f"{config.name}: ingest knowledge documents created in the artifact bucket",
            event_pattern=_event_pattern(knowledge_event_pattern(data.artifacts.bucket_name)),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    retry_attempts=DELIVERY_RETRY_ATTEMPTS,
                    max_event_age=DELIVERY_MAX_EVENT_AGE,
                    dead_letter_queue=self.dead_letters,
                )
            ],
        )
        CfnOutput(self, "IngestDeadLetterQueueUrl", value=self.dead_letters.queue_url)
        nag.waive_stack(self, nag.BASIC_EXECUTION_ROLE)


def _event_pattern(pattern: dict[str, Any]) -> events.EventPattern:
    """The emulator's pattern (EventBridge JSON) as CDK's EventPattern; the test checks that
    the rule's pattern in the template is the emulator's, key for key."""
    known = {"source": "source", "detail-type": "detail_type", "detail": "detail"}
    unknown = set(pattern) - set(known)
    if unknown:
        raise ValueError(f"the knowledge event pattern has fields the stack cannot map: {unknown}")
    return events.EventPattern(**{known[key]: value for key, value in pattern.items()})
