"""套电率 (lead-capture rate): of the conversations in which a visitor actually said something, how many ended with
a phone number or WeChat ID the school can use.

- A *valid conversation* has at least one visitor message. Opened-and-left widgets are not conversations.
- It *captured* contact details when a phone or WeChat value on the lead card was taken from one of its messages
  (``LeadValue.conversation_id``), or typed by an agent while serving it. When a visitor gives a new number in a
  later conversation, the later one takes the credit: the rate measures which conversations produce contact
  details, and each value remembers only its latest source.
- Days are counted in Asia/Shanghai, by the conversation's start.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.conversations import service as conversations_service
from edudesk.leads.models import LeadValue
from edudesk.localtime import LOCAL_TZ

CONTACT_KEYS = ("phone", "wechat")


@dataclass(frozen=True)
class CaptureRow:
    key: str  # the day (YYYY-MM-DD) or the channel
    conversations: int
    captured: int

    @property
    def rate(self) -> float:
        return self.captured / self.conversations if self.conversations else 0.0

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key, "conversations": self.conversations, "captured": self.captured,
                "rate": round(self.rate, 4)}


def capture_rate(session: Session, org_id: int, start: dt.date, end: dt.date, *, by: str = "day") -> list[CaptureRow]:
    """Rows per day or per channel for conversations started from ``start`` to ``end`` (both included)."""
    if by not in ("day", "channel"):
        raise ValueError("by must be 'day' or 'channel'")
    if end < start:
        start, end = end, start
    since = dt.datetime.combine(start, dt.time(), LOCAL_TZ).astimezone(dt.UTC)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), LOCAL_TZ).astimezone(dt.UTC)
    rows = conversations_service.visitor_conversations(session, org_id, since, until)
    captured: set[int | None] = set()
    ids = [r[0] for r in rows]
    for chunk in range(0, len(ids), 1000):
        captured.update(session.scalars(select(LeadValue.conversation_id).where(
            LeadValue.org_id == org_id, LeadValue.key.in_(CONTACT_KEYS),
            LeadValue.conversation_id.in_(ids[chunk:chunk + 1000]))))
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for conv_id, channel, created in rows:
        key = created.astimezone(LOCAL_TZ).date().isoformat() if by == "day" else channel
        totals[key][0] += 1
        totals[key][1] += conv_id in captured
    return [CaptureRow(k, n, c) for k, (n, c) in sorted(totals.items())]


def overall(rows: list[CaptureRow]) -> CaptureRow:
    return CaptureRow("total", sum(r.conversations for r in rows), sum(r.captured for r in rows))
