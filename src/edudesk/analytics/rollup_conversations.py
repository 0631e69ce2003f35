"""A day's conversations folded into ``analytics_conversations`` rows (definitions: docs/metrics.md).

``measure`` is the pure part — one conversation's row and messages in, its measures out — so each definition is a
table test without a database. ``conversation_rows`` reads what a day needs in a handful of queries (the day's
conversations by the org + start index, their messages by the conversation index, never the message table at
large) and returns the rows to insert.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edudesk.analytics.attribution import NO_SOURCE, origins
from edudesk.audit.models import AuditEntry
from edudesk.conversations.models import Conversation, Message, SenderKind
from edudesk.csat import service as csat_service
from edudesk.kb.models import AnswerFeedback, KbMiss, MissReason
from edudesk.leads import reports as leads_reports
from edudesk.leads.models import LeadValue
from edudesk.localtime import LOCAL_TZ, utc_bounds

CHUNK = 1000
TRANSFER_ACTION = "conversation.transfer"
CONTACT_KEYS = leads_reports.CONTACT_KEYS


@dataclass(frozen=True)
class Said:
    """One message as the measures need it."""

    sender: str
    at: dt.datetime
    internal: bool = False


def _seconds(later: dt.datetime, earlier: dt.datetime) -> int:
    return max(0, round((later - earlier).total_seconds()))


def measure(conv: Any, said: Sequence[Said]) -> dict[str, Any]:
    """One conversation's measures. ``conv`` has the conversation's columns (state, handoff_reason, queued_at,
    assigned_at, resolved_at, closed_at, csat_score, csat_scale); ``said`` its messages in order."""
    visitor = [m for m in said if m.sender == SenderKind.visitor]
    agent = [m for m in said if m.sender == SenderKind.agent and not m.internal]
    first_agent = agent[0].at if agent else None
    served = conv.assigned_at is not None or bool(agent)
    # The start of human service: the (latest) assignment, unless the agent had already replied before it (a
    # transfer moved ``assigned_at`` on), then the first reply.
    served_from: dt.datetime | None = None
    if served:
        served_from = conv.assigned_at
        if served_from is None or (first_agent is not None and first_agent < served_from):
            served_from = first_agent
    queued = conv.queued_at is not None
    handed_over = served or queued or conv.handoff_reason is not None
    state = str(getattr(conv.state, "value", conv.state))
    out: dict[str, Any] = {
        "state": state, "visitor_messages": len(visitor), "agent_messages": len(agent), "valid": bool(visitor),
        "handed_over": handed_over, "handoff_reason": conv.handoff_reason if handed_over else None,
        "bot_resolved": bool(visitor) and not handed_over, "queued": queued, "served": served,
        "abandoned": queued and not served and state != "queued",
        "wait_seconds": None, "first_response_seconds": None, "response_sum": 0, "response_count": 0,
        "handling_seconds": None,
    }
    if served_from is not None:
        if queued and conv.queued_at <= served_from:
            out["wait_seconds"] = _seconds(served_from, conv.queued_at)
        if first_agent is not None:
            out["first_response_seconds"] = _seconds(first_agent, served_from)
        waiting_since: dt.datetime | None = None
        for m in said:
            if m.sender == SenderKind.visitor and m.at >= served_from and waiting_since is None:
                waiting_since = m.at
            elif m.sender == SenderKind.agent and not m.internal and waiting_since is not None:
                out["response_sum"] += _seconds(m.at, waiting_since)
                out["response_count"] += 1
                waiting_since = None
        end = conv.resolved_at or conv.closed_at
        if end is not None and end >= served_from:
            out["handling_seconds"] = _seconds(end, served_from)
    rated = conv.csat_score is not None
    out["csat_rated"] = rated
    out["csat_value"] = csat_service.normalised(conv.csat_score, conv.csat_scale) if rated else None
    out["csat_satisfied"] = csat_service.is_satisfied(conv.csat_score, conv.csat_scale) if rated else False
    return out


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]


def conversation_rows(session: Session, org_id: int, day: dt.date, scenes: dict[str, int]
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(conversation facts, flow rows, unanswered-question rows) of the conversations started on local ``day``."""
    since, until = utc_bounds(day, day)
    convs = list(session.execute(select(
        Conversation.id, Conversation.contact_id, Conversation.channel, Conversation.state, Conversation.group_id,
        Conversation.assignee_id, Conversation.handoff_reason, Conversation.queued_at, Conversation.assigned_at,
        Conversation.resolved_at, Conversation.closed_at, Conversation.csat_score, Conversation.csat_scale,
        Conversation.created_at).where(Conversation.org_id == org_id, Conversation.created_at >= since,
                                       Conversation.created_at < until)))
    if not convs:
        return [], [], []
    ids = [c.id for c in convs]
    said: dict[int, list[Said]] = defaultdict(list)
    bot_messages: dict[int, int] = {}
    transfers: Counter[int] = Counter()
    captured: set[int] = set()
    votes: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    misses: Counter[int] = Counter()
    questions: list[dict[str, Any]] = []
    for chunk in _chunks(ids):
        for mid, conv_id, sender, at, internal in session.execute(
                select(Message.id, Message.conversation_id, Message.sender, Message.created_at, Message.internal)
                .where(Message.org_id == org_id, Message.conversation_id.in_(chunk))
                .order_by(Message.conversation_id, Message.id)):
            said[conv_id].append(Said(str(getattr(sender, "value", sender)), at, bool(internal)))
            if sender == SenderKind.bot:
                bot_messages[mid] = conv_id
        for target, n in session.execute(select(AuditEntry.target_id, func.count()).where(
                AuditEntry.org_id == org_id, AuditEntry.action == TRANSFER_ACTION,
                AuditEntry.target_type == "conversation", AuditEntry.target_id.in_([str(i) for i in chunk]))
                .group_by(AuditEntry.target_id)):
            transfers[int(target)] = int(n)
        captured.update(c for c in session.scalars(select(LeadValue.conversation_id).where(
            LeadValue.org_id == org_id, LeadValue.key.in_(CONTACT_KEYS), LeadValue.conversation_id.in_(chunk)))
            if c is not None)
        for asked_in, query, norm in session.execute(
                select(KbMiss.conversation_id, KbMiss.query, KbMiss.query_norm).where(
                    KbMiss.org_id == org_id, KbMiss.conversation_id.in_(chunk),
                    KbMiss.reason == MissReason.unanswered)):
            if asked_in is None:
                continue
            misses[asked_in] += 1
            questions.append({"org_id": org_id, "conversation_id": asked_in, "day": day,
                              "query_norm": (norm or query)[:200], "query": query[:200]})
    mids = sorted(bot_messages)
    for chunk in _chunks(mids):
        for mid, helpful in session.execute(select(AnswerFeedback.message_id, AnswerFeedback.helpful).where(
                AnswerFeedback.org_id == org_id, AnswerFeedback.message_id.in_(chunk))):
            votes[bot_messages[mid]][0 if helpful else 1] += 1
    who = origins(session, org_id, [c.contact_id for c in convs], scenes)
    flows = leads_reports.flows_by_conversation(session, org_id, ids)
    facts = []
    for c in convs:
        local = c.created_at.astimezone(LOCAL_TZ)
        origin = who.get(c.contact_id)
        row = measure(c, said.get(c.id, ()))
        row.update({
            "org_id": org_id, "conversation_id": c.id, "contact_id": c.contact_id, "day": day, "hour": local.hour,
            "dow": local.weekday(), "started_at": c.created_at, "channel": c.channel,
            "source": origin.source if origin else NO_SOURCE, "campaign_id": origin.campaign_id if origin else None,
            "group_id": c.group_id, "agent_id": c.assignee_id, "transfers": transfers.get(c.id, 0),
            "captured": c.id in captured, "votes_up": votes[c.id][0] if c.id in votes else 0,
            "votes_down": votes[c.id][1] if c.id in votes else 0, "misses": misses.get(c.id, 0)})
        facts.append(row)
    flow_rows = [{"org_id": org_id, "conversation_id": conv_id, "day": day, "flow_key": key[:64]}
                 for conv_id, keys in flows.items() for key in sorted(keys)]
    return facts, flow_rows, questions
