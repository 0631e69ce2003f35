"""套电率 (lead-capture rate): of the conversations in which a visitor actually said something, how many ended with
a phone number or WeChat ID the school can use — by day, by channel, by bot script (话术流程); and the lead counts
the dashboard shows beside it.

- A *valid conversation* has at least one visitor message. Opened-and-left widgets are not conversations.
- It *captured* contact details when a phone or WeChat value on the lead card was taken from one of its messages
  (``LeadValue.conversation_id``), or typed by an agent while serving it. When a visitor gives a new number in a
  later conversation, the later one takes the credit: the rate measures which conversations produce contact
  details, and each value remembers only its latest source.
- Days are counted in Asia/Shanghai, by the conversation's start.
- *By channel*, sources that are not conversations add rows of their own (``extra_channels``): landing-page forms
  (表单, key ``form``, built by ``leads.report_rows``) count views of the org's forms as the denominator and
  their submissions as the numerator. They stay out of the total and out of the day and flow rows — a page view
  and a conversation are different denominators.
- *By flow*, a conversation counts for every script that ran in it — one that finished, one still running, and
  one cut short by a hand-over (the bot's state forgets those, the script's own replies do not) — so flow rows
  may add up to more than the total. Conversations no script ran in are "无话术".
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from edudesk.bot.models import BotConversationState, BotFlow
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Message, SenderKind
from edudesk.leads.models import STATUS_LABELS, Lead, LeadValue
from edudesk.localtime import LOCAL_TZ, utc_bounds

CONTACT_KEYS = ("phone", "wechat")
BY = ("day", "channel", "flow")
NO_FLOW = "无话术"
CHUNK = 1000
LEVELS = ("A", "B", "C")


@dataclass(frozen=True)
class CaptureRow:
    key: str  # the day (YYYY-MM-DD), the channel, or the flow's key (NO_FLOW: none ran)
    conversations: int
    captured: int
    label: str | None = None  # by flow: the flow's name

    @property
    def rate(self) -> float:
        return self.captured / self.conversations if self.conversations else 0.0

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"key": self.key, "conversations": self.conversations, "captured": self.captured,
                                  "rate": round(self.rate, 4)}
        if self.label is not None:
            out["label"] = self.label
        return out


@dataclass(frozen=True)
class Outcome:
    """One valid conversation: where and when it started, the scripts that ran in it, and whether it captured."""

    conversation_id: int
    channel: str
    day: dt.date
    captured: bool
    flows: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CaptureBreakdown:
    by_day: list[CaptureRow]  # every day of the period, empty days included
    by_channel: list[CaptureRow]
    by_flow: list[CaptureRow]
    total: CaptureRow
    by_source: list[CaptureRow] = field(default_factory=list)  # per source kind of the visit (visitor trail)


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def flows_by_conversation(session: Session, org_id: int, ids: Sequence[int]) -> dict[int, set[str]]:
    """The keys of the bot scripts that ran in each conversation: the bot's state (running and finished scripts)
    and the scripts' own replies (``extra.flow``), which also remember a script a hand-over cut short.

    The bot area offers no service function for this yet, so this reads its tables (and the messages) directly —
    read-only, org-scoped; it belongs in ``bot.service`` when that module is next opened."""
    found: dict[int, set[str]] = defaultdict(set)
    spoken = Message.extra["flow"].as_string()
    for chunk in _chunks(ids):
        states = session.execute(select(BotConversationState.conversation_id, BotConversationState.flow_state,
                                        BotConversationState.flows_done).where(
            BotConversationState.org_id == org_id, BotConversationState.conversation_id.in_(chunk)))
        for conv_id, running, done in states:
            keys = {str(k) for k in (done or []) if k}
            if isinstance(running, dict) and running.get("flow_key"):
                keys.add(str(running["flow_key"]))
            if keys:
                found[conv_id].update(keys)
        replies = session.execute(select(Message.conversation_id, spoken).where(
            Message.org_id == org_id, Message.sender == SenderKind.bot, Message.conversation_id.in_(chunk),
            spoken.is_not(None)).distinct())
        for conv_id, key in replies:
            if key:
                found[conv_id].add(str(key))
    return found


def flow_names(session: Session, org_id: int) -> dict[str, str]:
    """Flow key → name for the org's scripts (a deleted script shows by its key)."""
    return dict(session.execute(select(BotFlow.key, BotFlow.name).where(BotFlow.org_id == org_id)).all())


def outcomes(session: Session, org_id: int, start: dt.date, end: dt.date, *, with_flows: bool = False
             ) -> list[Outcome]:
    """Every valid conversation started from ``start`` to ``end`` (local days, both included)."""
    if end < start:
        start, end = end, start
    since, until = utc_bounds(start, end)
    rows = conversations_service.visitor_conversations(session, org_id, since, until)
    ids = [r[0] for r in rows]
    captured: set[int | None] = set()
    for chunk in _chunks(ids):
        captured.update(session.scalars(select(LeadValue.conversation_id).where(
            LeadValue.org_id == org_id, LeadValue.key.in_(CONTACT_KEYS), LeadValue.conversation_id.in_(chunk))))
    flows = flows_by_conversation(session, org_id, ids) if with_flows else {}
    return [Outcome(conv_id, channel, created.astimezone(LOCAL_TZ).date(), conv_id in captured,
                    frozenset(flows.get(conv_id, ())))
            for conv_id, channel, created in rows]


def summarise(items: Iterable[Outcome], by: str, *, names: dict[str, str] | None = None) -> list[CaptureRow]:
    """Rows per day, channel or flow. Flow rows: most conversations first, "无话术" last."""
    if by not in BY:
        raise ValueError("by must be 'day', 'channel' or 'flow'")
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for o in items:
        keys: Iterable[str]
        if by == "day":
            keys = (o.day.isoformat(),)
        elif by == "channel":
            keys = (o.channel,)
        else:
            keys = o.flows or (NO_FLOW,)
        for key in keys:
            totals[key][0] += 1
            totals[key][1] += o.captured
    if by != "flow":
        return [CaptureRow(k, n, c) for k, (n, c) in sorted(totals.items())]
    names = names or {}
    order = sorted(totals.items(), key=lambda kv: (kv[0] == NO_FLOW, -kv[1][0], kv[0]))
    return [CaptureRow(k, n, c, NO_FLOW if k == NO_FLOW else names.get(k, k)) for k, (n, c) in order]


def summarise_by(items: Iterable[Outcome], key_of: Mapping[int, str], *, missing: str) -> list[CaptureRow]:
    """Rows per key a caller worked out for each conversation (its source kind), most conversations first."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for o in items:
        row = totals[key_of.get(o.conversation_id, missing)]
        row[0] += 1
        row[1] += o.captured
    return [CaptureRow(k, n, c) for k, (n, c) in sorted(totals.items(), key=lambda kv: (-kv[1][0], kv[0]))]


def total(items: Iterable[Outcome]) -> CaptureRow:
    """All valid conversations once each (flow rows overlap; this never does)."""
    listed = list(items)
    return CaptureRow("total", len(listed), sum(o.captured for o in listed))


def capture_rate(session: Session, org_id: int, start: dt.date, end: dt.date, *, by: str = "day") -> list[CaptureRow]:
    """Rows per day, channel or flow for conversations started from ``start`` to ``end`` (both included)."""
    return capture_report(session, org_id, start, end, by=by)[0]


def capture_report(session: Session, org_id: int, start: dt.date, end: dt.date, *, by: str = "day",
                   extra_channels: Sequence[CaptureRow] = ()) -> tuple[list[CaptureRow], CaptureRow]:
    """The rows and the total of the API's report (the total counts each conversation once); ``by=channel``
    ends with ``extra_channels``, the rows of sources that are not conversations."""
    if by not in BY:
        raise ValueError("by must be 'day', 'channel' or 'flow'")
    if end < start:
        start, end = end, start
    items = outcomes(session, org_id, start, end, with_flows=by == "flow")
    rows = summarise(items, by, names=flow_names(session, org_id) if by == "flow" else None)
    return rows + (list(extra_channels) if by == "channel" else []), total(items)


def breakdown(session: Session, org_id: int, start: dt.date, end: dt.date, *,
              extra_channels: Sequence[CaptureRow] = (),
              source_of: Callable[[list[int]], Mapping[int, str]] | None = None, no_source: str = "none"
              ) -> CaptureBreakdown:
    """Everything the dashboard shows of the capture rate, from one read of the period's conversations
    (``extra_channels``: rows of sources that are not conversations, after the channels'; ``source_of``: the
    source kind of each conversation id, from the visitor trail, for the rows by source — crawlers never have a
    conversation, and their visits are never a source)."""
    if end < start:
        start, end = end, start
    items = outcomes(session, org_id, start, end, with_flows=True)
    seen = {r.key: r for r in summarise(items, "day")}
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    by_day = [seen.get(d.isoformat(), CaptureRow(d.isoformat(), 0, 0)) for d in days]
    by_source = (summarise_by(items, source_of([o.conversation_id for o in items]), missing=no_source)
                 if source_of is not None else [])
    return CaptureBreakdown(by_day, summarise(items, "channel") + list(extra_channels),
                            summarise(items, "flow", names=flow_names(session, org_id)), total(items), by_source)


def overall(rows: list[CaptureRow]) -> CaptureRow:
    """The total of day or channel rows (not of flow rows, which overlap: use ``total``)."""
    return CaptureRow("total", sum(r.conversations for r in rows), sum(r.captured for r in rows))


# --- leads -----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LeadCounts:
    total: int
    by_level: list[tuple[str, int]]  # A, B, C — all three, zeros included
    by_status: list[tuple[str, int]]  # every pipeline status in order, zeros included


def lead_counts(session: Session, org_id: int, start: dt.date, end: dt.date) -> LeadCounts:
    """Leads created from ``start`` to ``end`` (local days), by intent grade and by pipeline status. A lead merged
    into an older one is the same person and is not counted again."""
    if end < start:
        start, end = end, start
    since, until = utc_bounds(start, end)
    rows = session.execute(select(Lead.level, Lead.status, func.count()).where(
        Lead.org_id == org_id, Lead.merged_into_id.is_(None), Lead.created_at >= since, Lead.created_at < until)
        .group_by(Lead.level, Lead.status)).all()
    levels: dict[str, int] = defaultdict(int)
    statuses: dict[str, int] = defaultdict(int)
    for level, status, n in rows:
        levels[level] += n
        statuses[str(status.value if hasattr(status, "value") else status)] += n
    return LeadCounts(sum(levels.values()), [(lv, levels[lv]) for lv in LEVELS],
                      [(s, statuses[s]) for s in STATUS_LABELS])


# --- campaigns -------------------------------------------------------------------------------------------------------

def counts_by_campaign(session: Session, org_id: int, scenes: Iterable[str]) -> dict[str, tuple[int, int]]:
    """Per campaign scene: (leads that came by it, those of them with a phone or WeChat ID), for the campaign
    report. A lead is credited to the campaign of its first touch (``Lead.campaign``); a lead merged into an older
    one is the same person and is not counted again. Scenes without leads are absent."""
    wanted = list(dict.fromkeys(s for s in scenes if s))
    found: dict[str, tuple[int, int]] = {}
    with_contact = func.sum(case((Lead.has_contact.is_(True), 1), else_=0))
    for i in range(0, len(wanted), CHUNK):
        rows = session.execute(select(Lead.campaign, func.count(), with_contact).where(
            Lead.org_id == org_id, Lead.merged_into_id.is_(None), Lead.campaign.in_(wanted[i:i + CHUNK]))
            .group_by(Lead.campaign))
        for scene, leads, contacts in rows:
            found[str(scene)] = (int(leads), int(contacts or 0))
    return found
