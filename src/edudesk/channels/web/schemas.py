"""The widget's public HTTP API as closed models: what ``/api/v1/widget/*`` accepts and answers (docs/protocol.md).

The session and upload routes answer hand-built JSON (``ensure_ascii=False``, no re-validation on the hot path);
these models are its contract in the OpenAPI document, which the schemathesis suite checks every answer against.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from edudesk.apischema import ApiModel, ApiText


class SessionRequest(ApiModel):
    org_key: Annotated[ApiText, Field(min_length=1, max_length=64)]
    token: Annotated[ApiText, Field(max_length=500)] | None = None
    page_url: Annotated[ApiText, Field(max_length=2000)] | None = None
    page_title: Annotated[ApiText, Field(max_length=500)] | None = None
    referrer: Annotated[ApiText, Field(max_length=2000)] | None = None


class AttachmentOut(ApiModel):
    id: int
    url: str
    content_type: Literal["image/png", "image/jpeg", "image/gif", "image/webp"]
    size: int
    name: str


class ButtonOut(ApiModel):
    label: str
    payload: str


class MessageOut(ApiModel):
    id: int
    conversation_id: int
    client_id: str | None
    sender: Literal["visitor", "bot", "agent", "system"]
    sender_name: str
    text: str
    attachment: AttachmentOut | None
    buttons: list[ButtonOut]
    created_at: str
    kind: str | None = Field(default=None, description="bot replies: answer, suggest, fallback, smalltalk, …")
    images: list[str] | None = None
    feedback: bool | None = Field(default=None, description="the widget shows 解决了吗 👍/👎")
    helpful: bool | None = None


class WidgetOrg(ApiModel):
    name: str
    welcome: str
    color: str | None


class CsatConfig(ApiModel):
    question: str
    scale: int


class AgentOut(ApiModel):
    name: str | None


class QueueOut(ApiModel):
    conversation_id: int
    position: int
    wait_seconds: int | None
    text: str


class WidgetSession(ApiModel):
    token: str = Field(description="the visitor's signed identity; send it back next time")
    contact_id: int | None
    org: WidgetOrg
    max_upload_bytes: int
    hot: list[str]
    guess: list[str]
    personal_rule_id: int | None = Field(
        default=None, description="the 千人千面 rule that chose welcome, hot and guess; send it back as a "
                                  "message's `suggestion` when the visitor clicks one of them")
    csat: CsatConfig
    conversation_id: int | None
    state: Literal["bot", "queued", "assigned", "resolved", "closed"] | None
    messages: list[MessageOut]
    agent: AgentOut | None
    csat_pending: bool
    queue: QueueOut | None


ViewKey = Annotated[str, Field(min_length=8, max_length=24, pattern=r"^[A-Za-z0-9_-]{8,24}$")]


class BeaconView(ApiModel):
    key: ViewKey
    url: Annotated[ApiText, Field(min_length=1, max_length=2000)]
    title: Annotated[ApiText, Field(max_length=500)] = ""
    referrer: Annotated[ApiText, Field(max_length=2000)] = ""


class BeaconLeft(ApiModel):
    key: ViewKey
    seconds: Annotated[int, Field(ge=0, le=10_000_000)]


class BeaconRequest(ApiModel):
    """One page view (docs/protocol.md, "The beacon"): sent as ``text/plain`` by ``navigator.sendBeacon``."""

    org_key: Annotated[ApiText, Field(min_length=1, max_length=64)]
    token: Annotated[ApiText, Field(min_length=1, max_length=500)]
    view: BeaconView
    left: BeaconLeft | None = None
    dnt: bool = False
