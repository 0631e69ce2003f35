"""Canned-reply factories: a few replies of a tutoring school, shared and personal, in org A."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from edudesk.auth.models import User
from edudesk.canned import service as canned_service
from edudesk.canned.text import CannedInput
from edudesk.db import Database
from tests.conftest import TwoOrgs


def add(database: Database, user: User, shortcut: str, text: str, *, title: str = "", category: str = "",
        shared: bool = False, uses: int = 0) -> int:
    with database.session() as session:
        reply = canned_service.create(session, user, CannedInput(shortcut=shortcut, text=text, title=title,
                                                                 category=category, shared=shared))
        reply.use_count = uses
        session.commit()
        return reply.id


@dataclass
class Replies:
    ids: dict[str, int] = field(default_factory=dict)  # "shared:xf" / "agent:xf" → id


@pytest.fixture
def replies(database: Database, orgs: TwoOrgs) -> Replies:
    """Org A: shared /xf (学费), /xfbz (学费标准, used more), /st (试听); the agent's own /xf shadowing the shared
    one and /wb; the second agent's own /secret. Org B: a shared /xf of its own."""
    sup, agent, agent2 = orgs.a.users["supervisor"], orgs.a.users["agent"], orgs.a.users["agent2"]
    r = Replies()
    r.ids["shared:xf"] = add(database, sup, "xf", "小学一对一 200 元/课时。", title="学费", category="课程",
                             shared=True, uses=3)
    r.ids["shared:xfbz"] = add(database, sup, "xfbz", "收费标准见附件。", title="学费标准", category="课程",
                               shared=True, uses=9)
    r.ids["shared:st"] = add(database, sup, "st", "{visitor_name}您好，可以免费试听一节，学费到店再谈。",
                             title="预约试听", category="课程", shared=True, uses=1)
    r.ids["agent:xf"] = add(database, agent, "xf", "王老师的学费说法：{agent_name}帮您算一下。", title="我的学费")
    r.ids["agent:wb"] = add(database, agent, "wb", "稍后我把课表发您微信～", title="晚点发课表", category="跟进")
    r.ids["agent2:secret"] = add(database, agent2, "secret", "李老师的私人话术", title="李老师私藏")
    r.ids["b:xf"] = add(database, orgs.b.users["supervisor"], "xf", "乙机构的学费", title="乙学费", shared=True)
    return r
