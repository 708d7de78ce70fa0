"""The workflows this deployment knows. A workflow is one package exporting `WORKFLOW`;
packages are found under the configured roots (by default `flightdeck.workflows`)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Iterator
from functools import lru_cache

from flightdeck.engine.workflow import Workflow
from flightdeck.errors import NotFoundError, WorkflowDefinitionError

DEFAULT_ROOTS = ("flightdeck.workflows",)


class Registry:
    def __init__(self, workflows: Iterable[Workflow]) -> None:
        self._by_name: dict[str, Workflow] = {}
        for workflow in workflows:
            if workflow.name in self._by_name:
                raise WorkflowDefinitionError(f"workflow {workflow.name!r} registered twice")
            self._by_name[workflow.name] = workflow

    @classmethod
    def discover(cls, roots: Iterable[str] = DEFAULT_ROOTS) -> Registry:
        found: list[Workflow] = []
        for root in roots:
            package = importlib.import_module(root)
            for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
                if not info.ispkg:
                    continue
                module = importlib.import_module(f"{root}.{info.name}")
                workflow = getattr(module, "WORKFLOW", None)
                if not isinstance(workflow, Workflow):
                    raise WorkflowDefinitionError(
                        f"{root}.{info.name} must export WORKFLOW = Workflow(...)"
                    )
                found.append(workflow)
        return cls(found)

    def get(self, name: str) -> Workflow:
        try:
            return self._by_name[name]
        except KeyError:
            raise NotFoundError(f"no workflow named {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Workflow]:
        return iter(self._by_name.values())

    def names(self) -> list[str]:
        return sorted(self._by_name)


@lru_cache(maxsize=8)
def discover(roots: tuple[str, ...] = DEFAULT_ROOTS) -> Registry:
    return Registry.discover(roots)
