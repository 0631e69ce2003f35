"""Tables of profiles and classification (用户画像) and of 千人千面: course URL patterns, classification rules, what
the rules did to each contact, and personalisation rules with their counters. The trail itself is ``models.py``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow


class CoursePattern(OrgScoped, Base):
    """Pages of one course: a URL pattern (a path prefix, or a glob with ``*``; with a host when it starts with
    something other than ``/``) and the course it shows, a catalog course or a free name."""

    __tablename__ = "visitor_course_patterns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pattern: Mapped[str] = mapped_column(String(300))
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id", ondelete="SET NULL"), nullable=True)
    course_name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ClassifyRule(OrgScoped, Base):
    """Tag ``tag`` holds for a contact when every condition holds; ``points`` (with ``label``) go into the lead's
    grade as the signal ``tag:<tag>``. ``conditions`` is a list of ``{"kind", "value", "min"}`` (classify.py)."""

    __tablename__ = "visitor_classify_rules"
    __table_args__ = (UniqueConstraint("org_id", "tag", name="uq_visitor_classify_rules_org_tag"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tag: Mapped[str] = mapped_column(String(32))
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    points: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str] = mapped_column(String(30), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ContactClassification(OrgScoped, Base):
    """What the rules did to one contact: ``rule_tags`` maps each tag a rule set to ``{"rule_id", "reason",
    "staff_removed"}``, so a rule that stops holding removes its own tag and never one staff added by hand.
    ``queued`` debounces the classify job (one pending job per contact)."""

    __tablename__ = "visitor_contact_classes"
    __table_args__ = (UniqueConstraint("org_id", "contact_id", name="uq_visitor_contact_classes_contact"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    rule_tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    queued: Mapped[bool] = mapped_column(Boolean, default=False)
    classified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # ProfileState.rules_version the last run used (None: never run, or before versions were kept): a change that
    # no rule looks at skips the job only when the rules are still those (rules.trail_changed).
    rules_version: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ProfileState(OrgScoped, Base):
    """Per-org flags of the profile part: whether the default rules were seeded (so deleting one sticks), and
    ``rules_version``, raised in the transaction of every change to the classification rules or course pages: the
    key of each process's cache of the rules (rules.rules_of), right across instances without any TTL."""

    __tablename__ = "visitor_profile_state"
    __table_args__ = (UniqueConstraint("org_id", name="uq_visitor_profile_state_org"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rules_seeded: Mapped[bool] = mapped_column(Boolean, default=False)
    rules_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class PersonalRule(OrgScoped, Base):
    """千人千面: when ``match`` holds for a visitor (page pattern, campaign, source kind, utm_source, contact tag;
    all given ones must hold), the widget shows this welcome text, hot questions and 猜你所想. The lowest
    ``priority`` of the matching rules wins. ``shown`` / ``clicked`` count sessions served and suggestion clicks."""

    __tablename__ = "visitor_personal_rules"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_visitor_personal_rules_org_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    match: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    welcome: Mapped[str] = mapped_column(Text, default="")
    hot: Mapped[list[str]] = mapped_column(JSON, default=list)
    guess: Mapped[list[str]] = mapped_column(JSON, default=list)
    shown: Mapped[int] = mapped_column(Integer, default=0)
    clicked: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
