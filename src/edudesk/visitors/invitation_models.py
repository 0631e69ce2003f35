"""Proactive invitations (主动邀请): the auto-invite rules an admin sets, and every invitation sent, manual or by
a rule, with what became of it (accepted: the visitor replied; the conversation it started)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow


class InviteRule(OrgScoped, Base):
    """"A visitor on a price page for 30 s, from the exam-prep campaign, in business hours → invite as 王老师".

    Empty conditions match anything. The invitation speaks for an agent (their name; a reply goes to them), a
    skill group (the bot's name; a reply joins that group's queue) or, with neither, the bot (a reply is the
    bot's)."""

    __tablename__ = "visitor_invite_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Glob on the page URL: "*" any run of characters; without "*" the text only has to appear in the URL.
    url_pattern: Mapped[str] = mapped_column(String(300), default="")
    min_seconds: Mapped[int] = mapped_column(Integer, default=0)
    source_kind: Mapped[str] = mapped_column(String(16), default="")  # "" any; search, ad, campaign, …
    campaign: Mapped[str] = mapped_column(String(100), default="")  # utm_campaign equals
    keyword: Mapped[str] = mapped_column(String(100), default="")  # search keyword contains
    business_hours_only: Mapped[bool] = mapped_column(Boolean, default=False)
    max_per_day: Mapped[int] = mapped_column(Integer, default=1)
    message: Mapped[str] = mapped_column(String(500))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("skill_groups.id", ondelete="SET NULL"), nullable=True)
    bot_name: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Invitation(OrgScoped, Base):
    """One invitation shown to one visitor. ``rule_id`` None: an agent's own (manual) invitation."""

    __tablename__ = "visitor_invitations"
    __table_args__ = (
        Index("ix_visitor_invitations_org_key_sent", "org_id", "visitor_key", "sent_at"),
        Index("ix_visitor_invitations_org_contact_sent", "org_id", "contact_id", "sent_at"),
        Index("ix_visitor_invitations_org_rule", "org_id", "rule_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("visitor_invite_rules.id", ondelete="SET NULL"),
                                                nullable=True)
    visitor_key: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    view_key: Mapped[str] = mapped_column(String(24), default="")
    page_url: Mapped[str] = mapped_column(String(1000), default="")
    text: Mapped[str] = mapped_column(String(500))
    speaker_name: Mapped[str] = mapped_column(String(60))
    # Whom a reply goes to: the agent (sent by them, or the rule's agent), else the group's queue, else the bot.
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("skill_groups.id", ondelete="SET NULL"), nullable=True)
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="SET NULL"),
                                                        nullable=True)
    # The reply opened the contact's first conversation: a lead of this contact then counts for the invitation.
    first_conversation: Mapped[bool] = mapped_column(Boolean, default=False)
