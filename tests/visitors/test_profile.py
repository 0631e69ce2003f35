"""profile_of: one call with everything the console shows beside the chat, scoped by org, phone masked."""

from __future__ import annotations

import datetime as dt

import pytest

from edudesk.audit.service import Actor
from edudesk.channels.base import InboundMessage
from edudesk.db import Database, NotFoundError
from edudesk.inbound import service as inbound_service
from edudesk.visitors import service as visitors_service
from tests.conftest import TwoOrgs
from tests.visitors.factories import add_visit

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def test_profile_of_a_contact(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        actor = Actor(orgs.a.id, label="t")
        visitors_service.add_pattern(session, actor, pattern="/courses/art", course_id=None, course_name="少儿美术")
        visitors_service.add_pattern(session, actor, pattern="*kaoyan*", course_id=None, course_name="考研数学")
        result = inbound_service.receive(session, InboundMessage(orgs.a.id, "web", "v1", "m1",
                                                                 text="美术课多少钱？电话 13912345678"),
                                         agents_online=True)
        contact_id = result.conversation.contact_id
        first = add_visit(session, orgs.a.id, contact_id=contact_id, started_at=T0, source_kind="search",
                          pages=["https://s.example/?wd=x", "https://s.example/courses/art/intro"],
                          source={"search_engine": "baidu", "search_keyword": "少儿美术"})
        add_visit(session, orgs.a.id, contact_id=contact_id, started_at=T0 + dt.timedelta(days=1), is_bot=True,
                  pages=["https://s.example/courses/kaoyan"])
        last = add_visit(session, orgs.a.id, contact_id=contact_id, started_at=T0 + dt.timedelta(days=2),
                         pages=[("https://s.example/courses/art/price", "美术课价格"), "https://s.example/c/kaoyan"],
                         campaign="spring", source={"utm_campaign": "spring"}, source_kind="campaign")
        session.commit()

        p = visitors_service.profile_of(session, orgs.a.id, contact_id)
        assert p.first_touch is not None and p.first_touch.visit_id == first.id
        assert p.first_touch.source["search_keyword"] == "少儿美术"
        assert p.last_touch is not None and p.last_touch.visit_id == last.id and p.last_touch.campaign == "spring"
        assert (p.visits, p.page_views) == (2, 4)  # the crawler's visit left out
        assert [c.model_dump() for c in p.courses] == [{"course": "少儿美术", "views": 2},
                                                        {"course": "考研数学", "views": 1}]
        assert p.recent_pages[0].url == "https://s.example/c/kaoyan" and p.recent_pages[1].title == "美术课价格"
        assert p.recent_pages[1].course == "少儿美术"
        assert p.questions == ["美术课多少钱？电话 139****5678"]  # masked with the lead's fields
        assert "asked_price" in p.signals
        assert p.lead is not None and p.lead.fields["手机号"] == "139****5678"
        assert any("手机号" in r for r in p.lead.reasons)
        shown = visitors_service.profile_of(session, orgs.a.id, contact_id, show_phone=True)
        assert shown.lead is not None and shown.lead.fields["手机号"] == "13912345678"
        assert shown.questions == ["美术课多少钱？电话 13912345678"]
        with pytest.raises(NotFoundError):
            visitors_service.profile_of(session, orgs.b.id, contact_id)


def test_profile_of_a_contact_with_nothing_yet(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        result = inbound_service.receive(session, InboundMessage(orgs.a.id, "web", "v2", "m1", text="你好"),
                                         agents_online=True)
        p = visitors_service.profile_of(session, orgs.a.id, result.conversation.contact_id)
        assert p.first_touch is None and p.last_touch is None and (p.visits, p.page_views) == (0, 0)
        assert p.courses == [] and p.lead is None and p.tags == [] and p.questions == ["你好"]
