"""Frontend: the dashboard's static export on a private S3 bucket behind CloudFront (origin
access control), on one origin with the API.

Routing (docs/deploy.md, "The dashboard"):

- `/v1/*` and `/healthz` go to the API stack's API Gateway stage, uncached, every method, every
  viewer header but Host; so the dashboard's `config.json` says `"apiUrl": ""` (same origin).
- everything else is the export, through two CloudFront Functions: `frontend_router.js` (viewer
  request: `/runs/` is `/runs/index.html`, `/runs` redirects to `/runs/`, unknown pages get
  `/404.html`) and `frontend_status.js` (viewer response: that page is answered with 404).
  The distribution has no custom error responses: they would apply to the API's answers too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aws_cdk import (
    Annotations,
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

ROUTER_SOURCE = Path(__file__).with_name("frontend_router.js")
STATUS_SOURCE = Path(__file__).with_name("frontend_status.js")
# The line of frontend_router.js that synthesis replaces with the export's page folders.
ROUTES_LINE = "var ROUTES = null;"
# CloudFront Functions' limit on a function's code.
MAX_FUNCTION_BYTES = 10 * 1024

NOT_FOUND_PAGE = "404.html"
# Object metadata on 404.html: S3 returns it as `x-amz-meta-flightdeck-status`, which the
# viewer-response function turns into the status.
STATUS_METADATA = {"flightdeck-status": "404"}
FALLBACK_NOT_FOUND = (
    "<!doctype html><title>Not found</title>"
    '<p>This page does not exist. <a href="/">Open the dashboard</a>.</p>'
)
# Paths of the API on the dashboard's origin (the app's routes: docs/openapi.json).
API_PATHS = ("/v1/*", "/healthz")
# Folders of the export that hold an index.html but are not pages a viewer should get with 200.
NOT_PAGES = {("404",), ("_not-found",)}


def is_export(site_dir: Path | None) -> bool:
    """Whether `site_dir` holds a built static export (at least its index.html)."""
    return site_dir is not None and (site_dir / "index.html").is_file()


def export_routes(site_dir: Path) -> list[str]:
    """The page folders of a static export (`/`, `/runs/`, `/runs/detail/`, ...): every folder
    with an index.html, but the export's own not-found folders and its `_next` assets."""
    routes = []
    for page in site_dir.rglob("index.html"):
        parts = page.parent.relative_to(site_dir).parts
        if parts[:1] == ("_next",) or parts in NOT_PAGES:
            continue
        routes.append("/" + "".join(f"{part}/" for part in parts))
    return sorted(routes)


def router_code(routes: Sequence[str] | None) -> str:
    """The viewer-request function's code; `routes` None: every folder is taken for a page."""
    source = ROUTER_SOURCE.read_text()
    if source.count(ROUTES_LINE) != 1:
        raise ValueError(f"{ROUTER_SOURCE.name} must declare `{ROUTES_LINE}` exactly once")
    if routes is not None:
        source = source.replace(ROUTES_LINE, f"var ROUTES = {json.dumps(list(routes))};")
    if len(source.encode()) > MAX_FUNCTION_BYTES:
        raise ValueError(f"the router function is over CloudFront's {MAX_FUNCTION_BYTES} bytes")
    return source


def status_code() -> str:
    """The viewer-response function's code."""
    return STATUS_SOURCE.read_text()


class FrontendStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        api_domain: str,
        api_origin_path: str,
        site_dir: Path | None,
        **kwargs: Any,
    ) -> None:
        """`api_domain`: the API's execute-api host name; `api_origin_path`: its stage
        (`/v1`), which API Gateway expects before the app's own paths (`/v1/runs`)."""
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
        built = is_export(site_dir)
        routes = export_routes(site_dir) if built and site_dir is not None else None
        self.router = cloudfront.Function(
            self,
            "Router",
            comment=f"{config.name} dashboard: folder URLs to index.html, unknown pages to 404",
            code=cloudfront.FunctionCode.from_inline(router_code(routes)),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
        )
        self.status = cloudfront.Function(
            self,
            "NotFoundStatus",
            comment=f"{config.name} dashboard: the not-found page is answered with 404",
            code=cloudfront.FunctionCode.from_inline(status_code()),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
        )
        api_origin = origins.HttpOrigin(
            api_domain,
            origin_path=api_origin_path,
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
        )
        api_behavior = cloudfront.BehaviorOptions(
            origin=api_origin,
            # No redirect: a redirected POST would arrive as a GET.
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            # Every header (Authorization included, which CloudFront forwards when caching is
            # disabled), cookie and query string; Host is the execute-api name, not ours.
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
            response_headers_policy=cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Cdn",
            comment=f"{config.name} dashboard and API",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                # LIST: S3 answers a missing key with 404 (with READ alone it is 403). The
                # default behaviour forwards no query string, so S3 never gets a list request.
                origin=origins.S3BucketOrigin.with_origin_access_control(
                    self.site,
                    origin_access_levels=[cloudfront.AccessLevel.READ, cloudfront.AccessLevel.LIST],
                ),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                response_headers_policy=cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                function_associations=[
                    cloudfront.FunctionAssociation(
                        function=self.router,
                        event_type=cloudfront.FunctionEventType.VIEWER_REQUEST,
                    ),
                    cloudfront.FunctionAssociation(
                        function=self.status,
                        event_type=cloudfront.FunctionEventType.VIEWER_RESPONSE,
                    ),
                ],
            ),
            additional_behaviors={path: api_behavior for path in API_PATHS},
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            enable_logging=True,
            log_bucket=logs_bucket,
            log_file_prefix="cdn/",
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
        )
        # CDK warns about LIST on a default behaviour without a root object: this one has one,
        # and its router never lets `/` reach the bucket.
        Annotations.of(self.distribution).acknowledge_warning(
            "@aws-cdk/aws-cloudfront-origins:listBucketSecurityRisk",
            "defaultRootObject is index.html and the router rewrites every folder URL",
        )
        site = self._deploy_site(site_dir if built else None)
        # Read at page load, never cached: the same build serves every stage. The API is on
        # this origin, so its base URL is empty.
        config_deployment = s3deploy.BucketDeployment(
            self,
            "DeployConfig",
            destination_bucket=self.site,
            sources=[
                s3deploy.Source.json_data("config.json", {"apiUrl": "", "stage": config.stage})
            ],
            prune=False,
            cache_control=[s3deploy.CacheControl.no_cache()],
            distribution=self.distribution,
            distribution_paths=["/config.json"],
        )
        if site is not None:
            config_deployment.node.add_dependency(site)

        self.url = f"https://{self.distribution.distribution_domain_name}"
        CfnOutput(self, "DashboardUrl", value=self.url, description="The dashboard (and API)")
        self._waivers(logs_bucket)

    def _deploy_site(self, site_dir: Path | None) -> s3deploy.BucketDeployment | None:
        """Publish the export, then its 404.html with the status metadata; or, with no export,
        deploy nothing (what the bucket holds stays) and say so."""
        if site_dir is None:
            Annotations.of(self).add_warning_v2(
                "flightdeck:frontend:no-export",
                "frontend/out has no built dashboard (run `make frontend`): this synthesis "
                "deploys config.json only, and whatever the site bucket holds stays as it is.",
            )
            return None
        site = s3deploy.BucketDeployment(
            self,
            "DeploySite",
            destination_bucket=self.site,
            sources=[s3deploy.Source.asset(str(site_dir))],
            # Deployed by their own deployments below; excluded files are not pruned either.
            exclude=["config.json", NOT_FOUND_PAGE],
            distribution=self.distribution,
            distribution_paths=["/*"],
        )
        not_found = (
            s3deploy.Source.asset(str(site_dir))
            if (site_dir / NOT_FOUND_PAGE).is_file()
            else s3deploy.Source.data(NOT_FOUND_PAGE, FALLBACK_NOT_FOUND)
        )
        page = s3deploy.BucketDeployment(
            self,
            "DeployNotFoundPage",
            destination_bucket=self.site,
            sources=[not_found],
            exclude=["*"],
            include=[NOT_FOUND_PAGE],
            prune=False,
            metadata=STATUS_METADATA,
            distribution=self.distribution,
            distribution_paths=[f"/{NOT_FOUND_PAGE}"],
        )
        page.node.add_dependency(site)
        return site

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
                "The static files need no WAF; the /v1/* and /healthz behaviours reach the API "
                "Gateway stage, which has its own regional web ACL (AWS managed rules, per-IP "
                "rate limit). A CLOUDFRONT-scope ACL would have to be created in us-east-1.",
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
