"""All stacks of one stage, wired together, with cdk-nag's AWS Solutions checks applied."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from flightdeck.engine.workflow import Workflow
from stacks.api import ApiStack
from stacks.config import StageConfig
from stacks.data import DataStack
from stacks.frontend import FrontendStack
from stacks.ingest import IngestStack
from stacks.observability import ObservabilityStack, Watched
from stacks.runtime import AssetPaths
from stacks.workflow import WorkflowStack


@dataclass(frozen=True)
class FlightdeckStacks:
    data: DataStack
    workflow: WorkflowStack
    api: ApiStack
    frontend: FrontendStack
    observability: ObservabilityStack
    ingest: IngestStack

    def all(self) -> list[cdk.Stack]:
        return [
            self.data,
            self.workflow,
            self.api,
            self.ingest,
            self.frontend,
            self.observability,
        ]


def build_stage(
    app: cdk.App,
    config: StageConfig,
    *,
    assets: AssetPaths,
    workflows: Iterable[Workflow],
    site_dir: Path | None = None,
    env: cdk.Environment | None = None,
    nag: bool = True,
) -> FlightdeckStacks:
    registered = {w.name: w for w in workflows}
    tags = {"project": "flightdeck", "stage": config.stage}
    if config.prefix:
        tags["owner"] = config.prefix

    def stack_kwargs(part: str, description: str) -> dict[str, object]:
        return {
            "stack_name": config.stack_name(part),
            "description": f"Flightdeck {config.name}: {description}",
            "env": env,
            "tags": tags,
        }

    data = DataStack(
        app,
        config.stack_name("data"),
        config=config,
        assets=assets,
        **stack_kwargs("data", "network, database, buckets, migrations"),
    )
    workflow = WorkflowStack(
        app,
        config.stack_name("workflow"),
        config=config,
        assets=assets,
        data=data,
        workflows=registered.values(),
        **stack_kwargs("workflow", "node runner and one state machine per workflow"),
    )
    api = ApiStack(
        app,
        config.stack_name("api"),
        config=config,
        assets=assets,
        data=data,
        workflow=workflow,
        **stack_kwargs("api", "REST API"),
    )
    ingest = IngestStack(
        app,
        config.stack_name("ingest"),
        config=config,
        assets=assets,
        data=data,
        **stack_kwargs("ingest", "knowledge ingestion from S3 object-created events"),
    )
    frontend = FrontendStack(
        app,
        config.stack_name("frontend"),
        config=config,
        api_domain=api.domain_name,
        api_origin_path=api.origin_path,
        site_dir=site_dir,
        **stack_kwargs("frontend", "dashboard"),
    )
    observability = ObservabilityStack(
        app,
        config.stack_name("observability"),
        config=config,
        watched=Watched(
            workflows=registered,
            state_machines=workflow.state_machines,
            functions={
                **{fn.node.id: fn for fn in workflow.functions.values()},
                **workflow.support_functions,
                "Api": api.function,
                "Migrate": data.migrate_function,
                "Ingest": ingest.function,
            },
            dead_letter_queues={"Ingest": ingest.dead_letters},
            api=api.api,
            database=data.database,
        ),
        **stack_kwargs("observability", "dashboard and alarms"),
    )
    if nag:
        cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return FlightdeckStacks(data, workflow, api, frontend, observability, ingest)
