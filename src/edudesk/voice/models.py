"""Voice tables shared by every part of the voice area: the org's phone lines, its voice settings, the calls with
their transcript turns, and the do-not-call list.

Campaigns (voice/campaigns), alert rules (voice/assist) and the telephony adapters own further tables of their
own; these are the ones they all meet on. A call is one attempt to reach one number; the robot's dialogue of a call
is a conversation on the ``phone`` channel (``conversation_id``), so the bot, lead card and QC see a call the way
they see a chat.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow


class LineKind(enum.StrEnum):
    """How the line reaches the telephone network (one telephony adapter each, voice/telephony)."""

    sip = "sip"  # our SIP user agent registers with / sends INVITEs to a SIP trunk
    audiosocket = "audiosocket"  # an Asterisk PBX dials and streams the call to our AudioSocket server
    websocket = "websocket"  # a carrier dials and streams the call over the media WebSocket (docs/voice.md)


class CallDirection(enum.StrEnum):
    outbound = "outbound"
    inbound = "inbound"


class CallMode(enum.StrEnum):
    """Who talks to the callee: the robot (智能外呼), or an agent with the live transcript (智能电销)."""

    robot = "robot"
    agent = "agent"


class CallState(enum.StrEnum):
    queued = "queued"  # waiting for a media-plane process to dial it (claimed by a conditional UPDATE)
    dialing = "dialing"
    ringing = "ringing"
    in_progress = "in_progress"
    completed = "completed"
    no_answer = "no_answer"
    busy = "busy"
    failed = "failed"
    canceled = "canceled"


ACTIVE_CALL_STATES = (CallState.queued, CallState.dialing, CallState.ringing, CallState.in_progress)
ENDED_CALL_STATES = (CallState.completed, CallState.no_answer, CallState.busy, CallState.failed, CallState.canceled)


class CallOutcome(enum.StrEnum):
    """What a call achieved (the wrap-up code): set by the robot's dialogue, by the agent, or by the network."""

    connected = "connected"  # answered, nothing more decided
    no_answer = "no_answer"
    busy = "busy"
    wrong_number = "wrong_number"
    refused = "refused"  # 没兴趣 / 别再打了
    interested = "interested"
    callback = "callback"  # asked to be called back (a time may be in ``callback_at``)
    already_enrolled = "already_enrolled"
    failed = "failed"  # the line or the network failed; not the callee's doing


OUTCOME_LABELS: dict[str, str] = {
    "connected": "已接通",
    "no_answer": "无人接听",
    "busy": "占线",
    "wrong_number": "号码错误",
    "refused": "拒绝",
    "interested": "有意向",
    "callback": "预约回电",
    "already_enrolled": "已报名",
    "failed": "呼叫失败",
}


class Speaker(enum.StrEnum):
    customer = "customer"  # the person called (or calling): a parent, a student
    bot = "bot"
    agent = "agent"
    supervisor = "supervisor"  # barged in (a whisper is heard by the agent only and is not a turn)
    system = "system"  # a recorded prompt that is not the bot's dialogue (the legal notice, hold music)


class VoiceLine(OrgScoped, Base):
    """One way of an org into the telephone network, with its pool of caller numbers. ``config`` is the adapter's
    settings (trunk host, user, password…) encrypted with the app's secret box, as inbox secrets are."""

    __tablename__ = "voice_lines"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_voice_lines_org_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[LineKind] = mapped_column(Enum(LineKind, native_enum=False, length=16))
    # The caller numbers (E.164) calls go out from; the dialer picks one in turn.
    caller_numbers: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_concurrent: Mapped[int] = mapped_column(Integer, default=10)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    config_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class VoiceSettings(OrgScoped, Base):
    """An org's voice choices that are not a line's: recordings and their retention, the robot's name and the
    notice it gives at the start of a call."""

    __tablename__ = "voice_settings"
    __table_args__ = (UniqueConstraint("org_id", name="uq_voice_settings_org_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_calls: Mapped[bool] = mapped_column(Boolean, default=True)
    # Recordings older than this many days are deleted by the retention job (0: keep none after the call ends).
    recording_retention_days: Mapped[int] = mapped_column(Integer, default=90)
    # Said before anything else on a robot call (calls are recorded, who is calling): required in China for
    # marketing calls, and a parent should know they speak to a machine.
    robot_notice: Mapped[str] = mapped_column(Text, default="")


class Call(OrgScoped, Base):
    """One attempt to reach one number (or one call that came in)."""

    __tablename__ = "calls"
    __table_args__ = (
        # A number is never in two calls at once, also with several instances: the second INSERT (or the claim
        # that would reactivate a call) fails on this partial unique index, on SQLite as on PostgreSQL.
        Index(
            "uq_calls_active_phone",
            "org_id",
            "phone_e164",
            unique=True,
            sqlite_where=text("state IN ('queued', 'dialing', 'ringing', 'in_progress')"),
            postgresql_where=text("state IN ('queued', 'dialing', 'ringing', 'in_progress')"),
        ),
        Index("ix_calls_state_queued", "state", "queued_at"),
        Index("ix_calls_org_created", "org_id", "created_at"),
        Index("ix_calls_org_campaign", "org_id", "campaign_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Unguessable: names the call in media URLs and to carriers (the integer id never leaves the org's pages).
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    direction: Mapped[CallDirection] = mapped_column(
        Enum(CallDirection, native_enum=False, length=16), default=CallDirection.outbound
    )
    mode: Mapped[CallMode] = mapped_column(Enum(CallMode, native_enum=False, length=16), default=CallMode.robot)
    state: Mapped[CallState] = mapped_column(Enum(CallState, native_enum=False, length=16), default=CallState.queued)
    outcome: Mapped[CallOutcome | None] = mapped_column(Enum(CallOutcome, native_enum=False, length=20), nullable=True)
    outcome_reason: Mapped[str] = mapped_column(String(200), default="")
    callback_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    line_id: Mapped[int | None] = mapped_column(ForeignKey("voice_lines.id", ondelete="SET NULL"), nullable=True)
    # The campaign and its target row (voice/campaigns owns those tables; plain integers here so the core does
    # not depend on them).
    campaign_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    target_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), nullable=True, index=True
    )
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), nullable=True, index=True
    )
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True)
    # The bot flow the robot runs (None: the org's default call flow).
    flow_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    phone_e164: Mapped[str] = mapped_column(String(20))
    caller_number: Mapped[str] = mapped_column(String(20), default="")
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    # The dialer never starts this call after this moment (the end of the campaign's call window): a call still
    # queued then is canceled and its target tried in the next window.
    not_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The media-plane process that dials and carries the call, and until when its claim holds.
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    provider_call_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    dialed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Seconds in which the callee or our side was actually speaking (effective talk time, 有效通话时长), and the
    # whole time from answer to hang-up.
    talk_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    duration_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    hangup_by: Mapped[str] = mapped_column(String(16), default="")  # customer / bot / agent / network
    recording_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    recording_bytes: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(String(300), default="")
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CallTurn(OrgScoped, Base):
    """One utterance of the call's transcript (final recognition results and what our side said)."""

    __tablename__ = "call_turns"
    __table_args__ = (UniqueConstraint("call_id", "seq", name="uq_call_turns_call_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[Speaker] = mapped_column(Enum(Speaker, native_enum=False, length=16))
    text: Mapped[str] = mapped_column(Text)
    # Milliseconds from the moment the call was answered.
    start_ms: Mapped[int] = mapped_column(Integer, default=0)
    end_ms: Mapped[int] = mapped_column(Integer, default=0)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    # What the robot understood (有兴趣, 在忙, a grade…) and the alert rules that fired on this turn.
    intent: Mapped[str | None] = mapped_column(String(32), nullable=True)
    alerts: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DoNotCall(OrgScoped, Base):
    """A number the org must never dial: asked by the person (别再打了), entered by staff, or imported."""

    __tablename__ = "do_not_call"
    __table_args__ = (UniqueConstraint("org_id", "phone_e164", name="uq_do_not_call_org_phone"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone_e164: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(16), default="manual")  # manual / asked / import
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), default="")
