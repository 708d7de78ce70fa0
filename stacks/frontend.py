"""Frontend: the dashboard's static export on a private S3 bucket behind CloudFront (origin
access control), with a runtime `config.json` that points it at this stage's API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import (
    CfnOutput,
    Duration,
    Stack,
)
from aws_cdk import (
    aws_cloudfront as cloudfront,
)
from aws_cdk import (
    aws_cloudfront_origins as origins,
)
from aws_cdk import (
    aws_s3 as s3,
)
from aws_cdk import (
    aws_s3_deployment as s3deploy,
)
from constructs import Construct

from stacks import nag
from stacks.config import StageConfig

PLACEHOLDER_PAGE = (
    "<!doctype html><title>Flightdeck</title>"
    "<p>The dashboard has not been built: run <code>make frontend</code> and deploy again.</p>"
)


class FrontendStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        api_url: str,
        site_dir: Path | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal = config.removal_policy
        logs_bucket = s3.Bucket(
            self,
            "CdnLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # CloudFront standard logging writes with ACLs.
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            removal_policy=removal,
            auto_delete_objects=not config.retain,
        )
        self.site = s3.Bucket(
            self,
            "Site",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=logs_bucket,
            server_access_logs_prefix="site/",
            removal_policy=removal,
            auto_delete_objects=not config.retain,
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Cdn",
            comment=f"{config.name} dashboard",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.site),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                response_headers_policy=cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
            ),
            # A static export has one page per route; unknown paths fall back to the app shell.
            error_responses=[
                cloudfront.ErrorResponse(
                    http_status=403, response_http_status=200, response_page_path="/index.html"
                ),
                cloudfront.ErrorResponse(
                    http_status=404, response_http_status=200, response_page_path="/index.html"
                ),
            ],
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            enable_logging=True,
            log_bucket=logs_bucket,
            log_file_prefix="cdn/",
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
        )
        site_source = (
            s3deploy.Source.asset(str(site_dir))
            if site_dir is not None and site_dir.is_dir()
            else s3deploy.Source.data("index.html", PLACEHOLDER_PAGE)
        )
        site = s3deploy.BucketDeployment(
            self,
            "DeploySite",
            destination_bucket=self.site,
            sources=[site_source],
            exclude=["config.json"],
            distribution=self.distribution,
            distribution_paths=["/*"],
        )
        # Read at page load, never cached: the same build serves every stage.
        config_deployment = s3deploy.BucketDeployment(
            self,
            "DeployConfig",
            destination_bucket=self.site,
            sources=[
                s3deploy.Source.json_data("config.json", {"apiUrl": api_url, "stage": config.stage})
            ],
            prune=False,
            cache_control=[s3deploy.CacheControl.no_cache()],
            distribution=self.distribution,
            distribution_paths=["/config.json"],
        )
        config_deployment.node.add_dependency(site)

        self.url = f"https://{self.distribution.distribution_domain_name}"
        CfnOutput(self, "DashboardUrl", value=self.url, description="The dashboard")
        self._waivers(logs_bucket)

    def _waivers(self, logs_bucket: s3.Bucket) -> None:
        nag.waive(
            logs_bucket,
            nag.Waiver(
                "AwsSolutions-S1",
                "This bucket receives the CDN and site access logs; logging it would recurse.",
            ),
        )
        nag.waive(
            self.distribution,
            nag.Waiver(
                "AwsSolutions-CFR4",
                "The default *.cloudfront.net certificate allows TLSv1 at the edge; a custom "
                "domain with its own certificate (TLS 1.2 policy set) lifts this.",
            ),
            nag.Waiver(
                "AwsSolutions-CFR1",
                "Clients are small businesses in many countries; no geographic restriction.",
            ),
            nag.Waiver(
                "AwsSolutions-CFR2",
                "A static site with no server-side logic; the API it calls sits behind WAF.",
            ),
        )
        nag.waive_stack(
            self,
            nag.BASIC_EXECUTION_ROLE,
            nag.CDK_PROVIDER_RUNTIME,
            nag.Waiver(
                "AwsSolutions-IAM5",
                "The CDK BucketDeployment and auto-delete helpers copy and delete any object of "
                "the site bucket and read the staged asset objects, so their policies carry "
                "object wildcards (<bucket>/*) by construction.",
            ),
        )
