"""Fixed CSAT data: resolved conversations with known agents, groups, scales and scores (see test_reports.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from edudesk.contacts import service as contacts_service
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState
from edudesk.db import Database
from edudesk.routing.models import SkillGroup
from tests.conftest import TwoOrgs

SHANGHAI = ZoneInfo("Asia/Shanghai")
START, END = dt.date(2026, 11, 1), dt.date(2026, 11, 7)


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


@dataclass
class Seeded:
    math: int
    english: int
    low_comment_conv: int


def add(database: Database, org_id: int, visitor: str, *, resolved: dt.datetime | None, assignee: int | None = None,
        group: int | None = None, score: int | None = None, scale: int | None = None, comment: str | None = None
        ) -> int:
    with database.session() as session:
        contact = contacts_service.find_or_create(session, org_id, "web", visitor)
        conv = Conversation(org_id=org_id, contact_id=contact.id, channel="web",
                            state=ConversationState.closed if resolved else ConversationState.bot,
                            assignee_id=assignee, group_id=group, resolved_at=resolved,
                            closed_at=resolved + dt.timedelta(minutes=5) if resolved else None,
                            csat_score=score, csat_scale=scale, csat_comment=comment)
        session.add(conv)
        session.commit()
        return conv.id


def seed(database: Database, orgs: TwoOrgs) -> Seeded:
    """Org A, 1–7 November 2026 (Asia/Shanghai):

    | conv | agent | group | scale | score | normalised | satisfied |
    | c1 | 王老师 | 数学 | 5 | 5 | 1 | yes |  (00:05 on the 1st: 31 October in UTC, still in the period)
    | c2 | 王老师 | 数学 | 5 | 4 | 0.75 | yes |  (23:55 on the 7th)
    | c3 | 王老师 | 数学 | 3 | 2 | 0.5 | no |
    | c4 | 王老师 | 英语 | 2 | 1 | 0 | no | low, with a comment
    | c5 | 王老师 | — | unrated |
    | c6 | 李老师 | 数学 | (none: five stars) | 2 | 0.25 | no | low
    | c7 | 李老师 | 英语 | 3 | 3 | 1 | yes |
    | c8 | — | — | unrated |
    Outside: resolved just before and just after the period, never resolved, and org B's."""
    a, b = orgs.a, orgs.b
    wang, li = a.users["agent"].id, a.users["agent2"].id
    with database.session() as session:
        math, english = SkillGroup(org_id=a.id, name="数学"), SkillGroup(org_id=a.id, name="英语")
        other = SkillGroup(org_id=b.id, name="乙的组")
        session.add_all([math, english, other])
        session.commit()
        math_id, english_id, other_id = math.id, english.id, other.id
    add(database, a.id, "v1", resolved=at(1, 0, 5), assignee=wang, group=math_id, score=5, scale=5)
    add(database, a.id, "v2", resolved=at(7, 23, 55), assignee=wang, group=math_id, score=4, scale=5,
        comment="还不错")
    add(database, a.id, "v3", resolved=at(3, 10), assignee=wang, group=math_id, score=2, scale=3)
    low = add(database, a.id, "v4", resolved=at(4, 10), assignee=wang, group=english_id, score=1, scale=2,
              comment="<b>回复太慢</b>")
    add(database, a.id, "v5", resolved=at(4, 11), assignee=wang)
    add(database, a.id, "v6", resolved=at(5, 10), assignee=li, group=math_id, score=2, scale=None)
    add(database, a.id, "v7", resolved=at(6, 10), assignee=li, group=english_id, score=3, scale=3)
    add(database, a.id, "v8", resolved=at(6, 11))
    add(database, a.id, "out1", resolved=at(31, 23, 59, month=10), assignee=wang, group=math_id, score=1, scale=5,
        comment="期外的差评")
    add(database, a.id, "out2", resolved=at(8, 0, 0), assignee=wang, group=math_id, score=1, scale=5)
    add(database, a.id, "out3", resolved=None, assignee=wang)
    add(database, b.id, "b1", resolved=at(3, 10), assignee=b.users["agent"].id, group=other_id, score=1, scale=5,
        comment="乙机构的差评")
    return Seeded(math=math_id, english=english_id, low_comment_conv=low)
