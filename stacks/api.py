"""API: API Gateway (REST) in front of the FastAPI Lambda, throttled, access-logged, behind WAF.

Request size: API Gateway caps bodies at 10 MB; the app itself answers 413 above
`EnvVar.MAX_BODY_BYTES` (set here from the stage), before anything is stored.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import (
    CfnOutput,
    Duration,
    Stack,
)
from aws_cdk import (
    aws_apigateway as apigw,
)
from aws_cdk import (
    aws_logs as logs,
)
from aws_cdk import (
    aws_wafv2 as wafv2,
)
from constructs import Construct

from flightdeck.settings import EnvVar
from stacks import nag
from stacks.config import StageConfig
from stacks.data import DataStack
from stacks.runtime import (
    AssetPaths,
    FunctionFactory,
    base_environment,
    grant_bedrock,
    grant_tenant_secrets,
    live_alias,
)
from stacks.workflow import WorkflowStack

API_HANDLER = "functions.api.handler.handler"
# `POST /v1/webhooks/{workflow}` (operation triggerWebhook) has its own function, answering
# without FastAPI's routing (`flightdeck.engine.intake`); every other route is the app's.
WEBHOOK_INGRESS_HANDLER = "functions.webhook_ingress.handler.handler"
WEBHOOK_PATH = "v1/webhooks/{workflow}"
STAGE_NAME = "v1"


class ApiStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        assets: AssetPaths,
        data: DataStack,
        workflow: WorkflowStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        factory = FunctionFactory(self, "Runtime", assets=assets, config=config)
        environment = base_environment(
            config,
            database_secret_arn=data.secret.secret_arn,
            database_host=data.database_host,
            artifact_bucket=data.artifacts.bucket_name,
            trigger_key_arn=data.trigger_key.key_arn,
        )
        environment[EnvVar.MAX_BODY_BYTES] = str(config.max_body_bytes)
        self.function = factory.function(
            self,
            "ApiFunction",
            handler=API_HANDLER,
            description="Flightdeck HTTP API (FastAPI via Mangum)",
            environment=environment,
            network=data.network,
            timeout=Duration.seconds(29),
            memory_mb=1024,
            snap_start=True,
        )
        # API Gateway invokes the published version (restored from its SnapStart snapshot).
        self.alias = live_alias(self.function)
        data.secret.grant_read(self.function)
        # Webhooks seal the triggers they store; a re-run opens its original's trigger.
        data.trigger_key.grant_encrypt_decrypt(self.function)
        # Webhook verification reads the signing secrets; the admin routes make, rotate and
        # revoke them.
        grant_tenant_secrets(self.function, config)
        # Run payloads and outputs under tenants/<id>/, and knowledge documents under
        # tenants/<id>/knowledge/: direct uploads (PutObject), presigned PUTs (signed with this
        # role, so PutObject again), re-ingestion (GetObject) and deletion (DeleteObject).
        data.artifacts.grant_read_write(self.function)
        # Knowledge search embeds the query with the chunks' model; the API never chats.
        grant_bedrock(self.function, config.bedrock_embedding_models)
        for machine in workflow.state_machines.values():
            machine.grant_start_execution(self.function)
            machine.grant_read(self.function)
            machine.grant_task_response(self.function)
            machine.grant_execution(self.function, "states:RedriveExecution")

        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=config.log_retention, removal_policy=config.removal_policy
        )
        self.api = apigw.LambdaRestApi(
            self,
            "Api",
            rest_api_name=config.name,
            description="Flightdeck webhooks, runs, approvals and dashboard data",
            handler=self.alias,
            proxy=True,
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                throttling_rate_limit=config.api_rate_limit,
                throttling_burst_limit=config.api_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                tracing_enabled=True,
                metrics_enabled=True,
            ),
        )
        self._webhook_ingress(config, factory, environment, data, workflow)
        self._firewall(config)

        self.url = self.api.url
        # For a proxy in front of the API (the dashboard's CloudFront distribution): the stage's
        # host name and the path it expects before the app's own paths (`/v1` + `/v1/runs`).
        self.domain_name = f"{self.api.rest_api_id}.execute-api.{self.region}.{self.url_suffix}"
        self.origin_path = f"/{STAGE_NAME}"
        CfnOutput(self, "ApiUrl", value=self.api.url, description="Base URL of the API")
        self._waivers()

    def _firewall(self, config: StageConfig) -> None:
        def managed(name: str, priority: int, **overrides: Any) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name=name, **overrides
                    )
                ),
                visibility_config=self._visibility(name),
            )

        acl = wafv2.CfnWebACL(
            self,
            "Firewall",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=self._visibility(config.name),
            rules=[
                # The common set's 8 KB body rule would refuse legitimate webhooks; the body
                # limit is the app's (MAX_BODY_BYTES), so that one rule only counts.
                managed(
                    "AWSManagedRulesCommonRuleSet",
                    0,
                    rule_action_overrides=[
                        wafv2.CfnWebACL.RuleActionOverrideProperty(
                            name="SizeRestrictions_BODY",
                            action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={}),
                        )
                    ],
                ),
                managed("AWSManagedRulesKnownBadInputsRuleSet", 1),
                wafv2.CfnWebACL.RuleProperty(
                    name="RatePerIp",
                    priority=2,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="IP", limit=config.api_rate_limit * 300
                        )
                    ),
                    visibility_config=self._visibility("RatePerIp"),
                ),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self,
            "FirewallAssociation",
            resource_arn=self.api.deployment_stage.stage_arn,
            web_acl_arn=acl.attr_arn,
        )

    @staticmethod
    def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
        return wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
        )

    def _webhook_ingress(
        self,
        config: StageConfig,
        factory: FunctionFactory,
        environment: dict[str, str],
        data: DataStack,
        workflow: WorkflowStack,
    ) -> None:
        """The webhook route's own function behind the same API: API Gateway sends
        `POST /v1/webhooks/{workflow}` to it (a resource more specific than the app's proxy),
        with the same contract as the app's route. It verifies, seals and stores triggers and
        starts their executions: nothing else."""
        self.webhook_function = factory.function(
            self,
            "WebhookIngress",
            handler=WEBHOOK_INGRESS_HANDLER,
            description="Flightdeck webhook intake: POST /v1/webhooks/{workflow}",
            environment=environment,
            network=data.network,
            timeout=Duration.seconds(29),
            memory_mb=1024,
            snap_start=True,
        )
        function = self.webhook_function
        # API Gateway invokes the published version (restored from its SnapStart snapshot).
        self.webhook_alias = live_alias(function)
        data.secret.grant_read(function)
        # Triggers are stored sealed.
        data.trigger_key.grant_encrypt(function)
        # Verification reads the signing secrets (the grant is the API's, read and write).
        grant_tenant_secrets(function, config)
        # A large trigger is stored in S3 under tenants/<id>/runs/.
        data.artifacts.grant_put(function)
        for machine in workflow.state_machines.values():
            machine.grant_start_execution(function)
        # The proxying API refuses `add_resource` on its root; a resource made beside it is
        # fine, and API Gateway prefers it to `{proxy+}` for the paths it matches.
        first, *rest = WEBHOOK_PATH.split("/")
        top = apigw.Resource(self, "WebhookResource", parent=self.api.root, path_part=first)
        resource = top
        for part in rest:
            resource = resource.add_resource(part)
        resource.add_method("POST", apigw.LambdaIntegration(self.webhook_alias))
        nag.waive(
            top,
            nag.Waiver(
                "AwsSolutions-APIG4",
                "Webhooks are authorized by their Standard Webhooks HMAC signature, checked by "
                "the function against the tenant's secrets.",
            ),
            nag.Waiver(
                "AwsSolutions-COG4",
                "No Cognito: the caller is n8n (or any sender) with a signed webhook.",
            ),
        )

    def _waivers(self) -> None:
        nag.waive_stack(self, nag.BASIC_EXECUTION_ROLE)
        nag.waive(
            self.function,
            nag.Waiver(
                "AwsSolutions-IAM5",
                "Task responses and redrives target executions whose names are only known at "
                "run time: grant_task_response/grant_execution scope them to this stage's "
                "state machines' executions (<machine>:*).",
            ),
        )
        nag.waive(
            self.api,
            nag.Waiver(
                "AwsSolutions-IAM4",
                "The account-level API Gateway logging role uses the AWS-managed "
                "AmazonAPIGatewayPushToCloudWatchLogs policy, which is exactly that permission.",
                applies_to=(
                    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AmazonAPIGatewayPushToCloudWatchLogs",
                ),
            ),
            nag.Waiver(
                "AwsSolutions-APIG2",
                "Every route validates its request in the FastAPI app (pydantic models, "
                "signature checks) and answers problem+json; the proxy integration has no "
                "models for API Gateway to validate against.",
            ),
            nag.Waiver(
                "AwsSolutions-APIG4",
                "Authorization is done by the app: Standard Webhooks HMAC signatures for n8n, "
                "tenant-scoped bearer tokens for the dashboard and operators.",
            ),
            nag.Waiver(
                "AwsSolutions-COG4",
                "No Cognito: callers are n8n (signed webhooks) and tenant tokens issued by the "
                "platform itself, checked in the app.",
            ),
        )
