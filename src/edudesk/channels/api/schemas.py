"""The API channel's request and response models (closed: the OpenAPI schema is the exact contract).

What the integrator posts for one user message, what edudesk answers, and the transcript read back. Rules the
schema cannot state (the org's message length, the image size) are checked by the route with the same error shape.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from edudesk.apischema import CLOSED_MAP, ApiModel, ApiText, FieldKey

# What the schema lets through at most; the route refuses longer text than EDUDESK_MAX_MESSAGE_CHARS (2000).
TEXT_SCHEMA_MAX = 20_000
# Base64 of an image: the request body limit (EDUDESK_MAX_BODY_BYTES, 2 MiB) bounds it first.
IMAGE_SCHEMA_MAX = 8 * 1024 * 1024

Id128 = Annotated[ApiText, Field(min_length=1, max_length=128)]


class UserProfile(ApiModel):
    """What the integrator knows of the user. A phone number is not a profile field: send it as the user's text
    (as the user typed it), so the lead card captures it the way it does on every channel."""

    name: Annotated[ApiText, Field(max_length=100, description="display name for the console (set once)")] = ""


class MessageIn(ApiModel):
    """One message of a user. ``text`` or ``image`` must say something (else 400 ``empty_message``)."""

    user_id: Id128 = Field(description="the integrator's id of the user (openid, app user id …); one contact per "
                                       "user and inbox")
    message_id: Id128 = Field(description="the integrator's id of this message: the idempotency key (a resend "
                                          "with the same id stores and answers nothing twice)")
    text: Annotated[ApiText, Field(max_length=TEXT_SCHEMA_MAX, description=(
        "what the user wrote (or the label of the button they clicked); at most EDUDESK_MAX_MESSAGE_CHARS "
        "(2000) characters"))] = ""
    payload: Annotated[ApiText, Field(min_length=1, max_length=200, description=(
        "the payload of the button the user clicked (from an outbound message's buttons)"))] | None = None
    image: Annotated[str, Field(min_length=1, max_length=IMAGE_SCHEMA_MAX, pattern=r"^[A-Za-z0-9+/=]+$",
                                description="an image the user sent: base64 PNG, JPEG, GIF or WebP, at most "
                                            "EDUDESK_MAX_UPLOAD_BYTES and within the request body limit")] | None = None
    user: UserProfile | None = None
    campaign: Annotated[ApiText, Field(min_length=1, max_length=100, description=(
        "where the user came from (an ad, a Douyin video): the lead's campaign, recorded the first time"
    ))] | None = None
    attribution: dict[FieldKey, Annotated[ApiText, Field(max_length=200)]] = Field(
        default_factory=dict, max_length=20, json_schema_extra=CLOSED_MAP,
        description="details of where the user came from (utm_source, scene …), recorded the first time")


class MessageAccepted(ApiModel):
    id: int = Field(description="the stored message's id")
    conversation_id: int
    message_id: str = Field(description="the integrator's message id, as posted")


class Button(ApiModel):
    label: str
    payload: str


class TranscriptMessage(ApiModel):
    id: int
    conversation_id: int
    message_id: str | None = Field(description="the integrator's id of a user message (ids longer than 64 "
                                               "characters are stored as a digest), else null")
    sender: str = Field(description="visitor (the user), bot, agent or system")
    sender_name: str
    text: str
    buttons: list[Button]
    images: list[str] = Field(description="absolute URLs of pictures under a bot answer")
    attachment_url: str | None = Field(description="absolute URL of the message's image, if any")
    created_at: str


class Transcript(ApiModel):
    user_id: str
    messages: list[TranscriptMessage]
    has_more: bool = Field(description="more messages follow: ask again with after_id = the last id")
