"""AWS emulated in-process: moto in server mode, Step Functions running the compiled ASL for
real, and Lambda invocations dispatched to the very handler functions CDK deploys.

A function's `Handler` (e.g. `functions.node_runner.handler.handler`) is imported and called in
this process, with the event Step Functions built; an exception becomes a Lambda function error
with its class name as `errorType`, exactly what the state machines' Retry and Catch match on.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import io
import json
import logging
import os
import threading
import traceback
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flightdeck.engine import compiler
from flightdeck.engine.registry import Registry

DEFAULT_REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


@dataclass(frozen=True)
class FunctionSpec:
    placeholder: str
    name: str
    handler: str


FUNCTIONS = (
    FunctionSpec(compiler.NODE_RUNNER, "node-runner", "functions.node_runner.handler.handler"),
    FunctionSpec(
        compiler.APPROVAL_REQUEST, "approval-request", "functions.approval_request.handler.handler"
    ),
    FunctionSpec(
        compiler.APPROVAL_TIMEOUT, "approval-timeout", "functions.approval_timeout.handler.handler"
    ),
    FunctionSpec(compiler.RUN_FAILED, "run-failed", "functions.run_failed.handler.handler"),
)
# Not in any state machine: run by EventBridge for objects created under the knowledge prefix
# of the artifact bucket, as on AWS.
INGEST = FunctionSpec("${Ingest}", "ingest", "functions.ingest.handler.handler")


def knowledge_event_pattern(bucket: str) -> dict[str, Any]:
    """The EventBridge pattern of the ingest rule (the CDK stack deploys the same one)."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        # Knowledge documents only: run payloads also live under tenants/<id>/.
        "detail": {
            "bucket": {"name": [bucket]},
            "object": {"key": [{"wildcard": "tenants/*/knowledge/*"}]},
        },
    }


_handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}
_handlers_lock = threading.Lock()


def resolve_handler(handler: str) -> Callable[[dict[str, Any], Any], Any]:
    with _handlers_lock:
        fn = _handlers.get(handler)
        if fn is None:
            module, _, attr = handler.rpartition(".")
            fn = getattr(importlib.import_module(module), attr)
            _handlers[handler] = fn
        return fn


class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    def __init__(self, function_name: str, function_arn: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def invoke_in_process(
    handler: str, function_name: str, function_arn: str, body: Any
) -> tuple[bytes, bool]:
    """Run a handler as Lambda would; returns the payload and whether it is a function error."""
    event = json.loads(body) if isinstance(body, (str, bytes)) and body else (body or {})
    try:
        result = resolve_handler(handler)(event, LambdaContext(function_name, function_arn))
    except Exception as exc:
        error = {
            "errorType": type(exc).__name__,
            "errorMessage": str(exc),
            "stackTrace": traceback.format_tb(exc.__traceback__)[-5:],
        }
        return json.dumps(error).encode(), True
    return json.dumps(result).encode(), False


def quiet_logs() -> None:
    """Request lines and moto's Step Functions interpreter logging go quiet: the interpreter
    logs every Fail state and every `IsPresent` test on an absent path as an error, while the
    platform records what matters (failures with their reasons) in the run's events."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)


def install_lambda_dispatch() -> None:
    """Route every moto Lambda invocation to the in-process handler named by the function."""
    from moto.awslambda import models

    def invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        payload, errored = invoke_in_process(
            self.handler, self.function_name, self.function_arn, body
        )
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    models.LambdaFunction.invoke = invoke  # type: ignore[method-assign]
    _deliver_events_to_lambda()
    _answer_cors_preflights()


def _answer_cors_preflights() -> None:
    """A browser asks S3 (OPTIONS) before PUTting to a presigned URL; S3 answers from the
    bucket's CORS rules. moto checks the presigned signature on that preflight too, which a
    preflight cannot pass: answer it from the CORS rules first."""
    from moto.s3 import responses

    key_response = responses.S3Response._key_response

    def _key_response(self: Any, request: Any, full_url: str) -> Any:
        if request.method == "OPTIONS":
            return self._response_options(
                request.headers, self.parse_bucket_name_from_url(request, full_url)
            )
        return key_response(self, request, full_url)

    responses.S3Response._key_response = _key_response  # type: ignore[method-assign]


def _deliver_events_to_lambda() -> None:
    """moto's EventBridge rules deliver to queues and logs, not functions: add functions,
    asynchronously as EventBridge does (the caller that emitted the event does not wait)."""
    from moto.awslambda.utils import get_backend
    from moto.events import models as events
    from moto.utilities.arns import parse_arn

    deliver = events.Rule.send_to_targets

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        if not self.event_pattern.matches_event(original_event):
            return
        functions = [t for t in self.targets if parse_arn(t["Arn"]).service == "lambda"]
        others = [t for t in self.targets if t not in functions]
        if others:
            # moto refuses the whole rule when a target is a function: hand it the rest.
            every, self.targets = self.targets, others
            try:
                deliver(self, original_event, transform_input)
            finally:
                self.targets = every
        for target in functions:
            arn = parse_arn(target["Arn"])
            function = get_backend(arn.account, arn.region).get_function(target["Arn"])
            body = json.dumps(original_event, default=str)
            threading.Thread(
                target=function.invoke, args=(body, {}, {}), name="eventbridge", daemon=True
            ).start()

    events.Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


class Emulator:
    """moto in server mode on `host:port`, in a thread of this process."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 4566, region: str = DEFAULT_REGION
    ) -> None:
        self.host = host
        self.port = port
        self.region = region
        self._server: Any = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Emulator:
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        # Step Functions calls Lambda back through this port.
        os.environ["MOTO_PORT"] = str(self.port)
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
        install_lambda_dispatch()
        quiet_logs()
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        )

    def kms_key(self, alias: str, *, saved: Path | None = None) -> str:
        """The ARN of a symmetric KMS key named `alias`, created on first call.

        moto keeps keys in memory: with `saved`, the key's id and material are written there
        (mode 600) and restored by the next start, so what an earlier `make dev` encrypted
        still decrypts. moto has no API for either, so they are set in its backend (this
        process's, since the server runs in a thread here)."""
        kms = self.client("kms")
        name = f"alias/{alias}"
        with contextlib.suppress(kms.exceptions.NotFoundException):
            return str(kms.describe_key(KeyId=name)["KeyMetadata"]["Arn"])
        key = kms.create_key(Description=f"local {alias}")["KeyMetadata"]
        if saved is not None:
            from moto.kms.models import kms_backends

            backend = kms_backends[ACCOUNT_ID][self.region]
            created = backend.keys.pop(key["KeyId"])
            if saved.exists():
                kept = json.loads(saved.read_text())
                created.id = kept["key_id"]
                created.key_material = base64.b64decode(kept["material"])
                created.arn = created.arn.rsplit("/", 1)[0] + "/" + created.id
            else:
                saved.write_text(
                    json.dumps(
                        {
                            "key_id": created.id,
                            "material": base64.b64encode(created.key_material).decode(),
                        }
                    )
                )
                saved.chmod(0o600)
            backend.keys[created.id] = created
            key = {"KeyId": created.id, "Arn": created.arn}
        kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
        return str(key["Arn"])

    def state_machine_arn_prefix(self, prefix: str) -> str:
        return f"arn:aws:states:{self.region}:{ACCOUNT_ID}:stateMachine:{prefix}"

    def deploy(
        self,
        registry: Registry,
        *,
        prefix: str = "flightdeck-",
        bucket: str = "flightdeck-artifacts",
        environment: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """Create the bucket, the functions and one state machine per workflow from the
        compiler's output. Returns the state machine ARNs by workflow name."""
        s3 = self.client("s3")
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=bucket)
        iam = self.client("iam")
        role_name = f"{prefix}local"
        try:
            role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        except iam.exceptions.EntityAlreadyExistsException:
            role = iam.get_role(RoleName=role_name)["Role"]["Arn"]
        lam = self.client("lambda")
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("README.txt", "dispatched in-process by flightdeck.local.emulator")
        arns: dict[str, str] = {}
        for spec in (*FUNCTIONS, INGEST):
            name = f"{prefix}{spec.name}"
            try:
                arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
            except lam.exceptions.ResourceNotFoundException:
                arn = lam.create_function(
                    FunctionName=name,
                    Runtime="python3.12",
                    Role=role,
                    Handler=spec.handler,
                    Code={"ZipFile": code.getvalue()},
                    Environment={"Variables": dict(environment or {})},
                    Timeout=300,
                )["FunctionArn"]
            arns[spec.placeholder] = arn
        # The dashboard PUTs large documents straight to presigned URLs (the frontend stack
        # gives the bucket the same rule for the dashboard's origin on AWS).
        s3.put_bucket_cors(
            Bucket=bucket,
            CORSConfiguration={
                "CORSRules": [
                    {
                        "AllowedOrigins": ["*"],
                        "AllowedMethods": ["PUT"],
                        "AllowedHeaders": ["content-type"],
                        "MaxAgeSeconds": 3600,
                    }
                ]
            },
        )
        # Objects created under the knowledge prefix reach the ingest function through
        # EventBridge, as the data stack wires it on AWS.
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        events = self.client("events")
        rule = f"{prefix}knowledge-ingest"
        events.put_rule(Name=rule, EventPattern=json.dumps(knowledge_event_pattern(bucket)))
        events.put_targets(Rule=rule, Targets=[{"Id": "ingest", "Arn": arns[INGEST.placeholder]}])
        sfn = self.client("stepfunctions")
        machines: dict[str, str] = {}
        for workflow in registry:
            definition = compiler.substitute(compiler.compile_workflow(workflow), arns)
            name = f"{prefix}{workflow.name}"
            arn = self.state_machine_arn_prefix(prefix) + workflow.name
            try:
                sfn.describe_state_machine(stateMachineArn=arn)
                sfn.update_state_machine(stateMachineArn=arn, definition=definition)
            except sfn.exceptions.StateMachineDoesNotExist:
                arn = sfn.create_state_machine(
                    name=name, definition=definition, roleArn=role, type="STANDARD"
                )["stateMachineArn"]
            machines[workflow.name] = arn
        return machines
