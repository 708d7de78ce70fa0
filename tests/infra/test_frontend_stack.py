"""The dashboard's distribution: the export and the API on one origin.

Template assertions on the frontend stack (standalone, with and without a built export, and as
wired in the `dev` stage), and the two CloudFront Functions run under node on CloudFront-shaped
events: alone, and in a small simulation of the request path (router -> S3 -> status function).
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stacks.api import STAGE_NAME
from stacks.frontend import (
    API_PATHS,
    ROUTES_LINE,
    export_routes,
    router_code,
    status_code,
)
from tests.infra.conftest import ROOT, Synthesized

API_DOMAIN = "abc123.execute-api.eu-west-1.amazonaws.com"
RUN_ID = "6f1c2b7e-3a4d-4e5f-8a9b-0c1d2e3f4a5b"
# AWS-managed policies, by their fixed ids.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"
ALL_METHODS = {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}

# A static export shaped like `next build` with `output: "export"`, `trailingSlash: true`.
EXPORT = {
    "index.html": "<title>home</title>",
    "index.txt": "rsc",
    "runs/index.html": "<title>runs</title>",
    "runs/detail/index.html": "<title>run detail</title>",
    "approvals/index.html": "<title>approvals</title>",
    "404.html": "<title>not found</title>",
    "404/index.html": "<title>not found</title>",
    "config.json": '{"apiUrl": ""}',
    "_next/static/chunks/app.js": "console.log(1)",
    "_next/static/media/index.html": "not a page",
}
EXPORT_ROUTES = ["/", "/approvals/", "/runs/", "/runs/detail/"]


# --- synthesis ---------------------------------------------------------------------------------


@dataclass
class Frontend:
    stack: Any
    template: dict[str, Any]
    outdir: Path

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.template["Resources"].items() if r["Type"] == kind}

    @property
    def distribution(self) -> dict[str, Any]:
        ((_, resource),) = self.of_type("AWS::CloudFront::Distribution").items()
        config: dict[str, Any] = resource["Properties"]["DistributionConfig"]
        return config

    def function(self, logical_id: str) -> dict[str, Any]:
        props: dict[str, Any] = self.template["Resources"][logical_id]["Properties"]
        return props

    def deployments(self) -> dict[str, dict[str, Any]]:
        return {
            k.split("CustomResource")[0]: r
            for k, r in self.of_type("Custom::CDKBucketDeployment").items()
        }

    def asset_file(self, object_key: str, name: str) -> str:
        """A file of a staged directory asset, by the object key a deployment names."""
        asset = self.outdir / f"asset.{object_key.removesuffix('.zip')}"
        return (asset / name).read_text()


def write_export(base: Path) -> Path:
    for name, text in EXPORT.items():
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text(text)
    return base


def synthesize_frontend(base: Path, site_dir: Path | None) -> Frontend:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from stacks.config import cdk_json_context, stage_config
    from stacks.frontend import FrontendStack

    context = {"stage": "dev", "prefix": "ci"}
    app = cdk.App(context={**cdk_json_context(ROOT), **context}, outdir=str(base / "cdk.out"))
    stack = FrontendStack(
        app,
        "Frontend",
        config=stage_config(context),
        api_domain=API_DOMAIN,
        api_origin_path="/v1",
        site_dir=site_dir,
    )
    app.synth()
    return Frontend(stack, dict(Template.from_stack(stack).to_json()), base / "cdk.out")


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_export(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, export_dir: Path) -> Frontend:
    return synthesize_frontend(tmp_path_factory.mktemp("built"), export_dir)


@pytest.fixture(scope="module")
def unbuilt(tmp_path_factory: pytest.TempPathFactory) -> Frontend:
    base = tmp_path_factory.mktemp("unbuilt")
    return synthesize_frontend(base, base / "frontend" / "out")


def api_origin(frontend: Frontend) -> dict[str, Any]:
    (origin,) = [o for o in frontend.distribution["Origins"] if "CustomOriginConfig" in o]
    return origin


def s3_origin(frontend: Frontend) -> dict[str, Any]:
    (origin,) = [o for o in frontend.distribution["Origins"] if "S3OriginConfig" in o]
    return origin


# --- template: behaviours ----------------------------------------------------------------------


def test_api_paths_go_to_the_api_origin_uncached_with_every_method(built: Frontend) -> None:
    origin = api_origin(built)
    assert origin["DomainName"] == API_DOMAIN
    assert origin["OriginPath"] == "/v1"
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]

    behaviours = {b["PathPattern"]: b for b in built.distribution["CacheBehaviors"]}
    assert set(behaviours) == {"/v1/*", "/healthz"}
    for path, behaviour in behaviours.items():
        assert behaviour["TargetOriginId"] == origin["Id"], path
        assert behaviour["CachePolicyId"] == CACHING_DISABLED, path
        assert behaviour["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER, path
        assert set(behaviour["AllowedMethods"]) == ALL_METHODS, path
        assert behaviour["ViewerProtocolPolicy"] == "https-only", path
        assert behaviour["ResponseHeadersPolicyId"] == SECURITY_HEADERS, path
        # The API's answers are its own: no rewriting on the way in or out.
        assert "FunctionAssociations" not in behaviour, path


def test_the_api_behaviours_cover_every_route_of_the_api() -> None:
    # What the dashboard calls with `apiUrl: ""` must reach the API, not the bucket.
    paths = json.loads((ROOT / "docs" / "openapi.json").read_text())["paths"]
    assert paths
    uncovered = [p for p in paths if not any(fnmatch.fnmatchcase(p, g) for g in API_PATHS)]
    assert uncovered == []


def test_the_stage_wires_the_api_stacks_domain_and_stage_in(dev: Synthesized) -> None:
    from aws_cdk.assertions import Template

    frontend = Frontend(dev.stacks.frontend, dev.template("frontend").to_json(), Path())
    origin = api_origin(frontend)
    assert origin["OriginPath"] == f"/{STAGE_NAME}"
    domain = json.dumps(origin["DomainName"])
    assert ".execute-api." in domain
    # The REST API's id comes from the API stack's export of its RestApi resource.
    (import_name,) = [
        part["Fn::ImportValue"]
        for part in origin["DomainName"]["Fn::Join"][1]
        if isinstance(part, dict) and "Fn::ImportValue" in part
    ]
    api = Template.from_stack(dev.stacks.api).to_json()
    (rest_api_id,) = [
        k for k, r in api["Resources"].items() if r["Type"] == "AWS::ApiGateway::RestApi"
    ]
    exported = {o["Export"]["Name"]: o["Value"] for o in api["Outputs"].values() if "Export" in o}
    assert exported[import_name] == {"Ref": rest_api_id}


def test_the_default_behaviour_serves_the_bucket_through_both_functions(built: Frontend) -> None:
    default = built.distribution["DefaultCacheBehavior"]
    assert default["TargetOriginId"] == s3_origin(built)["Id"]
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert default["CachePolicyId"] == CACHING_OPTIMIZED
    assert default["ResponseHeadersPolicyId"] == SECURITY_HEADERS
    associations = {
        a["EventType"]: a["FunctionARN"]["Fn::GetAtt"][0] for a in default["FunctionAssociations"]
    }
    assert set(associations) == {"viewer-request", "viewer-response"}
    router = built.function(associations["viewer-request"])
    status = built.function(associations["viewer-response"])
    assert router["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert status["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert router["AutoPublish"]
    assert status["AutoPublish"]
    # The router knows the export's pages; the source file is what is deployed.
    assert router["FunctionCode"] == router_code(EXPORT_ROUTES)
    assert f"var ROUTES = {json.dumps(EXPORT_ROUTES)};" in router["FunctionCode"]
    assert status["FunctionCode"] == status_code()


def test_no_custom_error_responses_that_would_rewrite_the_apis_errors(
    built: Frontend, dev: Synthesized
) -> None:
    # Custom error responses apply to every behaviour: an SPA-style 403/404 -> /index.html (or
    # -> /404.html) would turn the API's problem+json 403 and 404 into an HTML page.
    assert "CustomErrorResponses" not in built.distribution
    dev_config = dev.template("frontend").to_json()
    (distribution,) = [
        r for r in dev_config["Resources"].values() if r["Type"] == "AWS::CloudFront::Distribution"
    ]
    assert "CustomErrorResponses" not in distribution["Properties"]["DistributionConfig"]


def test_the_bucket_stays_private_behind_origin_access_control(built: Frontend) -> None:
    assert s3_origin(built)["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert "OriginAccessControlId" in s3_origin(built)
    assert built.of_type("AWS::CloudFront::OriginAccessControl")
    for bucket in built.of_type("AWS::S3::Bucket").values():
        block = bucket["Properties"]["PublicAccessBlockConfiguration"]
        assert all(block[k] for k in block), block
    statements = [
        s
        for policy in built.of_type("AWS::S3::BucketPolicy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "cloudfront.amazonaws.com"}
    ]
    (statement,) = statements
    # Read, and list so that a missing key is a 404; only for this distribution.
    assert sorted(statement["Action"]) == ["s3:GetObject", "s3:ListBucket"]
    assert "AWS:SourceArn" in statement["Condition"]["StringEquals"]
    assert built.distribution["DefaultRootObject"] == "index.html"
    assert built.distribution["Logging"]["Prefix"] == "cdn/"


# --- template: deployments ---------------------------------------------------------------------


def test_a_built_export_is_deployed_with_its_not_found_page_and_config(built: Frontend) -> None:
    deployments = built.deployments()
    assert set(deployments) == {"DeploySite", "DeployNotFoundPage", "DeployConfig"}
    site = deployments["DeploySite"]
    page = deployments["DeployNotFoundPage"]
    config = deployments["DeployConfig"]

    props = site["Properties"]
    assert props["Prune"] is True
    assert props["Exclude"] == ["config.json", "404.html"]
    assert props["DistributionPaths"] == ["/*"]
    assert "DistributionId" in props

    props = page["Properties"]
    assert props["Exclude"] == ["*"]
    assert props["Include"] == ["404.html"]
    assert props["UserMetadata"] == {"flightdeck-status": "404"}
    assert props["Prune"] is False
    assert props["DistributionPaths"] == ["/404.html"]

    props = config["Properties"]
    assert props["SystemMetadata"] == {"cache-control": "no-cache"}
    assert props["DistributionPaths"] == ["/config.json"]
    assert props["Prune"] is False
    (key,) = props["SourceObjectKeys"]
    # The API is on the dashboard's origin.
    assert json.loads(built.asset_file(key, "config.json")) == {"apiUrl": "", "stage": "dev"}

    site_id = next(k for k in built.of_type("Custom::CDKBucketDeployment") if "DeploySite" in k)
    assert site_id in page["DependsOn"]
    assert site_id in config["DependsOn"]
    (site_key,) = site["Properties"]["SourceObjectKeys"]
    assert built.asset_file(site_key, "runs/detail/index.html") == EXPORT["runs/detail/index.html"]


def test_without_an_export_the_stack_synthesizes_deploys_config_only_and_warns(
    unbuilt: Frontend,
) -> None:
    from aws_cdk.assertions import Annotations, Match

    assert set(unbuilt.deployments()) == {"DeployConfig"}
    warnings = Annotations.from_stack(unbuilt.stack).find_warning(
        "*", Match.string_like_regexp("frontend/out has no built dashboard")
    )
    assert len(warnings) == 1
    routers = [
        f["Properties"]["FunctionCode"]
        for f in unbuilt.of_type("AWS::CloudFront::Function").values()
        if ROUTES_LINE in f["Properties"]["FunctionCode"]
    ]
    assert routers == [router_code(None)]
    # Routing to the API does not depend on the export.
    assert {b["PathPattern"] for b in unbuilt.distribution["CacheBehaviors"]} == set(API_PATHS)


def test_export_routes_are_the_page_folders(export_dir: Path) -> None:
    assert export_routes(export_dir) == EXPORT_ROUTES


def test_router_code_refuses_a_source_without_the_routes_line_or_over_the_size_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="10240 bytes"):
        router_code([f"/page-{i:05d}/" for i in range(1000)])
    edited = tmp_path / "frontend_router.js"
    edited.write_text(router_code(None).replace(ROUTES_LINE, "var ROUTES = [];"))
    monkeypatch.setattr("stacks.frontend.ROUTER_SOURCE", edited)
    with pytest.raises(ValueError, match="exactly once"):
        router_code(EXPORT_ROUTES)


# --- the functions under node ------------------------------------------------------------------

# Evaluates the function's code in a fresh context (no require, module or process: CloudFront's
# runtime has none either), then calls its handler on each event read from stdin.
RUNNER = """
const fs = require("fs");
const vm = require("vm");
const code = fs.readFileSync(process.argv[2], "utf8");
const handler = vm.runInNewContext(code + "\\n;handler", {}, { filename: process.argv[2] });
const events = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(events.map((event) => handler(event))));
"""


def run_function(code: str, events: list[dict[str, Any]], tmp_path: Path) -> list[dict[str, Any]]:
    node = shutil.which("node")
    assert node, "node runs the CDK, and these tests"
    runner = tmp_path / "runner.cjs"
    runner.write_text(RUNNER)
    source = tmp_path / "function.js"
    source.write_text(code)
    done = subprocess.run(
        [node, str(runner), str(source)],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def request_event(uri: str, query: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "version": "1.0",
        "context": {"eventType": "viewer-request", "distributionId": "EDFDVBD6EXAMPLE"},
        "viewer": {"ip": "198.51.100.11"},
        "request": {
            "method": "GET",
            "uri": uri,
            "querystring": query or {},
            "headers": {"host": {"value": "d111111abcdef8.cloudfront.net"}},
            "cookies": {},
        },
    }


def response_event(uri: str, status: int, headers: dict[str, str]) -> dict[str, Any]:
    event = request_event(uri)
    event["context"]["eventType"] = "viewer-response"
    event["response"] = {
        "statusCode": status,
        "statusDescription": "OK",
        "headers": {k: {"value": v} for k, v in headers.items()},
        "cookies": {},
    }
    return event


ID_QUERY = {"id": {"value": RUN_ID}}
MULTI_QUERY = {
    "id": {"value": RUN_ID},
    "tab": {"value": "b", "multiValue": [{"value": "a"}, {"value": "b"}]},
}

# (uri, query string, expected): a str is the uri the request goes on with (query string kept),
# a tuple (301, location) the redirect the function answers with.
Expected = str | tuple[int, str]
ROUTER_CASES: list[tuple[str, dict[str, Any], Expected]] = [
    ("/", {}, "/index.html"),
    ("/runs/", {}, "/runs/index.html"),
    ("/runs/detail/", ID_QUERY, "/runs/detail/index.html"),
    ("/runs/detail/", MULTI_QUERY, "/runs/detail/index.html"),
    ("/runs", {}, (301, "/runs/")),
    ("/runs/detail", ID_QUERY, (301, f"/runs/detail/?id={RUN_ID}")),
    ("/runs/detail", MULTI_QUERY, (301, f"/runs/detail/?id={RUN_ID}&tab=a&tab=b")),
    ("/_next/static/chunks/app.js", {}, "/_next/static/chunks/app.js"),
    ("/config.json", {}, "/config.json"),
    ("/runs/index.txt", {"_rsc": {"value": "x1"}}, "/runs/index.txt"),
    ("/404.html", {}, "/404.html"),
    ("/no/such/page/", {}, "/404.html"),
    ("/no-such-page", ID_QUERY, "/404.html"),
    ("/runs/detail/extra/", {}, "/404.html"),
    ("/404/", {}, "/404.html"),
    ("/_next/static/media/", {}, "/404.html"),
]
# With no export at synthesis, every folder is taken for a page.
PERMISSIVE_CASES: list[tuple[str, dict[str, Any], Expected]] = [
    ("/", {}, "/index.html"),
    ("/runs/detail/", ID_QUERY, "/runs/detail/index.html"),
    ("/anything/", {}, "/anything/index.html"),
    ("/anything", ID_QUERY, (301, f"/anything/?id={RUN_ID}")),
    ("/_next/static/chunks/app.js", {}, "/_next/static/chunks/app.js"),
]


def router_mismatches(
    results: list[dict[str, Any]], cases: list[tuple[str, dict[str, Any], Expected]]
) -> list[str]:
    """Each case whose result is not what it expects, in words (empty: all as expected)."""
    wrong = []
    for (uri, query, expected), result in zip(cases, results, strict=True):
        if isinstance(expected, str):
            ok = (
                "statusCode" not in result
                and result.get("uri") == expected
                and result.get("querystring") == query
                and result.get("method") == "GET"
                and result.get("headers", {}).get("host") is not None
            )
        else:
            status, location = expected
            ok = (
                result.get("statusCode") == status
                and result.get("headers", {}).get("location", {}).get("value") == location
            )
        if not ok:
            wrong.append(f"{uri} {query}: expected {expected}, got {result}")
    return wrong


def run_router(
    code: str, cases: list[tuple[str, dict[str, Any], Expected]], tmp_path: Path
) -> list[str]:
    results = run_function(code, [request_event(u, q) for u, q, _ in cases], tmp_path)
    return router_mismatches(results, cases)


def test_router_maps_folders_to_index_html_and_unknown_pages_to_404(tmp_path: Path) -> None:
    assert run_router(router_code(EXPORT_ROUTES), ROUTER_CASES, tmp_path) == []


def test_router_without_an_export_takes_every_folder_for_a_page(tmp_path: Path) -> None:
    assert run_router(router_code(None), PERMISSIVE_CASES, tmp_path) == []


def test_the_router_check_fails_on_a_router_that_does_nothing(tmp_path: Path) -> None:
    # The checks above cannot pass vacuously: a function that passes every request through
    # unchanged, or one that serves the SPA shell for everything, is caught.
    passthrough = "function handler(event) { return event.request; }"
    wrong = run_router(passthrough, ROUTER_CASES, tmp_path)
    assert len(wrong) >= 10
    spa = "function handler(event) { event.request.uri = '/index.html'; return event.request; }"
    assert run_router(spa, ROUTER_CASES, tmp_path)


def test_status_function_gives_the_not_found_page_its_404(tmp_path: Path) -> None:
    marker = "x-amz-meta-flightdeck-status"
    events = [
        response_event("/404.html", 200, {marker: "404", "content-type": "text/html"}),
        response_event("/runs/index.html", 200, {"content-type": "text/html"}),
        response_event("/config.json", 200, {"x-amz-meta-other": "1"}),
    ]
    not_found, page, config = run_function(status_code(), events, tmp_path)
    assert not_found["statusCode"] == 404
    assert not_found["statusDescription"] == "Not Found"
    assert marker not in not_found["headers"]
    assert not_found["headers"]["content-type"] == {"value": "text/html"}
    assert page["statusCode"] == 200
    assert page["headers"] == {"content-type": {"value": "text/html"}}
    assert config["statusCode"] == 200
    assert config["headers"] == {"x-amz-meta-other": {"value": "1"}}


# --- the path of a request: router -> cache/S3 -> status function ---------------------------------


NO_SUCH_KEY = "<Error><Code>NoSuchKey</Code></Error>"


@dataclass
class Answer:
    status: int
    body: str = ""
    location: str = ""


def serve(
    router: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    status: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    requests: Iterable[tuple[str, dict[str, Any]]],
) -> list[Answer]:
    """What a viewer gets from the default behaviour, with the bucket holding the export as the
    stack deploys it (404.html with its metadata). S3 answers a missing key with 404 (the origin
    access control may list the bucket), and CloudFront runs no viewer-response function on an
    origin status of 400 or more."""
    bucket: dict[str, tuple[str, dict[str, str]]] = {
        name: (text, {}) for name, text in EXPORT.items()
    }
    bucket["404.html"] = (EXPORT["404.html"], {"x-amz-meta-flightdeck-status": "404"})
    routed = router([request_event(uri, query) for uri, query in requests])
    answers: list[Answer] = []
    from_bucket: list[tuple[int, dict[str, Any]]] = []  # (index in answers, response event)
    for result in routed:
        if "statusCode" in result:
            location = result["headers"]["location"]["value"]
            answers.append(Answer(result["statusCode"], location=location))
            continue
        key = result["uri"].lstrip("/")
        if key not in bucket:
            answers.append(Answer(404, NO_SUCH_KEY))
            continue
        body, headers = bucket[key]
        answers.append(Answer(200, body))
        from_bucket.append((len(answers) - 1, response_event(result["uri"], 200, headers)))
    finished = status([event for _, event in from_bucket])
    for (index, _), response in zip(from_bucket, finished, strict=True):
        answers[index].status = response["statusCode"]
    return answers


def test_a_viewer_gets_pages_redirects_and_the_exports_404_page(tmp_path: Path) -> None:
    (tmp_path / "router").mkdir()
    (tmp_path / "status").mkdir()

    def router(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return run_function(router_code(export_routes(export)), events, tmp_path / "router")

    def status(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return run_function(status_code(), events, tmp_path / "status")

    export = write_export(tmp_path / "out")
    answers = serve(
        router,
        status,
        [
            ("/", {}),
            ("/runs/", {}),
            ("/runs/detail/", ID_QUERY),
            ("/runs", {}),
            ("/_next/static/chunks/app.js", {}),
            ("/no/such/page/", {}),
            ("/no-such-page", {}),
            ("/_next/static/chunks/gone.js", {}),
        ],
    )
    assert answers == [
        Answer(200, EXPORT["index.html"]),
        Answer(200, EXPORT["runs/index.html"]),
        Answer(200, EXPORT["runs/detail/index.html"]),
        Answer(301, location="/runs/"),
        Answer(200, EXPORT["_next/static/chunks/app.js"]),
        Answer(404, EXPORT["404.html"]),
        Answer(404, EXPORT["404.html"]),
        Answer(404, NO_SUCH_KEY),
    ]
