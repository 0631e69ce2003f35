"""An org's telesales alert rules: words or phrases that, said on an agent's call, show the agent a chip with a
suggested line (and the supervisors watching the call a flag).

The rules are per org and edited on /admin/voice/alerts; an org that has none gets the defaults on first use
(价格, 优惠, 试听, 投诉, 退费 and a list of competitors' names to edit).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Boolean, Enum, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow


class AlertSide(enum.StrEnum):
    """Whose words a rule listens to: the customer's (a refund), the agent's (a promise they must not make)."""

    customer = "customer"
    agent = "agent"
    either = "either"


class AlertSeverity(enum.StrEnum):
    info = "info"  # a chance: price asked, trial wanted
    warning = "warning"  # a risk: a competitor named
    critical = "critical"  # a complaint or a refund: a supervisor should look now


class CallAlertRule(OrgScoped, Base):
    __tablename__ = "call_alert_rules"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_call_alert_rules_org_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    # The words or phrases (any one fires the rule), as written by the admin.
    words: Mapped[list[str]] = mapped_column(JSON, default=list)
    # A buying signal of the lead grader (asked_price, asked_trial…) that fires the rule too: the same patterns
    # that grade chat leads, so "多少钱一节" raises 价格 without listing every way of asking.
    intent: Mapped[str | None] = mapped_column(String(32), nullable=True)
    side: Mapped[AlertSide] = mapped_column(Enum(AlertSide, native_enum=False, length=16), default=AlertSide.customer)
    severity: Mapped[AlertSeverity] = mapped_column(
        Enum(AlertSeverity, native_enum=False, length=16), default=AlertSeverity.info
    )
    # What the agent might say next, shown on the chip.
    suggestion: Mapped[str] = mapped_column(String(300), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
