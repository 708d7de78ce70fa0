"""A manifest refuses business baselines that would make the outcome figures meaningless."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field

from flightdeck.engine.workflow import Manifest
from flightdeck.errors import WorkflowDefinitionError
from flightdeck.workflows.support_triage import WORKFLOW


class Input(BaseModel):
    value: int


def manifest(**overrides: Any) -> Manifest:
    fields: dict[str, Any] = {
        "name": "sample",
        "version": "1.0.0",
        "description": "",
        "input_model": Input,
        "kpi_baseline_minutes": 5.0,
        **overrides,
    }
    return Manifest(**fields)


@pytest.mark.parametrize("overrides", [{"setup_hours": -1.0}, {"manual_turnaround_minutes": 0.0}])
def test_negative_setup_or_empty_manual_turnaround_is_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(WorkflowDefinitionError, match="setup_hours"):
        manifest(**overrides)


def test_defaults_mean_no_setup_cost_and_no_waiting_customer() -> None:
    plain = manifest()
    assert plain.setup_hours == 0.0
    assert plain.manual_turnaround_minutes is None
    assert plain.trigger_id_field is None


def test_support_triage_declares_its_business_baselines() -> None:
    m = WORKFLOW.manifest
    assert m.trigger_id_field in m.input_model.model_fields
    assert m.manual_turnaround_minutes is not None
    assert m.manual_turnaround_minutes > m.kpi_baseline_minutes
    assert m.setup_hours > 0


class Contact(BaseModel):
    order: str
    email: str = Field(json_schema_extra={"personal": True})


def test_a_personal_field_cannot_be_the_trigger_id() -> None:
    # The id is stored in clear beside the run for the run list's search.
    with pytest.raises(WorkflowDefinitionError, match="personal"):
        manifest(input_model=Contact, trigger_id_field="email")
    assert manifest(input_model=Contact, trigger_id_field="order").trigger_id_field == "order"


def test_the_trigger_id_is_the_named_fields_value_as_text() -> None:
    assert WORKFLOW.trigger_id({"ticket_id": "T-1", "subject": "x"}) == "T-1"
    assert WORKFLOW.trigger_id({"subject": "x"}) is None
