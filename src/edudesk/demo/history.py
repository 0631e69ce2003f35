"""A believable past month for the demo institution, so the management dashboards and quality inspection show
real figures the moment ``edudesk demo`` starts.

The rows are written straight through the models (as tests/analytics/seed.py does) rather than through the areas'
services: the services stamp "now" on everything and would take minutes for a month of chats, while the roll-ups
and inspection only read these raw rows. A fixed random seed makes every run identical. Closed conversations get a
``qc.inspect`` job each (from the flush hook when it is attached, otherwise enqueued here), and
the analytics repair job rolls up the whole month on the server's first start (an org never rolled up is back-filled).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.audit.models import AuditEntry
from edudesk.campaigns.models import Campaign
from edudesk.contacts.models import Contact
from edudesk.conversations.models import Conversation, Message, SenderKind
from edudesk.conversations.states import ConversationState as S
from edudesk.kb.models import AnswerFeedback, KbMiss, MissReason
from edudesk.leads.models import Lead, LeadStatus, LeadValue, ValueSource
from edudesk.localtime import LOCAL_TZ
from edudesk.qc import hooks as qc_hooks
from edudesk.qc.inspection import INSPECT_JOB
from edudesk.routing.models import AgentState, AgentStatusInterval
from edudesk.tickets.models import Ticket, TicketSource
from edudesk.trials.models import BookingStatus, TrialBooking, TrialSession
from edudesk.visitors.models import Visit

DAYS = 30
SEED = 20270101
CAMPAIGN_SCENE = "summer-ad"
SURNAMES = "张王李刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
ROLES = ("妈妈", "爸爸", "女士", "先生", "家长")
# (source_kind, weight, campaign, referrer)
SOURCES = (("search", 40, None, "https://www.baidu.com/s?wd=杭州小学数学辅导"),
           ("ad", 25, CAMPAIGN_SCENE, "https://e.baidu.com/"),
           ("direct", 25, None, ""),
           ("referral", 10, None, "https://mp.weixin.qq.com/"))
CHANNELS = (("web", 55), ("wechat", 35), ("form", 10))
# Questions parents ask and the bot answers (a KB hit), with the bot's reply.
ANSWERED = (
    ("你好，请问数学思维班多少钱一期？", "小学数学思维提高班 ¥3,600 / 期（16 课时），小班 8 人，每周一次 90 分钟。"),
    ("可以先免费试听一次吗", "可以的！每周末都有免费试听课，留下孩子年级和您的手机号，课程顾问会帮您预约。"),
    ("滨江那边有校区吗", "有的，滨江星光校区在江南大道 1688 号 2 楼，周二至周日 9:00–20:30 开放。"),
    ("孩子5岁能上英语启蒙吗", "少儿英语启蒙适合 4–6 岁，外教 + 中教双师，绘本与自然拼读，¥2,980 / 期。"),
    ("周末有课吗", "周六、周日上午和下午都有班，具体时间可以看课表，也可以让课程顾问帮您排。"),
    ("KET 备考班什么时候开课", "剑桥少儿英语 KET/PET 每月初开新班，含 2 次模考，¥5,200 / 期。"),
)
# Questions the knowledge base has no answer for (they show under 未解决问题).
MISSED = ("老师是全职的还是兼职的", "如果孩子跟不上可以换班吗", "能开发票吗", "停车方便吗",
          "上课可以家长旁听吗", "中途不想上了怎么退费", "有没有一对一的课", "寒假班什么时候报名",
          "孩子比较内向会不会跟不上", "学费可以分期吗")
GOOD_CLOSING = "好的，有任何问题随时联系我，祝孩子学习进步！"
AGENT_LINES = ("您好，我是课程顾问{name}，孩子现在几年级了？",
               "了解了，我们建议先来上一节免费试听课，看看孩子适不适合。",
               "方便留一个手机号吗？我把试听时间和地址发给您。")
PROMISE = "您放心，报我们的班保证提分，一学期肯定能上去。"
VISITOR_LINES = ("孩子三年级，数学应用题老出错", "好的，周六上午可以吗", "手机号 {phone}")
DECLINE = "先不留了，我回去和孩子爸爸商量一下"
CSAT_COMMENTS = ("老师很耐心", "回复很快", "", "", "等得有点久", "讲得很清楚")


@dataclass(frozen=True)
class HistoryInfo:
    conversations: int
    messages: int
    leads_with_phone: int
    visits: int


def _at(day: dt.date, minutes: float) -> dt.datetime:
    """``minutes`` after local midnight of ``day`` as the UTC instant the database stores."""
    base = dt.datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)
    return (base + dt.timedelta(minutes=minutes)).astimezone(dt.UTC)


def _hour(rng: random.Random) -> float:
    """A start time in minutes after midnight: busiest 19–22h, some daytime, little before 9."""
    band = rng.choices(((8, 12), (12, 17), (17, 19), (19, 22), (22, 23)), weights=(20, 22, 13, 40, 5))[0]
    return rng.uniform(band[0] * 60, band[1] * 60)


class _History:
    def __init__(self, session: Session, org_id: int, agents: list[int], groups: list[int],
                 courses: list[int], today: dt.date) -> None:
        self.s = session
        self.today = today
        self.org_id = org_id
        self.agents = agents
        self.groups = groups
        self.courses = courses
        self.rng = random.Random(SEED)
        self.n_phone = 0
        self.current_phone = ""
        self.messages = 0
        self.visits = 0
        self.convs: list[int] = []
        self.leads: list[tuple[Lead, dt.datetime]] = []
        self.closed: list[int] = []

    def add(self, obj: Any) -> Any:
        obj.org_id = self.org_id
        self.s.add(obj)
        return obj

    def say(self, conv: Conversation, sender: SenderKind, when: dt.datetime, text: str,
            user_id: int | None = None, extra: dict[str, Any] | None = None) -> Message:
        self.messages += 1
        conv.last_message_at, conv.last_message_text = when, text[:200]
        if sender == SenderKind.visitor:
            conv.last_visitor_message_at = when
        message = Message(conversation_id=conv.id, sender=sender, created_at=when, text=text,
                          sender_user_id=user_id, extra=extra or {})
        self.add(message)
        return message

    def phone(self) -> str:
        self.n_phone += 1
        return f"1380000{self.n_phone:04d}"

    def day(self, day: dt.date) -> int:
        rng = self.rng
        weekend = day.weekday() >= 5
        n = rng.randint(22, 40) if weekend else rng.randint(14, 28)
        for _ in range(n):
            self.conversation(day, _hour(rng))
        return n

    def conversation(self, day: dt.date, minute: float) -> None:
        rng = self.rng
        source, _, campaign, referrer = rng.choices(SOURCES, weights=[s[1] for s in SOURCES])[0]
        channel = rng.choices([c[0] for c in CHANNELS], weights=[c[1] for c in CHANNELS])[0]
        start = _at(day, minute)
        self.current_phone = self.phone()
        name = rng.choice(SURNAMES) + rng.choice(ROLES)
        touch = {"source_kind": source, **({"campaign": campaign} if campaign else {})}
        contact = self.add(Contact(name=name, attributes={"first_touch": touch}))
        # Visits: the pages this visitor viewed before writing, plus a few who looked and left.
        for i in range(rng.randint(2, 5)):
            self.visits += 1
            vs = start - dt.timedelta(minutes=rng.randint(1, 600))
            self.add(Visit(visitor_key=f"v{contact.name}{start.timestamp():.0f}{i}", started_at=vs,
                           last_seen_at=vs + dt.timedelta(minutes=rng.randint(1, 12)), page_views=rng.randint(1, 6),
                           referrer=referrer, landing_url="https://www.qimingxing.example/", source_kind=source,
                           campaign=campaign, device=rng.choice(("mobile", "mobile", "desktop")),
                           contact_id=None))
        self.s.flush()
        if channel == "form":
            self.lead(contact, channel, start, source, campaign, None, captured=True)
            return
        conv = self.add(Conversation(contact_id=contact.id, channel=channel, created_at=start, last_message_at=start,
                                     referrer=referrer or None))
        self.s.flush()
        self.convs.append(conv.id)
        t = start
        question, answer = rng.choice(ANSWERED)
        self.say(conv, SenderKind.visitor, t, question)
        t += dt.timedelta(seconds=2)
        bot = self.say(conv, SenderKind.bot, t, answer)
        self.s.flush()
        if rng.random() < 0.25:
            self.add(AnswerFeedback(message_id=bot.id, helpful=rng.random() < 0.75, created_at=t))
        missed = rng.random() < 0.3
        if missed:
            t += dt.timedelta(seconds=rng.randint(20, 90))
            q = rng.choice(MISSED)
            self.say(conv, SenderKind.visitor, t, q)
            t += dt.timedelta(seconds=2)
            self.say(conv, SenderKind.bot, t, "抱歉，这个问题我还回答不了，可以回复“转人工”找课程顾问。")
            self.add(KbMiss(query=q, query_norm=q, reason=MissReason.unanswered, conversation_id=conv.id,
                            created_at=t))
        captured = False
        roll = rng.random()
        if roll < 0.45:  # the bot alone
            if rng.random() < 0.3:
                t += dt.timedelta(seconds=rng.randint(30, 120))
                self.say(conv, SenderKind.visitor, t, "我留个电话吧：" + self.current_phone)
                captured = True
            conv.state = S.bot
        else:
            captured = self.handover(conv, t, missed, day)
        if roll < 0.45 and not captured and rng.random() < 0.5:
            return
        self.lead(contact, channel, start, source, campaign, conv, captured=captured)

    def handover(self, conv: Conversation, t: dt.datetime, missed: bool, day: dt.date) -> bool:
        rng = self.rng
        t += dt.timedelta(seconds=rng.randint(10, 60))
        self.say(conv, SenderKind.visitor, t, "转人工")
        conv.handoff_reason = "bot_misses" if missed and rng.random() < 0.5 else "visitor_request"
        conv.queued_at = t
        group = rng.choice(self.groups)
        conv.group_id = group
        late = conv.created_at.astimezone(LOCAL_TZ).hour >= 22
        if rng.random() < (0.35 if late else 0.08):  # nobody came: back to the bot
            conv.state = S.bot
            return False
        agent = self.agents[0] if group == self.groups[0] else self.agents[1]
        wait = rng.choice((rng.randint(5, 60), rng.randint(30, 240), rng.randint(120, 900)))
        t += dt.timedelta(seconds=wait)
        conv.assigned_at, conv.assignee_id = t, agent
        self.say(conv, SenderKind.system, t, "课程顾问已接入")
        agent_name = "王老师" if agent == self.agents[0] else "李老师"
        promise = rng.random() < 0.06
        gives_phone = rng.random() < 0.55
        for i, line in enumerate(AGENT_LINES):
            t += dt.timedelta(seconds=rng.randint(5, 40) if i == 0 else rng.randint(15, 150))
            text = line.format(name=agent_name)
            if i == 1 and promise:
                text += PROMISE
            self.say(conv, SenderKind.agent, t, text, user_id=agent)
            if i == 0:
                conv.first_agent_reply_at = t
            t += dt.timedelta(seconds=rng.randint(20, 120))
            reply = VISITOR_LINES[i] if i != 2 or gives_phone else DECLINE
            self.say(conv, SenderKind.visitor, t, reply.format(phone=self.current_phone))
        if rng.random() < 0.06:
            self.add(AuditEntry(action="conversation.transfer", target_type="conversation", target_id=str(conv.id),
                                created_at=t))
        if day >= self.today - dt.timedelta(days=1) and rng.random() < 0.3:
            conv.state = S.assigned  # still being served yesterday evening
            return gives_phone
        if rng.random() > 0.12:  # some agents forget the closing phrase
            t += dt.timedelta(seconds=rng.randint(10, 60))
            self.say(conv, SenderKind.agent, t, GOOD_CLOSING, user_id=agent)
        t += dt.timedelta(seconds=rng.randint(30, 300))
        conv.resolved_at = t
        conv.closed_at = t + dt.timedelta(minutes=30)
        conv.state = S.closed
        if rng.random() < 0.45:
            conv.csat_score = rng.choices((5, 4, 3, 2, 1), weights=(60, 22, 10, 5, 3))[0]
            conv.csat_scale = 5
            conv.csat_comment = rng.choice(CSAT_COMMENTS) or None
        self.closed.append(conv.id)
        return gives_phone

    def lead(self, contact: Contact, channel: str, start: dt.datetime, source: str, campaign: str | None,
             conv: Conversation | None, *, captured: bool) -> None:
        rng = self.rng
        phone = self.current_phone if captured else None
        contact.phone = phone
        when = start + dt.timedelta(minutes=rng.randint(1, 10)) if captured else None
        level = rng.choices(("A", "B", "C"), weights=(25, 40, 35))[0] if captured else "C"
        lead = self.add(Lead(contact_id=contact.id, source_channel=channel, created_at=start, updated_at=start,
                             level=level, campaign=campaign, attribution={"source_kind": source},
                             has_contact=captured, contact_captured_at=when,
                             first_conversation_id=conv.id if conv else None, status=LeadStatus.new))
        self.s.flush()
        if phone and when:
            self.add(LeadValue(lead_id=lead.id, key="phone", value=phone, value_text=phone,
                               source=ValueSource.visitor, conversation_id=conv.id if conv else None,
                               updated_at=when))
            self.leads.append((lead, when))

    def trials(self) -> None:
        """Captured A/B leads book trial classes on the weekend after; most come, some enrol."""
        rng = self.rng
        sessions: dict[dt.date, TrialSession] = {}
        for lead, captured in self.leads:
            if lead.level == "C" or rng.random() > 0.5:
                lead.status = LeadStatus.contacted if rng.random() < 0.5 else LeadStatus.new
                continue
            local = captured.astimezone(LOCAL_TZ).date()
            saturday = local + dt.timedelta(days=(5 - local.weekday()) % 7 or 7)
            if saturday >= self.today:
                continue
            trial = sessions.get(saturday)
            if trial is None:
                trial = self.add(TrialSession(course_id=rng.choice(self.courses), starts_at=_at(saturday, 600),
                                              capacity=30, teacher="王老师", duration_minutes=60))
                self.s.flush()
                sessions[saturday] = trial
            came = rng.random() < 0.7
            self.add(TrialBooking(session_id=trial.id, lead_id=lead.id, contact_id=lead.contact_id,
                                  status=BookingStatus.attended if came else BookingStatus.no_show,
                                  created_at=captured + dt.timedelta(hours=1)))
            trial.booked_count += 1
            lead.status = LeadStatus.attended if came else LeadStatus.trial_booked
            if came and rng.random() < 0.45:
                lead.status = LeadStatus.enrolled
                self.add(AuditEntry(action="lead.status", target_type="lead", target_id=str(lead.id),
                                    detail={"previous": "attended", "status": "enrolled"},
                                    created_at=trial.starts_at + dt.timedelta(days=rng.randint(0, 3))))

    def tickets(self, day: dt.date) -> None:
        rng = self.rng
        for _ in range(rng.randint(0, 3)):
            created = _at(day, rng.uniform(540, 1200))
            due = created + dt.timedelta(hours=2)
            late = rng.random() < 0.2
            answered = due + dt.timedelta(minutes=rng.randint(10, 90)) if late else \
                created + dt.timedelta(minutes=rng.randint(5, 100))
            self.add(Ticket(subject=rng.choice(("退费咨询", "回电预约", "调课申请", "发票开具")),
                            source=rng.choice((TicketSource.agent, TicketSource.callback)),
                            channel=rng.choice(("web", "wechat")), group_id=rng.choice(self.groups),
                            created_at=created, first_response_due_at=due, first_responded_at=answered,
                            first_response_breached_at=due if late else None,
                            resolution_due_at=created + dt.timedelta(days=1),
                            solved_at=created + dt.timedelta(hours=rng.randint(1, 30))))

    def presence(self, day: dt.date) -> None:
        """Each agent's shift: online from the morning, busy stretches, a lunch break, online into the evening."""
        rng = self.rng
        for agent, start in zip(self.agents, (9 * 60, 10 * 60), strict=True):
            t = start + rng.randint(-20, 20)
            for status, length in (("online", 150), ("busy", 40), ("away", 60), ("online", 240), ("busy", 30),
                                   ("online", 180)):
                end = t + length + rng.randint(-10, 10)
                self.add(AgentStatusInterval(user_id=agent, status=status, started_at=_at(day, t),
                                             ended_at=_at(day, end)))
                t = end


def seed_history(session: Session, org_id: int, agent_ids: list[int], group_ids: list[int],
                 course_ids: list[int], *, today: dt.date | None = None) -> HistoryInfo:
    """Writes ``DAYS`` days ending yesterday (Asia/Shanghai) of chats, visits, leads, trials, tickets and agent
    presence for the demo org; enqueues quality inspection of the closed conversations."""
    today = today or dt.datetime.now(LOCAL_TZ).date()
    h = _History(session, org_id, agent_ids, group_ids, course_ids, today)
    h.add(Campaign(scene=CAMPAIGN_SCENE, name="暑期招生百度推广", inbox_ref=0, channel="web", kind="link"))
    for agent in agent_ids:
        if session.scalar(select(AgentState).where(AgentState.org_id == org_id, AgentState.user_id == agent)) is None:
            h.add(AgentState(user_id=agent, max_concurrent=5))
    for n in range(DAYS, 0, -1):
        day = today - dt.timedelta(days=n)
        h.day(day)
        h.tickets(day)
        h.presence(day)
        # Visitors who looked around and never wrote.
        for i in range(h.rng.randint(40, 80)):
            source, _, campaign, referrer = h.rng.choices(SOURCES, weights=[s[1] for s in SOURCES])[0]
            vs = _at(day, _hour(h.rng))
            h.add(Visit(visitor_key=f"look{day:%m%d}{i}", started_at=vs, last_seen_at=vs + dt.timedelta(minutes=2),
                        page_views=h.rng.randint(1, 3), referrer=referrer, source_kind=source, campaign=campaign,
                        landing_url="https://www.qimingxing.example/"))
            h.visits += 1
        h.s.flush()
    h.trials()
    session.flush()
    # With the qc flush hook attached (as ``edudesk demo`` does) the closings were enqueued already.
    done = session.info.get(qc_hooks.ENQUEUED_KEY, set())
    for conv_id in (c for c in h.closed if c not in done):
        jobs.enqueue(session, INSPECT_JOB, {"org_id": org_id, "conversation_id": conv_id}, org_id=org_id)
    session.flush()
    return HistoryInfo(len(h.convs), h.messages, len(h.leads), h.visits)
