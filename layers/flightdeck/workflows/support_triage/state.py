from __future__ import annotations

from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from flightdeck.privacy import PERSONAL

Category = Literal["billing", "technical", "account", "shipping", "general"]


class TicketInput(BaseModel):
    """The trigger body: one support ticket. The customer's address and the text they wrote
    are personal: masked in logs and callbacks, encrypted in the stored trigger."""

    model_config = ConfigDict(extra="forbid")

    ticket_id: str = Field(min_length=1, max_length=200)
    customer_email: str = Field(
        min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$", json_schema_extra=PERSONAL
    )
    subject: str = Field(min_length=1, max_length=500)
    body: str = Field(min_length=1, max_length=20_000, json_schema_extra=PERSONAL)
    channel: Literal["email", "chat", "web"] = "email"


class Classification(BaseModel):
    category: Category
    urgency: Literal["low", "normal", "high"]
    refund_requested: bool
    search_query: str


class Draft(BaseModel):
    reply: str
    confidence: float = Field(ge=0.0, le=1.0)


class Score(BaseModel):
    quality: float = Field(ge=0.0, le=1.0)
    notes: str


class TriageState(TypedDict, total=False):
    ticket: dict[str, Any]
    plan: dict[str, Any]
    context: list[dict[str, Any]]
    draft: dict[str, Any]
    review: dict[str, Any]
    action: dict[str, Any]
    reflection: dict[str, Any]
