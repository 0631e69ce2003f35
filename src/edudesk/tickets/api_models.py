"""The tickets REST API's request and response models (closed: the OpenAPI schema is the exact contract).

The plain-dict views in ``tickets.schemas`` stay what events and webhooks carry; these models describe and check
what the API answers with them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from edudesk.apischema import CLOSED_MAP, ApiId, ApiModel, ApiText, FieldKey
from edudesk.tickets.models import CommentKind, TicketPriority, TicketSource, TicketStatus

CustomValue = Annotated[ApiText, Field(max_length=2000)] | int | float | None
Subject = Annotated[ApiText, Field(min_length=1, max_length=200)]


class TicketIn(ApiModel):
    """A ticket from elsewhere (a mini-program's 留言, a CRM). The visitor is ``contact_id`` (an existing contact)
    or ``external_id`` (the caller's id for this person; a contact on the ``api`` channel is found or created), or
    neither (an internal ticket: replies are refused, notes work)."""

    subject: Subject
    description: Annotated[ApiText, Field(max_length=5000)] = ""
    priority: TicketPriority = TicketPriority.normal
    contact_id: ApiId | None = None
    external_id: Annotated[ApiText, Field(min_length=1, max_length=128)] | None = None
    group_id: ApiId | None = None
    assignee_id: ApiId | None = None
    custom_fields: dict[FieldKey, CustomValue] = Field(default_factory=dict, max_length=50,
                                                       json_schema_extra=CLOSED_MAP)


class TicketPatch(ApiModel):
    """Only the fields present change; ``assignee_id``/``group_id`` null clears them (the others cannot be null)."""

    status: TicketStatus = Field(default=None)  # type: ignore[assignment]
    priority: TicketPriority = Field(default=None)  # type: ignore[assignment]
    subject: Subject = Field(default=None)  # type: ignore[assignment]
    assignee_id: ApiId | None = None
    group_id: ApiId | None = None
    custom_fields: dict[FieldKey, CustomValue] = Field(default=None, max_length=50,  # type: ignore[arg-type]
                                                       json_schema_extra=CLOSED_MAP)


class ReplyIn(ApiModel):
    kind: Literal["reply"]
    text: Annotated[ApiText, Field(min_length=1, max_length=5000)]
    author_name: Annotated[ApiText, Field(max_length=100, description="shown to the visitor on a reply")] = ""
    status: TicketStatus | None = Field(default=None, description="a reply may also set pending or solved")


class NoteIn(ApiModel):
    """An internal note: staff only, and it never changes the ticket's status."""

    kind: Literal["note"]
    text: Annotated[ApiText, Field(min_length=1, max_length=5000)]
    author_name: Annotated[ApiText, Field(max_length=100)] = ""


CommentIn = Annotated[ReplyIn | NoteIn, Field(discriminator="kind")]


class SlaOut(ApiModel):
    policy_id: int | None
    state: Literal["ok", "at_risk", "breached"] | None
    first_response_due_at: str | None
    first_responded_at: str | None
    first_response_breached_at: str | None
    resolution_due_at: str | None
    resolution_breached_at: str | None
    paused: bool


class TicketOut(ApiModel):
    id: int
    subject: str
    status: TicketStatus
    status_label: str
    priority: TicketPriority
    priority_label: str
    source: TicketSource
    channel: str | None
    group_id: int | None
    assignee_id: int | None
    contact_id: int | None
    conversation_id: int | None
    lead_id: int | None
    custom_fields: dict[str, str | int | float | bool | list[str] | None]
    sla: SlaOut
    solved_at: str | None
    closed_at: str | None
    created_at: str | None
    updated_at: str | None


class CommentOut(ApiModel):
    id: int
    ticket_id: int
    kind: CommentKind
    author_user_id: int | None
    author_name: str | None
    text: str
    mentions: list[int]
    message_id: int | None
    created_at: str | None


class TicketWithComments(TicketOut):
    comments: list[CommentOut]


class TicketPage(ApiModel):
    items: list[TicketOut]
    total: int
    page: int
    per_page: int
