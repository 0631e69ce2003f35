"""The hand-worked fixture of docs/metrics.md ("The worked example"): raw rows with exact times, written straight
through the models so every number the tests expect can be worked out on paper from this file."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from edudesk.audit.models import AuditEntry
from edudesk.campaigns.models import Campaign
from edudesk.catalog.models import Course
from edudesk.contacts.models import Contact
from edudesk.conversations.models import Conversation, Message, SenderKind
from edudesk.conversations.states import ConversationState as S
from edudesk.kb.models import AnswerFeedback, KbMiss, MissReason
from edudesk.leads.models import Lead, LeadStatus, LeadValue, ValueSource
from edudesk.localtime import LOCAL_TZ
from edudesk.routing.models import AgentState, AgentStatusInterval, SkillGroup
from edudesk.tickets.models import Ticket, TicketSource
from edudesk.trials.models import BookingStatus, TrialBooking, TrialSession
from edudesk.visitors.models import Visit

DAY = dt.date(2026, 3, 2)  # a Monday
NEXT = DAY + dt.timedelta(days=1)


def at(day: dt.date, hhmmss: str) -> dt.datetime:
    """A local (Asia/Shanghai) wall-clock time as the UTC instant the database stores."""
    h, mi, *rest = (int(x) for x in hhmmss.split(":"))
    return dt.datetime(day.year, day.month, day.day, h, mi, rest[0] if rest else 0, tzinfo=LOCAL_TZ).astimezone(dt.UTC)


@dataclass
class Seeded:
    org_id: int
    agent_id: int
    agent2_id: int
    group_id: int
    campaign_id: int
    conversations: dict[str, int] = field(default_factory=dict)
    leads: dict[str, int] = field(default_factory=dict)
    tickets: dict[str, int] = field(default_factory=dict)


class Writer:
    def __init__(self, session: Session, org_id: int) -> None:
        self.s = session
        self.org_id = org_id

    def add(self, obj: Any) -> Any:
        obj.org_id = self.org_id
        self.s.add(obj)
        self.s.flush()
        return obj

    def contact(self, name: str, phone: str | None = None, touch: dict[str, str] | None = None) -> Contact:
        return self.add(Contact(name=name, phone=phone, attributes={"first_touch": touch} if touch else {}))

    def conversation(self, contact: Contact, channel: str, started: dt.datetime, **kw: Any) -> Conversation:
        return self.add(Conversation(contact_id=contact.id, channel=channel, created_at=started,
                                     last_message_at=started, **kw))

    def say(self, conv: Conversation, sender: SenderKind, when: dt.datetime, text: str = "…",
            extra: dict[str, Any] | None = None, user_id: int | None = None) -> Message:
        return self.add(Message(conversation_id=conv.id, sender=sender, created_at=when, text=text,
                                extra=extra or {}, sender_user_id=user_id))

    def lead(self, contact: Contact, channel: str, created: dt.datetime, *, level: str, source: str,
             campaign: str | None = None, captured: dt.datetime | None = None, conv: Conversation | None = None,
             status: LeadStatus = LeadStatus.new) -> Lead:
        lead = self.add(Lead(contact_id=contact.id, source_channel=channel, created_at=created, updated_at=created,
                             level=level, campaign=campaign, attribution={"source_kind": source},
                             has_contact=captured is not None, contact_captured_at=captured,
                             first_conversation_id=conv.id if conv else None, status=status))
        if captured is not None:
            self.add(LeadValue(lead_id=lead.id, key="phone", value="13800138000", value_text="13800138000",
                               source=ValueSource.visitor, conversation_id=conv.id if conv else None,
                               updated_at=captured))
        return lead


def seed(session: Session, org_id: int, agent_id: int, agent2_id: int) -> Seeded:
    w = Writer(session, org_id)
    group = w.add(SkillGroup(name="小学数学"))
    camp = w.add(Campaign(scene="spring", name="春季推广", inbox_ref=0, channel="web"))
    out = Seeded(org_id, agent_id, agent2_id, group.id, camp.id)

    # c1 — web, 09:00, the bot alone; the visitor left a phone number; script "trial" ran; a 👍 on a bot answer.
    k1 = w.contact("张", "13800138001")
    c1 = w.conversation(k1, "web", at(DAY, "09:00"))
    w.say(c1, SenderKind.visitor, at(DAY, "09:00:00"))
    b1 = w.say(c1, SenderKind.bot, at(DAY, "09:00:01"), extra={"flow": "trial"})
    w.say(c1, SenderKind.visitor, at(DAY, "09:01:00"))
    w.say(c1, SenderKind.bot, at(DAY, "09:01:01"))
    w.add(AnswerFeedback(message_id=b1.id, helpful=True))
    out.leads["L1"] = w.lead(k1, "web", at(DAY, "09:00"), level="A", source="search", captured=at(DAY, "09:05"),
                             conv=c1, status=LeadStatus.enrolled).id

    # c2 — web, 09:30, asked for a human; queued 09:31, 王老师 09:33; replies; resolved 09:40, rated 5/5 at 09:41.
    k2 = w.contact("李")
    c2 = w.conversation(k2, "web", at(DAY, "09:30"), state=S.closed, handoff_reason="visitor_request",
                        queued_at=at(DAY, "09:31"), assigned_at=at(DAY, "09:33"), assignee_id=agent_id,
                        group_id=group.id, resolved_at=at(DAY, "09:40"), closed_at=at(DAY, "09:41"),
                        csat_score=5, csat_scale=5, first_agent_reply_at=at(DAY, "09:33:30"))
    w.say(c2, SenderKind.visitor, at(DAY, "09:30:00"))
    b2 = w.say(c2, SenderKind.bot, at(DAY, "09:30:01"))
    w.add(AnswerFeedback(message_id=b2.id, helpful=False))
    w.say(c2, SenderKind.system, at(DAY, "09:33:00"))
    w.say(c2, SenderKind.agent, at(DAY, "09:33:30"), user_id=agent_id)
    w.say(c2, SenderKind.visitor, at(DAY, "09:34:00"))
    w.say(c2, SenderKind.agent, at(DAY, "09:34:20"), user_id=agent_id)
    w.say(c2, SenderKind.visitor, at(DAY, "09:35:00"))
    w.say(c2, SenderKind.visitor, at(DAY, "09:35:10"))
    w.add(Message(conversation_id=c2.id, sender=SenderKind.agent, created_at=at(DAY, "09:35:20"), text="note",
                  internal=True, org_id=org_id))
    w.say(c2, SenderKind.agent, at(DAY, "09:35:40"), user_id=agent_id)
    out.leads["L2"] = w.lead(k2, "web", at(DAY, "09:30"), level="C", source="ad", campaign="spring", conv=c2).id

    # c3 — wechat, 20:15, the bot missed twice; queued 20:16; nobody came; back to the bot (abandoned). No lead.
    k3 = w.contact(None)
    c3 = w.conversation(k3, "wechat", at(DAY, "20:15"), state=S.bot, handoff_reason="bot_misses",
                        queued_at=at(DAY, "20:16"))
    w.say(c3, SenderKind.visitor, at(DAY, "20:15:00"))
    w.say(c3, SenderKind.bot, at(DAY, "20:15:01"))
    for _ in range(2):
        w.add(KbMiss(query="学费多少？", query_norm="学费多少", reason=MissReason.unanswered, conversation_id=c3.id,
                     created_at=at(DAY, "20:15")))

    # c4 — wechat, 20:40, asked for a human; queued 20:40, 李老师 20:45; transferred once; still being served.
    k4 = w.contact("王")
    c4 = w.conversation(k4, "wechat", at(DAY, "20:40"), state=S.assigned, handoff_reason="visitor_request",
                        queued_at=at(DAY, "20:40"), assigned_at=at(DAY, "20:45"), assignee_id=agent2_id)
    w.say(c4, SenderKind.visitor, at(DAY, "20:40:00"))
    w.say(c4, SenderKind.agent, at(DAY, "20:46:00"), user_id=agent2_id)
    w.say(c4, SenderKind.visitor, at(DAY, "20:47:00"))
    w.say(c4, SenderKind.agent, at(DAY, "20:47:30"), user_id=agent2_id)
    w.add(AuditEntry(action="conversation.transfer", target_type="conversation", target_id=str(c4.id),
                     created_at=at(DAY, "20:46:30")))
    w.add(KbMiss(query="学费多少", query_norm="学费多少", reason=MissReason.unanswered, conversation_id=c4.id))
    w.add(KbMiss(query="有没有周末班", query_norm="有没有周末班", reason=MissReason.unanswered, conversation_id=c4.id))
    w.add(KbMiss(query="不算", query_norm="不算", reason=MissReason.suggested, conversation_id=c4.id))
    out.leads["L3"] = w.lead(k4, "wechat", at(DAY, "20:41"), level="B", source="search", captured=at(DAY, "20:50"),
                             conv=c4, status=LeadStatus.trial_booked).id

    # c5 — web, 21:00, the widget greeted and the visitor never wrote: not a valid conversation.
    k5 = w.contact(None)
    c5 = w.conversation(k5, "web", at(DAY, "21:00"))
    w.say(c5, SenderKind.bot, at(DAY, "21:00:00"))

    # c6 — web, the next day 10:00, the bot alone; the contact came directly (first touch on the contact).
    k6 = w.contact(None, touch={"source_kind": "direct"})
    c6 = w.conversation(k6, "web", at(NEXT, "10:00"))
    w.say(c6, SenderKind.visitor, at(NEXT, "10:00:00"))
    w.say(c6, SenderKind.bot, at(NEXT, "10:00:01"))
    out.conversations = {"c1": c1.id, "c2": c2.id, "c3": c3.id, "c4": c4.id, "c5": c5.id, "c6": c6.id}

    # L4 — a landing-page form, 11:00, came by the spring campaign, phone given at once.
    k7 = w.contact("赵", "13800138007")
    out.leads["L4"] = w.lead(k7, "form", at(DAY, "11:00"), level="A", source="ad", campaign="spring",
                             captured=at(DAY, "11:00")).id

    # Trials: L1 booked at 00:00 the next day for a class on DAY+2 10:00 and attended; L3 booked 21:00 on DAY.
    course = w.add(Course(name="试听课", subject="数学"))
    trial = w.add(TrialSession(course_id=course.id, starts_at=at(DAY + dt.timedelta(days=2), "10:00"), capacity=10))
    w.add(TrialBooking(session_id=trial.id, lead_id=out.leads["L1"], status=BookingStatus.attended,
                       created_at=at(NEXT, "00:00")))
    w.add(TrialBooking(session_id=trial.id, lead_id=out.leads["L3"], status=BookingStatus.booked,
                       created_at=at(DAY, "21:00")))
    w.add(TrialBooking(session_id=trial.id, lead_id=out.leads["L2"], status=BookingStatus.cancelled,
                       created_at=at(DAY, "10:00")))
    w.add(AuditEntry(action="lead.status", target_type="lead", target_id=str(out.leads["L1"]),
                     detail={"previous": "attended", "status": "enrolled"}, created_at=at(DAY + dt.timedelta(days=3),
                                                                                          "09:00")))

    # Tickets: T1 both targets met; T2 first response breached; T3 without a policy.
    t1 = w.add(Ticket(subject="退费咨询", source=TicketSource.agent, channel="web", group_id=group.id,
                      created_at=at(DAY, "09:00"), first_response_due_at=at(DAY, "10:00"),
                      first_responded_at=at(DAY, "09:50"), resolution_due_at=at(NEXT, "10:00"),
                      solved_at=at(NEXT, "09:00"), contact_id=k2.id))
    t2 = w.add(Ticket(subject="回电", source=TicketSource.callback, channel="wechat", group_id=group.id,
                      created_at=at(DAY, "10:00"), first_response_due_at=at(DAY, "11:00"),
                      first_response_breached_at=at(DAY, "11:00"), first_responded_at=at(DAY, "11:30"),
                      resolution_due_at=at(DAY + dt.timedelta(days=5), "10:00")))
    t3 = w.add(Ticket(subject="无 SLA", source=TicketSource.api, channel="web", created_at=at(DAY, "12:00")))
    out.tickets = {"T1": t1.id, "T2": t2.id, "T3": t3.id}

    # Visits: DAY search 4, ad 3 (2 by the spring campaign), direct 3, and a crawler; NEXT direct 2.
    for kind, n, campaign in (("search", 4, None), ("ad", 1, None), ("ad", 2, "spring"), ("direct", 3, None)):
        for i in range(n):
            w.add(Visit(visitor_key=f"{kind}{campaign}{i}", started_at=at(DAY, "08:00"), last_seen_at=at(DAY, "08:00"),
                        source_kind=kind, campaign=campaign))
    w.add(Visit(visitor_key="bot", started_at=at(DAY, "08:00"), last_seen_at=at(DAY, "08:00"), source_kind="search",
                is_bot=True))
    for i in range(2):
        w.add(Visit(visitor_key=f"next{i}", started_at=at(NEXT, "08:00"), last_seen_at=at(NEXT, "08:00"),
                    source_kind="direct"))

    # Presence: 王老师 online 09:00–12:00, busy 12:00–13:00, away 13:00–13:30 (seats 5); 李老师 online 20:00–22:00
    # (seats 2).
    w.add(AgentState(user_id=agent_id, max_concurrent=5))
    w.add(AgentState(user_id=agent2_id, max_concurrent=2))
    for user, status, start, end in ((agent_id, "online", "09:00", "12:00"), (agent_id, "busy", "12:00", "13:00"),
                                     (agent_id, "away", "13:00", "13:30"), (agent2_id, "online", "20:00", "22:00")):
        w.add(AgentStatusInterval(user_id=user, status=status, started_at=at(DAY, start), ended_at=at(DAY, end)))
    return out


def seed_other_org(session: Session, org_id: int) -> None:
    """Org B: one valid conversation with a captured lead on DAY — none of it may show in org A's numbers."""
    w = Writer(session, org_id)
    k = w.contact("外", "13900139000")
    c = w.conversation(k, "web", at(DAY, "09:10"))
    w.say(c, SenderKind.visitor, at(DAY, "09:10"))
    w.lead(k, "web", at(DAY, "09:10"), level="A", source="search", captured=at(DAY, "09:11"), conv=c)
    w.add(Visit(visitor_key="b", started_at=at(DAY, "09:00"), last_seen_at=at(DAY, "09:00"), source_kind="search"))
