"""The leads REST API's request and response models (closed: the OpenAPI schema is the exact contract)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from edudesk.apischema import CLOSED_MAP, ApiModel, ApiText, FieldKey
from edudesk.leads.models import LeadStatus, ValueSource

FieldText = Annotated[ApiText, Field(min_length=1, max_length=500)]
FieldValue = FieldText | int | Annotated[list[FieldText], Field(min_length=1, max_length=20)]


class LeadIn(ApiModel):
    """A lead pushed in from elsewhere (a landing-page form, a mini-program): the card's fields by key."""

    external_id: Annotated[ApiText, Field(min_length=1, max_length=128, description="the caller's id for this person")]
    fields: dict[FieldKey, FieldValue] = Field(min_length=1, max_length=50, description=(
        "the card's values by field key (built-in keys such as name, phone, grade, or the org's own); a key the "
        "org has not defined is a 400"), json_schema_extra=CLOSED_MAP)
    landing_page: Annotated[ApiText, Field(max_length=1000)] | None = None


class StatusIn(ApiModel):
    status: LeadStatus


class LeadFieldOut(ApiModel):
    value: str | int | float | bool | list[str] | None
    source: ValueSource
    evidence: str | None = Field(description="the visitor's words the value was taken from")
    message_id: int | None


class LeadOut(ApiModel):
    lead_id: int
    contact_id: int
    status: LeadStatus
    has_contact: bool
    phone_e164: str | None
    source_channel: str | None
    landing_page: str | None
    campaign: str | None = Field(default=None, description="the campaign of the first touch: a QR code's or link's "
                                 "scene, an ad's utm_campaign")
    attribution: dict[str, str] = Field(default_factory=dict, description="utm_*, click ids and scene parameters "
                                        "of the first touch")
    created_at: str = Field(description="ISO 8601, UTC")
    updated_at: str = Field(description="ISO 8601, UTC")
    changed: list[str]
    fields: dict[str, LeadFieldOut]


class LeadPage(ApiModel):
    items: list[LeadOut]
    total: int
    page: int
    per_page: int


class CaptureRowOut(ApiModel):
    key: str = Field(description="the day (YYYY-MM-DD), the channel, the script's key, or total")
    conversations: int = Field(description="valid conversations; in the row key=form, views of the org's forms")
    captured: int = Field(description="of them with a phone or WeChat ID; in the row key=form, submissions")
    rate: float = Field(ge=0, le=1)
    label: str | None = Field(default=None, description="by=flow: the script's name")


class CaptureReport(ApiModel):
    rows: list[CaptureRowOut]
    total: CaptureRowOut
