"""Seeds one org on PostgreSQL with a year of service history for ``dashboards.py``: N conversations with about ten
messages each (1,000,000 messages for the default 100,000 conversations), their contacts, leads and phone values,
trial bookings, tickets with SLA targets, visits, knowledge-base misses, 👍/👎 votes, transfers and agents' status
stretches — written with ``COPY`` (psycopg), so a million messages take about a minute, not an hour of ORM inserts.

The generator is seeded: the same arguments give the same rows. Every NOT NULL column the models fill in Python is
filled here from the model's own default, so the rows are what the app would have written.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Table

from edudesk.audit.models import AuditEntry
from edudesk.contacts.models import Contact
from edudesk.conversations.models import Conversation, Message
from edudesk.kb.models import AnswerFeedback, KbMiss
from edudesk.leads.models import Lead, LeadValue
from edudesk.localtime import LOCAL_TZ
from edudesk.routing.models import AgentStatusInterval
from edudesk.tickets.models import Ticket
from edudesk.trials.models import TrialBooking
from edudesk.visitors.models import Visit

HOURS = [0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1, 2, 4, 5, 5, 4, 4, 5, 5, 5, 4, 5, 7, 9, 9, 6, 2]
QUESTIONS = ["学费多少", "有没有周末班", "老师是哪里毕业的", "可以退费吗", "上课地点在哪", "有没有线上课",
             "几个人一个班", "怎么报名", "试听收费吗", "暑假班什么时候开始"]


def _default(column: Any) -> Any:
    default = column.default
    if default is None:
        return None
    if default.is_callable:
        return default.arg(None)
    return default.arg


def _text(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return getattr(value, "value", value)


def copy_rows(conn: psycopg.Connection, table: Table, rows: Iterable[dict[str, Any]]) -> int:
    """COPY ``rows`` into ``table``; columns a row leaves out get the model's default (ids included: give them)."""
    columns = [c for c in table.columns]
    names = ", ".join(f'"{c.name}"' for c in columns)
    fillers = {c.name: c for c in columns}
    n = 0
    with conn.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([_text(row[name]) if name in row else _text(_default(fillers[name]))
                            for name in fillers])
            n += 1
    return n


def next_ids(conn: psycopg.Connection, tables: Iterable[str]) -> dict[str, int]:
    out = {}
    for name in tables:
        found = conn.execute(f'SELECT COALESCE(MAX(id), 0) + 1 FROM "{name}"').fetchone()  # noqa: S608
        out[name] = int(found[0]) if found else 1
    return out


def reset_sequences(conn: psycopg.Connection, tables: Iterable[str]) -> None:
    for name in tables:
        conn.execute(f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "  # noqa: S608
                     f'(SELECT COALESCE(MAX(id), 1) FROM "{name}"))')


@dataclass
class Plan:
    org_id: int
    agent_ids: list[int]
    conversations: int = 100_000
    days: int = 365
    end: dt.date = dt.date.today() - dt.timedelta(days=1)
    seed: int = 15


def _moment(rng: random.Random, plan: Plan) -> dt.datetime:
    day = plan.end - dt.timedelta(days=rng.randrange(plan.days))
    hour = rng.choices(range(24), HOURS)[0]
    local = dt.datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=LOCAL_TZ)
    return local.astimezone(dt.UTC)


def seed(conn: psycopg.Connection, plan: Plan) -> dict[str, int]:
    """Writes the history; returns rows per table. Commits once at the end."""
    rng = random.Random(plan.seed)
    o = plan.org_id
    tables = [t.__table__ for t in (Contact, Conversation, Message, Lead, LeadValue, Ticket, Visit, KbMiss,
                                    AnswerFeedback, AuditEntry, TrialBooking, AgentStatusInterval)]
    ids = next_ids(conn, [t.name for t in tables] + ["skill_groups", "courses", "trial_sessions"])
    counts: dict[str, int] = {}
    group_ids = []
    for i in range(3):
        row = conn.execute("INSERT INTO skill_groups (org_id, name, description, strategy, queue_timeout_minutes) "
                           "VALUES (%s, %s, '', 'least_busy', 10) RETURNING id", (o, f"组{ids['skill_groups'] + i}"))
        group_ids.append(int(row.fetchone()[0]))  # type: ignore[index]
    course = int(conn.execute("INSERT INTO courses (org_id, name, subject, grades, price_text, description, active) "
                              "VALUES (%s, '试听课', '数学', '', '', '', true) RETURNING id", (o,)).fetchone()[0])  # type: ignore[index]
    session_ids = []
    for d in range(0, plan.days + 7, 7):
        starts = dt.datetime.combine(plan.end - dt.timedelta(days=d), dt.time(2, 0), dt.UTC)
        session_ids.append(int(conn.execute(
            "INSERT INTO trial_sessions (org_id, course_id, starts_at, duration_minutes, capacity, booked_count, "
            "teacher, note, cancelled, created_at) VALUES (%s, %s, %s, 60, 1000, 0, '', '', false, %s) RETURNING id",
            (o, course, starts, starts)).fetchone()[0]))  # type: ignore[index]
    for agent in plan.agent_ids:
        conn.execute("INSERT INTO agent_states (org_id, user_id, status, max_concurrent, status_changed_at) "
                     "VALUES (%s, %s, 'online', 5, now()) ON CONFLICT DO NOTHING", (o, agent))

    convs: list[dict[str, Any]] = []
    msgs: list[dict[str, Any]] = []
    contacts: list[dict[str, Any]] = []
    leads: list[dict[str, Any]] = []
    values: list[dict[str, Any]] = []
    tickets: list[dict[str, Any]] = []
    misses: list[dict[str, Any]] = []
    votes: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    bookings: list[dict[str, Any]] = []
    visits: list[dict[str, Any]] = []
    mid = ids["messages"]
    for n in range(plan.conversations):
        cid, kid = ids["conversations"] + n, ids["contacts"] + n
        start = _moment(rng, plan)
        channel = rng.choices(["web", "wechat", "wecom"], [6, 3, 1])[0]
        source = rng.choices(["search", "ad", "social", "direct", "referral"], [4, 3, 1, 2, 1])[0]
        contacts.append({"id": kid, "org_id": o, "name": rng.choice([None, "张", "李女士", "王"]),
                         "first_seen_at": start, "last_seen_at": start,
                         "attributes": {"first_touch": {"source_kind": source}}})
        handed = rng.random() < 0.35
        served = handed and rng.random() < 0.85
        agent = rng.choice(plan.agent_ids) if served else None
        conv: dict[str, Any] = {"id": cid, "org_id": o, "contact_id": kid, "channel": channel, "created_at": start,
                                "state": "bot", "group_id": rng.choice(group_ids) if handed else None}
        clock = start
        n_msgs = rng.randint(2, 18)
        for k in range(n_msgs):
            clock += dt.timedelta(seconds=rng.randint(3, 90))
            if handed and k == 2:
                conv.update(handoff_reason=rng.choice(["visitor_request", "bot_misses", "complaint"]),
                            queued_at=clock, state="queued")
                if served:
                    clock += dt.timedelta(seconds=rng.randint(5, 400))
                    conv.update(assigned_at=clock, assignee_id=agent, state="assigned")
            sender = "visitor" if k % 2 == 0 else ("agent" if served and k > 2 else "bot")
            if sender == "agent" and "first_agent_reply_at" not in conv:
                conv["first_agent_reply_at"] = clock
            msgs.append({"id": mid, "org_id": o, "conversation_id": cid, "sender": sender, "text": "消息内容",
                         "created_at": clock, "sender_user_id": agent if sender == "agent" else None})
            if sender == "bot" and rng.random() < 0.05:
                votes.append({"id": ids["kb_answer_feedback"] + len(votes), "org_id": o, "message_id": mid,
                              "helpful": rng.random() < 0.7, "created_at": clock})
            mid += 1
        if served and rng.random() < 0.9:
            conv.update(state="closed", resolved_at=clock + dt.timedelta(seconds=30),
                        closed_at=clock + dt.timedelta(seconds=90))
            if rng.random() < 0.4:
                conv.update(csat_score=rng.choices([1, 2, 3, 4, 5], [1, 1, 2, 4, 8])[0], csat_scale=5)
        elif handed and not served:
            conv["state"] = "bot"
        conv["last_message_at"] = clock
        convs.append(conv)
        if served and rng.random() < 0.08:
            audits.append({"id": ids["audit_log"] + len(audits), "org_id": o, "action": "conversation.transfer",
                           "target_type": "conversation", "target_id": str(cid), "created_at": clock})
        if rng.random() < 0.1:
            q = rng.choice(QUESTIONS)
            misses.append({"id": ids["kb_misses"] + len(misses), "org_id": o, "query": q, "query_norm": q,
                           "reason": "unanswered", "conversation_id": cid, "created_at": start})
        for _ in range(rng.choice([1, 2, 3, 4])):
            visits.append({"id": ids["visitor_visits"] + len(visits), "org_id": o, "visitor_key": f"v{kid}",
                           "contact_id": kid, "started_at": start - dt.timedelta(minutes=rng.randint(1, 600)),
                           "last_seen_at": start, "source_kind": source, "page_views": 3})
        if rng.random() < 0.4:
            lid = ids["leads"] + len(leads)
            captured = rng.random() < 0.6
            lead = {"id": lid, "org_id": o, "contact_id": kid, "source_channel": channel, "created_at": start,
                    "updated_at": start, "level": rng.choices("ABC", [1, 2, 3])[0],
                    "attribution": {"source_kind": source}, "has_contact": captured, "first_conversation_id": cid,
                    "owner_id": agent}
            if captured:
                lead["contact_captured_at"] = start + dt.timedelta(minutes=rng.randint(1, 30))
                values.append({"id": ids["lead_values"] + len(values), "org_id": o, "lead_id": lid, "key": "phone",
                               "value": "13800000000", "value_text": "13800000000", "source": "visitor",
                               "conversation_id": cid, "updated_at": start})
                if rng.random() < 0.25:
                    bookings.append({"id": ids["trial_bookings"] + len(bookings), "org_id": o,
                                     "session_id": rng.choice(session_ids), "lead_id": lid, "contact_id": kid,
                                     "status": rng.choice(["booked", "attended", "no_show"]),
                                     "created_at": start + dt.timedelta(hours=rng.randint(1, 72))})
            leads.append(lead)
        if handed and rng.random() < 0.15:
            due = start + dt.timedelta(hours=2)
            done = start + dt.timedelta(minutes=rng.randint(10, 240))
            tickets.append({"id": ids["tickets"] + len(tickets), "org_id": o, "subject": "回电", "source": "callback",
                            "channel": channel, "group_id": conv["group_id"], "contact_id": kid, "created_at": start,
                            "updated_at": start, "first_response_due_at": due, "first_responded_at": done,
                            "first_response_breached_at": due if done > due else None})
    intervals = []
    for d in range(plan.days):
        day = plan.end - dt.timedelta(days=d)
        for agent in plan.agent_ids:
            t = dt.datetime.combine(day, dt.time(9), LOCAL_TZ).astimezone(dt.UTC)
            for status, hours in (("online", 3), ("busy", 1), ("away", 0.5), ("online", 4.5)):
                end = t + dt.timedelta(hours=hours)
                intervals.append({"id": ids["agent_status_intervals"] + len(intervals), "org_id": o,
                                  "user_id": agent, "status": status, "started_at": t, "ended_at": end})
                t = end
    for table, rows in ((Contact, contacts), (Conversation, convs), (Message, msgs), (Lead, leads),
                        (LeadValue, values), (Ticket, tickets), (Visit, visits), (KbMiss, misses),
                        (AnswerFeedback, votes), (AuditEntry, audits), (TrialBooking, bookings),
                        (AgentStatusInterval, intervals)):
        counts[table.__tablename__] = copy_rows(conn, table.__table__, rows)
    reset_sequences(conn, [t.name for t in tables])
    conn.commit()
    return counts

