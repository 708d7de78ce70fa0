"""Workflows: the node runner and approval/failure handlers, one Standard state machine per
registered workflow deployed from the compiler's output, schedules where a manifest has one, the
publisher of the oldest-pending-approval metric, and the dispatcher of outbound callbacks.

The definition is `compile_workflow(workflow)` verbatim; only the `${...}` Lambda ARN
placeholders are filled, by CloudFormation definition substitutions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
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
    aws_lambda as lambda_,
)
from aws_cdk import (
    aws_logs as logs,
)
from aws_cdk import (
    aws_scheduler as scheduler,
)
from aws_cdk import (
    aws_stepfunctions as sfn,
)
from constructs import Construct

from flightdeck.engine import compiler
from flightdeck.engine.workflow import Workflow
from functions.approval_metrics import metric as approval_metric
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


@dataclass(frozen=True)
class TaskFunction:
    """A function the compiled state machines invoke, by its ASL placeholder."""

    placeholder: str
    construct_id: str
    handler: str
    description: str
    timeout: Duration
    memory_mb: int
    # Whether it writes large outputs to the artifact bucket (otherwise it only reads).
    writes_artifacts: bool
    # Whether it runs nodes, which chat and retrieve (embed a query) through the providers.
    calls_models: bool = False
    # Lambda SnapStart: the state machines invoke its `live` alias (see `stacks.runtime`).
    snap_start: bool = False


TASK_FUNCTIONS = (
    TaskFunction(
        compiler.NODE_RUNNER,
        "NodeRunner",
        "functions.node_runner.handler.handler",
        "Runs one node of one run against the Postgres checkpointer",
        Duration.minutes(5),
        1024,
        writes_artifacts=True,
        calls_models=True,
        snap_start=True,
    ),
    TaskFunction(
        compiler.APPROVAL_REQUEST,
        "ApprovalRequest",
        "functions.approval_request.handler.handler",
        "Stores the task token of a pending approval",
        Duration.seconds(30),
        512,
        writes_artifacts=False,
    ),
    TaskFunction(
        compiler.APPROVAL_TIMEOUT,
        "ApprovalTimeout",
        "functions.approval_timeout.handler.handler",
        "Applies an approval policy's default action when nobody decided in time",
        Duration.seconds(30),
        512,
        writes_artifacts=False,
    ),
    TaskFunction(
        compiler.RUN_FAILED,
        "RunFailed",
        "functions.run_failed.handler.handler",
        "Records a failed run's reason",
        Duration.seconds(30),
        512,
        writes_artifacts=False,
    ),
)


SCHEDULED_RUN_HANDLER = "functions.scheduled_run.handler.handler"
APPROVAL_METRICS_HANDLER = "functions.approval_metrics.handler.handler"
# How often the oldest pending approval's age is published (the alarm's period).
APPROVAL_METRICS_RATE = Duration.minutes(5)
# What a schedule passes to the scheduled-run function; the scheduler fills in the time.
SCHEDULED_AT = "<aws.scheduler.scheduled-time>"
CALLBACK_DISPATCHER_HANDLER = "functions.callback_dispatcher.handler.handler"
# How often due outbound callbacks are sent (the retry policy's delays are 30 s and up).
CALLBACK_DISPATCH_RATE = Duration.minutes(1)
CALLBACK_DISPATCHER_TIMEOUT = Duration.minutes(5)
SWEEPER_HANDLER = "functions.sweeper.handler.handler"
# How often runs left queued without an execution are looked for, and the outcome rollups that
# writes marked are refreshed (`flightdeck.engine.sweeper`).
SWEEP_RATE = Duration.minutes(1)


def definition_string(workflow: Workflow) -> str:
    """What the state machine's DefinitionString holds: the compiler's output as JSON."""
    return json.dumps(compiler.compile_workflow(workflow))


class WorkflowStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        assets: AssetPaths,
        data: DataStack,
        workflows: Iterable[Workflow],
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

        self.functions: dict[str, lambda_.Function] = {}
        # What the state machines' Tasks invoke, by placeholder: the function, or its `live`
        # alias where SnapStart is on.
        self.task_targets: dict[str, lambda_.IFunction] = {}
        for spec in TASK_FUNCTIONS:
            function = factory.function(
                self,
                spec.construct_id,
                handler=spec.handler,
                description=spec.description,
                environment=environment,
                network=data.network,
                timeout=spec.timeout,
                memory_mb=spec.memory_mb,
                snap_start=spec.snap_start,
            )
            data.secret.grant_read(function)
            if spec.writes_artifacts:
                data.artifacts.grant_read_write(function)
            else:
                data.artifacts.grant_read(function)
            if spec.placeholder == compiler.NODE_RUNNER:
                # A run's entry node opens its sealed trigger; `act` nodes seal their effects.
                data.trigger_key.grant_encrypt_decrypt(function)
            if spec.calls_models:
                grant_bedrock(
                    function, (*config.bedrock_chat_models, *config.bedrock_embedding_models)
                )
            self.functions[spec.placeholder] = function
            self.task_targets[spec.placeholder] = (
                live_alias(function) if spec.snap_start else function
            )

        self.state_machines: dict[str, sfn.StateMachine] = {}
        registered = list(workflows)
        for workflow in registered:
            self.state_machines[workflow.name] = self._state_machine(config, workflow)

        # Functions that are not steps of a state machine, by construct id (for alarms).
        self.support_functions: dict[str, lambda_.Function] = {}
        self.schedules: dict[str, scheduler.CfnSchedule] = {}
        scheduled = {w.name: w.manifest.schedule for w in registered if w.manifest.schedule}
        if scheduled:
            self._schedules(config, factory, environment, data, scheduled)
        self._approval_metrics(config, factory, environment, data)
        self._callback_dispatcher(config, factory, environment, data)
        self._sweeper(config, factory, environment, data)
        nag.waive_stack(self, nag.BASIC_EXECUTION_ROLE)

    def _state_machine(self, config: StageConfig, workflow: Workflow) -> sfn.StateMachine:
        name = f"{config.state_machine_prefix}{workflow.name}"
        log_group = logs.LogGroup(
            self,
            f"{workflow.name}Logs",
            log_group_name=f"/aws/vendedlogs/states/{name}",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
        machine = sfn.StateMachine(
            self,
            f"Workflow-{workflow.name}",
            state_machine_name=name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(definition_string(workflow)),
            definition_substitutions={
                placeholder: target.function_arn
                for placeholder, target in self.task_targets.items()
            },
            # Payloads carry ids and pointers only, so execution data is safe to log.
            logs=sfn.LogOptions(
                destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
            tracing_enabled=True,
            removal_policy=config.removal_policy,
        )
        for function in self.functions.values():
            function.grant_invoke(machine)
        nag.waive(
            machine,
            nag.Waiver(
                "AwsSolutions-IAM5",
                "Invoking a function by ARN and any of its versions (<arn>:*) is what "
                "grant_invoke emits; X-Ray and log delivery actions have no resource scoping.",
            ),
        )
        CfnOutput(self, f"{workflow.name}StateMachineArn", value=machine.state_machine_arn)
        return machine

    def _schedules(
        self,
        config: StageConfig,
        factory: FunctionFactory,
        environment: dict[str, str],
        data: DataStack,
        scheduled: dict[str, str],
    ) -> None:
        """One schedule per scheduled workflow, each invoking the scheduled-run function, which
        starts the workflow for every tenant once per firing."""
        function = factory.function(
            self,
            "ScheduledRun",
            handler=SCHEDULED_RUN_HANDLER,
            description="Starts a scheduled workflow for every tenant, once per firing",
            environment=environment,
            network=data.network,
            timeout=Duration.minutes(2),
        )
        data.secret.grant_read(function)
        # Starting a run seals its trigger.
        data.trigger_key.grant_encrypt(function)
        for name in scheduled:
            self.state_machines[name].grant_start_execution(function)
        self.support_functions["ScheduledRun"] = function
        role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            ),
            description="Invokes the scheduled-run function from EventBridge Scheduler",
        )
        # The function itself, not its versions or aliases: only what the schedules target.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[function.function_arn]
            )
        )
        for name, expression in scheduled.items():
            self.schedules[name] = scheduler.CfnSchedule(
                self,
                f"{name}Schedule",
                name=f"{config.state_machine_prefix}{name}"[:64],
                description=f"Scheduled runs of {name}",
                schedule_expression=expression,
                flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
                target=scheduler.CfnSchedule.TargetProperty(
                    arn=function.function_arn,
                    role_arn=role.role_arn,
                    input=json.dumps({"workflow": name, "scheduled_at": SCHEDULED_AT}),
                    retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                        maximum_retry_attempts=3, maximum_event_age_in_seconds=3600
                    ),
                ),
            )

    def _approval_metrics(
        self,
        config: StageConfig,
        factory: FunctionFactory,
        environment: dict[str, str],
        data: DataStack,
    ) -> None:
        """Publishes the age of the oldest pending approval, which the observability stack
        alarms on, every APPROVAL_METRICS_RATE."""
        function = factory.function(
            self,
            "ApprovalMetrics",
            handler=APPROVAL_METRICS_HANDLER,
            description="Publishes the age of the oldest pending approval to CloudWatch",
            environment=environment,
            network=data.network,
            timeout=Duration.seconds(30),
            memory_mb=256,
        )
        data.secret.grant_read(function)
        # PutMetricData has no resource to scope to; the namespace condition is the scope.
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": approval_metric.NAMESPACE}},
            )
        )
        self._every(
            APPROVAL_METRICS_RATE,
            "ApprovalMetrics",
            function,
            f"{config.name}: publish the oldest pending approval's age",
        )

    def _callback_dispatcher(
        self,
        config: StageConfig,
        factory: FunctionFactory,
        environment: dict[str, str],
        data: DataStack,
    ) -> None:
        """Sends the outbound callbacks that are due (to n8n, on the internet, through the NAT
        gateway) every CALLBACK_DISPATCH_RATE.

        One at a time (reserved concurrency 1): a firing that finds the previous one still
        sending is throttled and dropped after a minute (the next firing takes over), rather
        than queued for hours; a failed firing is not retried for the same reason. Deliveries
        are leased in the database, so even overlapping senders would not double-send.
        """
        function = factory.function(
            self,
            "CallbackDispatcher",
            handler=CALLBACK_DISPATCHER_HANDLER,
            description="Sends due outbound callbacks (n8n) and schedules retries of failures",
            environment=environment,
            network=data.callbacks_network,
            timeout=CALLBACK_DISPATCHER_TIMEOUT,
            reserved_concurrency=1,
        )
        data.secret.grant_read(function)
        # Signs with the callback secrets, and makes a tenant's default one on first need.
        grant_tenant_secrets(function, config)
        self._every(
            CALLBACK_DISPATCH_RATE,
            "CallbackDispatcher",
            function,
            f"{config.name}: send due outbound callbacks",
            rule_id="CallbackDispatchSchedule",
            single=True,
        )

    def _sweeper(
        self,
        config: StageConfig,
        factory: FunctionFactory,
        environment: dict[str, str],
        data: DataStack,
    ) -> None:
        """Starts the executions of runs left queued without one (Step Functions was
        unavailable when they were created) every SWEEP_RATE, and refreshes the outcome
        rollups that writes marked and no read took.

        One at a time (reserved concurrency 1), and a firing that fails or is throttled is
        dropped, not retried: the next one, a minute later, sweeps again. Starting an execution
        is idempotent (it is named after its run), so even overlapping sweeps start none twice.
        """
        function = factory.function(
            self,
            "RunSweeper",
            handler=SWEEPER_HANDLER,
            description="Starts runs left queued without an execution; refreshes outcome rollups",
            environment=environment,
            network=data.network,
            timeout=Duration.minutes(1),
            memory_mb=512,
            reserved_concurrency=1,
        )
        data.secret.grant_read(function)
        # A resumed run's next node is read from its (encrypted) checkpoint.
        data.trigger_key.grant_decrypt(function)
        for machine in self.state_machines.values():
            machine.grant_start_execution(function)
        self._every(
            SWEEP_RATE,
            "RunSweeper",
            function,
            f"{config.name}: start runs left queued without an execution, refresh rollups",
            rule_id="RunSweepSchedule",
            single=True,
        )

    def _every(
        self,
        rate: Duration,
        name: str,
        function: lambda_.Function,
        description: str,
        *,
        rule_id: str | None = None,
        single: bool = False,
    ) -> None:
        """Invoke `function` (a support function, kept as `name`) every `rate` by an
        EventBridge rule. `single`: a firing that fails, or is throttled by the function's
        reserved concurrency, is dropped after a minute rather than retried or queued; the
        next firing takes over."""
        if single:
            function.configure_async_invoke(max_event_age=Duration.minutes(1), retry_attempts=0)
        self.support_functions[name] = function
        events.Rule(
            self,
            rule_id or f"{name}Schedule",
            description=description,
            schedule=events.Schedule.rate(rate),
            targets=[targets.LambdaFunction(function, retry_attempts=0)],
        )
