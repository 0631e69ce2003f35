"""The public submission API's models (closed: the OpenAPI schema is the exact contract).

``POST /api/v1/forms/{public_id}/submissions`` is what the embedded form and the hosted page send; a site's own
backend may post the same JSON (it then sends no Origin, which a form with an allow-list refuses)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from edudesk.apischema import CLOSED_MAP, ApiModel, ApiText, FieldKey

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
# Ad click ids: Google, Baidu (bd_vid), Tencent ads (qz_gdt, gdt_vid), Ocean Engine / Douyin (clickid, callback),
# Meta (fbclid).
CLICK_ID_KEYS = ("gclid", "bd_vid", "qz_gdt", "gdt_vid", "clickid", "callback", "fbclid")
ATTRIBUTION_KEYS = (*UTM_KEYS, *CLICK_ID_KEYS)

Param = Annotated[ApiText, Field(max_length=1000)]
FieldText = Annotated[ApiText, Field(max_length=500)]
FieldValue = FieldText | int | Annotated[list[FieldText], Field(max_length=50)]


class Attribution(ApiModel):
    """Where the parent came from: the page URL's UTM parameters and ad click ids, as the page received them."""

    utm_source: Param | None = None
    utm_medium: Param | None = None
    utm_campaign: Param | None = None
    utm_content: Param | None = None
    utm_term: Param | None = None
    gclid: Param | None = None
    bd_vid: Param | None = None
    qz_gdt: Param | None = None
    gdt_vid: Param | None = None
    clickid: Param | None = None
    callback: Param | None = None
    fbclid: Param | None = None


class SubmissionIn(ApiModel):
    idempotency_key: Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description=(
        "made by the form each time it is drawn; the same key again answers as the first time and stores nothing"))]
    fields: dict[FieldKey, FieldValue] = Field(max_length=60, description=(
        "values by lead-card field key; keys the form does not show are ignored"), json_schema_extra=CLOSED_MAP)
    website: Annotated[ApiText, Field(max_length=500, description=(
        "the honeypot: a field people never see and leave empty"))] = ""
    page_url: Param = ""
    referrer: Param = ""
    attribution: Attribution = Field(default_factory=Attribution)


class SubmissionOut(ApiModel):
    status: str = Field(description="accepted")
    message: str = Field(description="the form's success message, to show the parent")
