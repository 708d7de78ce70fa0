"""cdk-nag: the AWS Solutions rules on every stack, and suppressions that always say why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Stack
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import IConstruct


@dataclass(frozen=True)
class Waiver:
    """One rule not applied to a construct, with the reason a reviewer can check."""

    rule: str
    reason: str
    applies_to: Sequence[str | RegexAppliesTo] = ()

    def suppression(self) -> NagPackSuppression:
        if len(self.reason) < 20:
            raise ValueError(f"{self.rule}: a suppression needs a real reason")
        return NagPackSuppression(
            id=self.rule, reason=self.reason, applies_to=list(self.applies_to) or None
        )


def waive(construct: IConstruct, *waivers: Waiver) -> None:
    """Suppress rules on `construct` and its children."""
    NagSuppressions.add_resource_suppressions(
        construct, [w.suppression() for w in waivers], apply_to_children=True
    )


def waive_stack(stack: Stack, *waivers: Waiver) -> None:
    """Suppress rules for a whole stack: only for resources CDK generates on our behalf."""
    NagSuppressions.add_stack_suppressions(stack, [w.suppression() for w in waivers])


PYTHON_312 = Waiver(
    "AwsSolutions-L1",
    "Functions run Python 3.12 on purpose: the dependency layer is locked and built for cp312 "
    "wheels (requirements/layer.txt); moving runtimes is a deliberate, tested change.",
)
BASIC_EXECUTION_ROLE = Waiver(
    "AwsSolutions-IAM4",
    "AWSLambdaBasicExecutionRole / AWSLambdaVPCAccessExecutionRole only allow writing the "
    "function's own logs and managing VPC network interfaces; the managed policy is the "
    "minimal AWS-maintained form of exactly that.",
    applies_to=(
        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
    ),
)
CDK_PROVIDER_RUNTIME = Waiver(
    "AwsSolutions-L1",
    "The runtime of this CDK-provided helper function (custom resource provider) is chosen "
    "by aws-cdk-lib and moves with its upgrades; we do not pin it.",
)
GRANT_WILDCARDS = Waiver(
    "AwsSolutions-IAM5",
    "These wildcards are what grant_read/grant_read_write emit for one bucket (its objects, "
    "<bucket>/*, and the object action families) and its KMS key; X-Ray's PutTraceSegments "
    "and PutTelemetryRecords support no resource scoping (Resource::*).",
    applies_to=(
        "Resource::*",
        "Action::s3:GetObject*",
        "Action::s3:GetBucket*",
        "Action::s3:List*",
        "Action::s3:DeleteObject*",
        "Action::s3:Abort*",
        "Action::kms:GenerateDataKey*",
        "Action::kms:ReEncrypt*",
        RegexAppliesTo(regex="/^Resource::.*Artifacts.*\\/\\*$/g"),
    ),
)
LOG_RETENTION = Waiver(
    "AwsSolutions-IAM5",
    "CDK's log-retention helper sets retention on log groups created by services (RDS), whose "
    "names it only learns at deploy time, so its policy cannot name them.",
    applies_to=("Resource::*",),
)
INFERENCE_PROFILE_MODELS = Waiver(
    "AwsSolutions-IAM5",
    "A cross-Region inference profile routes each call to its foundation model in a Region AWS "
    "picks, so the grant names that one configured model in any Region "
    "(arn:...:bedrock:*::foundation-model/<model id>); no other model is allowed.",
    applies_to=(
        RegexAppliesTo(
            regex="/^Resource::arn:<AWS::Partition>:bedrock:\\*::foundation-model\\/[^*]+$/g"
        ),
    ),
)
TENANT_SECRETS = Waiver(
    "AwsSolutions-IAM5",
    "Webhook and callback signing secrets are made at run time, one per tenant and scope, "
    "named <stage>/tenants/<tenant id>/...; the grant names that prefix with a wildcard for the "
    "ids (and Secrets Manager's random ARN suffix); the database secret is outside it.",
    applies_to=(
        RegexAppliesTo(
            regex="/^Resource::arn:<AWS::Partition>:secretsmanager:.*\\/tenants\\/\\*$/g"
        ),
    ),
)
KNOWLEDGE_OBJECTS = Waiver(
    "AwsSolutions-IAM5",
    "Knowledge documents are stored at tenants/<tenant id>/knowledge/<document id>/<file>, so "
    "the grant names that prefix of the artifact bucket with wildcards for the ids, which are "
    "only known at run time; nothing else in the bucket is covered.",
    applies_to=(
        RegexAppliesTo(regex="/^Resource::.*Artifacts.*\\/tenants\\/\\*\\/knowledge\\/\\*$/g"),
    ),
)
MASKING_KEY_ROTATION = Waiver(
    "AwsSolutions-SMG4",
    "The masking key is the HMAC key of the tokens that stand for personal data in logs and "
    "spans, not a credential: rotating it would give every address a new token and break "
    "matching log lines across the rotation; it grants no access to anything.",
)
