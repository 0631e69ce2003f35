"""The auto-invite engine on a real database with frozen time: seconds on page, one invitation per page view,
the per-day cap (by the local calendar day), business hours, source, a human conversation; what a reply to each
kind of speaker does; and the counts per rule."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.db import Database
from edudesk.events import DomainEvent
from edudesk.hours import service as hours_service
from edudesk.leads import service as leads_service
from edudesk.nlp.extract import extract
from edudesk.routing import presence
from edudesk.routing import service as routing_service
from edudesk.visitors import invitations
from edudesk.visitors.autoinvite import AutoInviter
from edudesk.visitors.invitation_models import Invitation
from edudesk.visitors.live import SOCKET_TTL, LiveVisitor, MemoryRegistry
from edudesk.visitors.tracker import LiveTracker
from tests.conftest import TwoOrgs
from tests.visitors.live_helpers import page_view

# Monday 2026-03-02 10:00 in Shanghai (business hours below: weekdays 09:00–18:00).
MONDAY_10 = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
PRICE = "https://school.example/course/price"


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.now = at.timestamp()

    def __call__(self) -> float:
        return self.now

    def at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now, dt.UTC)


class World:
    def __init__(self, database: Database, org_id: int, clock: Clock) -> None:
        self.db, self.org_id, self.clock = database, org_id, clock
        self.registry = MemoryRegistry(clock)
        self.engine = AutoInviter(database, self.registry, clock)
        self.tracker = LiveTracker(self.registry, clock)
        with database.session() as session:
            self.contact_id = contacts_service.find_or_create(session, org_id, "web", "v1").id
            session.commit()
        self.tracker.socket_opened(org_id, "v1", self.contact_id, PRICE, "")

    def rule(self, **fields: Any) -> int:
        form = invitations.RuleForm(**{"name": "价格页", "message": "看价格吗？我来帮您", **fields})
        with self.db.session() as session:
            rule_id = invitations.save_rule(session, Actor(self.org_id, label="t"), form).id
            session.commit()
        self.engine.forget(self.org_id)
        return rule_id

    def view(self, url: str = PRICE, **kw: Any) -> None:
        self.tracker.on_event(_event(self.org_id, page_view("v1", url, contact_id=self.contact_id,
                                                             at=self.clock.at(), **kw)))
        self.tracker.heartbeat()

    def visitor(self) -> LiveVisitor:
        found = self.registry.get(self.org_id, "v1")
        assert found is not None
        return found

    def check(self) -> int:
        return self.engine.check(self.org_id, [self.visitor()])

    def sent(self) -> list[Invitation]:
        with self.db.session() as session:
            return list(session.scalars(select(Invitation).order_by(Invitation.id)))


def _event(org_id: int, data: dict[str, Any]) -> DomainEvent:
    return DomainEvent("visitor.page_viewed", org_id, data)


@pytest.fixture
def world(database: Database, orgs: TwoOrgs) -> World:
    clock = Clock(MONDAY_10)
    w = World(database, orgs.a.id, clock)
    with database.session() as session:
        hours_service.save(session, Actor(orgs.a.id, label="t"), group_id=None, enabled=True, closed_message="",
                           spec={"timezone": "Asia/Shanghai", "weekly": {
                               d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}})
        session.commit()
    return w


def test_seconds_on_page_and_one_invitation_per_view(world: World) -> None:
    world.rule(url_pattern="*/price*", min_seconds="30")
    world.view(landing=True)
    assert world.check() == 0
    world.clock.now += 29
    assert world.check() == 0
    world.clock.now += 2
    assert world.check() == 1
    world.clock.now += 5
    assert world.check() == 0  # the same page view
    [inv] = world.sent()
    assert inv.view_key == world.visitor().view_key and inv.page_url == PRICE and inv.text == "看价格吗？我来帮您"


def test_the_page_pattern_must_match(world: World) -> None:
    world.rule(url_pattern="*/refund*")
    world.view(landing=True)
    assert world.check() == 0


def test_a_page_view_fires_a_rule_without_seconds_at_once(world: World) -> None:
    world.rule(url_pattern="price")
    sent: list[int] = []

    class Engine:
        def on_views(self, org_id: int, visitors: list[LiveVisitor]) -> None:
            sent.append(world.engine.check(org_id, visitors))

        def on_timer(self, org_id: int, visitors: list[LiveVisitor]) -> None:
            raise AssertionError("not a timer")

        def wants_timer(self, org_id: int) -> bool:
            return False

    world.tracker.engine = Engine()
    world.view(landing=True)
    assert sent == [1]
    world.tracker.on_event(_event(world.org_id, page_view("not-here", PRICE)))  # a socket on another instance
    assert sent == [1]


def test_the_timer_judges_this_instances_socket_visitors(world: World) -> None:
    world.tracker.engine = world.engine
    world.view(landing=True)
    world.tracker.tick()
    assert world.sent() == []  # no rule
    world.rule(min_seconds="20")
    world.view()  # judged at once: too early
    world.clock.now += 21
    world.tracker.tick()
    assert len(world.sent()) == 1


def test_the_daily_cap_counts_the_local_calendar_day(world: World) -> None:
    world.rule(max_per_day="2")
    for _ in range(3):
        world.view()
        world.check()
        world.clock.now += 60
    assert len(world.sent()) == 2
    world.clock.now = dt.datetime(2026, 3, 2, 16, 1, tzinfo=dt.UTC).timestamp()  # 00:01 Tuesday in Shanghai
    world.view()
    assert world.check() == 1


def test_business_hours_only(world: World) -> None:
    world.rule(business_hours_only=True)
    world.clock.now = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC).timestamp()  # 22:00 Monday in Shanghai
    world.view(landing=True)
    assert world.check() == 0
    world.clock.now = dt.datetime(2026, 3, 3, 1, 30, tzinfo=dt.UTC).timestamp()  # 09:30 Tuesday
    world.view()
    assert world.check() == 1


@pytest.mark.parametrize(("rule", "source_kind", "source", "expected"), [
    ({"source_kind": "ad"}, "search", {}, 0),
    ({"source_kind": "search"}, "search", {}, 1),
    ({"campaign": "exam2026"}, "campaign", {"utm_campaign": "exam2026"}, 1),
    ({"campaign": "exam2026"}, "campaign", {"utm_campaign": "summer"}, 0),
    ({"keyword": "编程"}, "search", {"search_keyword": "少儿编程哪家好"}, 1),
    ({"keyword": "编程"}, "search", {"search_keyword": "英语"}, 0),
])
def test_source_conditions(world: World, rule: dict[str, str], source_kind: str, source: dict[str, str],
                           expected: int) -> None:
    world.rule(**rule)
    world.view(landing=True, source_kind=source_kind, source=source)
    assert world.check() == expected


def test_never_while_a_human_has_the_visitor_nor_when_the_socket_is_gone(world: World, orgs: TwoOrgs) -> None:
    world.rule()
    with world.db.session() as session:
        contact = contacts_service.get(session, orgs.a.id, world.contact_id)
        conv = conversations_service.open_conversation(session, contact, "web")
        conversations_service.handoff(session, conv, "visitor", agents_online=True)
        session.commit()
    world.view(landing=True)
    assert world.check() == 0
    world.clock.now += SOCKET_TTL + 1  # no heartbeat: the widget is gone
    assert world.engine.check(orgs.a.id, [world.visitor()]) == 0


def _reply(world: World) -> Any:
    with world.db.session() as session:
        inv = invitations.take_up(session, world.org_id, world.contact_id, world.sent()[-1].id,
                                  now=world.clock.at())
        session.commit()
        assert inv is not None
        conv = conversations_service.get(session, world.org_id, inv.conversation_id or 0)
        msgs = conversations_service.messages_as_dicts(session, world.org_id, conv.id, include_internal=False)
        return conv.state.value, conv.assignee_id, conv.group_id, [(m["sender"], m["sender_name"]) for m in msgs]


def test_a_reply_goes_to_the_rules_agent(world: World, orgs: TwoOrgs) -> None:
    world.rule(speaker=f"agent:{orgs.a.users['agent'].id}")
    world.view(landing=True)
    world.check()
    state, assignee, _, msgs = _reply(world)
    assert (state, assignee) == ("assigned", orgs.a.users["agent"].id) and ("agent", "王老师") in msgs


def test_a_reply_to_an_agent_at_capacity_waits_in_the_queue(world: World, orgs: TwoOrgs) -> None:
    agent = orgs.a.users["agent"]
    with world.db.session() as session:
        presence.set_max_concurrent(session, Actor(orgs.a.id, label="t"), agent, 1)
        busy = contacts_service.find_or_create(session, orgs.a.id, "web", "other")
        conv = conversations_service.open_conversation(session, busy, "web")
        conversations_service.send_agent_message(session, agent, conv.id, "您好")
        session.commit()
    world.rule(speaker=f"agent:{agent.id}")
    world.view(landing=True)
    world.check()
    state, assignee, _, msgs = _reply(world)
    assert (state, assignee) == ("queued", None) and ("bot", "王老师") in msgs


def test_a_reply_joins_the_rules_group_queue(world: World, orgs: TwoOrgs) -> None:
    with world.db.session() as session:
        group = routing_service.create_group(session, Actor(orgs.a.id, label="t"), "课程顾问")
        session.commit()
        group_id = group.id
    world.rule(speaker=f"group:{group_id}", bot_name="小艾")
    world.view(landing=True)
    world.check()
    state, _, group_of_conv, msgs = _reply(world)
    assert (state, group_of_conv) == ("queued", group_id) and ("bot", "小艾") in msgs


def test_a_reply_to_the_bot_stays_with_the_bot(world: World) -> None:
    world.rule()
    world.view(landing=True)
    world.check()
    state, assignee, _, msgs = _reply(world)
    assert (state, assignee) == ("bot", None) and msgs == [("bot", "智能助手")]


def test_a_late_reply_is_an_ordinary_message(world: World) -> None:
    world.rule()
    world.view(landing=True)
    world.check()
    world.clock.now += invitations.REPLY_WINDOW.total_seconds() + 1
    with world.db.session() as session:
        assert invitations.take_up(session, world.org_id, world.contact_id, world.sent()[-1].id,
                                   now=world.clock.at()) is None


def test_only_the_visitors_own_unanswered_invitation_is_taken_up(world: World, orgs: TwoOrgs) -> None:
    world.rule()
    world.view(landing=True)
    world.check()
    inv_id = world.sent()[-1].id
    with world.db.session() as session:
        other = contacts_service.find_or_create(session, orgs.a.id, "web", "someone-else").id
        assert invitations.take_up(session, world.org_id, other, inv_id, now=world.clock.at()) is None
        assert invitations.take_up(session, orgs.b.id, world.contact_id, inv_id, now=world.clock.at()) is None
        assert invitations.take_up(session, world.org_id, world.contact_id, inv_id + 1000,
                                   now=world.clock.at()) is None
        assert invitations.take_up(session, world.org_id, world.contact_id, inv_id, now=world.clock.at())
        session.flush()
        assert invitations.take_up(session, world.org_id, world.contact_id, inv_id, now=world.clock.at()) is None


def test_counts_per_rule(world: World, orgs: TwoOrgs) -> None:
    first = world.rule(name="一")
    world.view(landing=True)
    world.check()
    _reply(world)
    with world.db.session() as session:
        contact = contacts_service.get(session, orgs.a.id, world.contact_id)
        text = "我的电话 13912345678"
        leads_service.capture(session, contact, text, extraction=extract(text), channel="web",
                              conversation_id=None, message_id=None)
        session.commit()
        counts = invitations.counts(session, orgs.a.id)
    assert (counts[first].sent, counts[first].accepted, counts[first].leads) == (1, 1, 1)
    assert None not in counts  # no manual invitation


def test_rule_form_errors_name_their_field(database: Database, orgs: TwoOrgs) -> None:
    actor = Actor(orgs.a.id, label="t")
    cases = [({"name": ""}, "name"), ({"name": "x" * 61}, "name"), ({"min_seconds": "-1"}, "min_seconds"),
             ({"min_seconds": "abc"}, "min_seconds"), ({"min_seconds": "９"}, "min_seconds"),
             ({"max_per_day": "0"}, "max_per_day"), ({"max_per_day": "21"}, "max_per_day"),
             ({"source_kind": "evil"}, "source_kind"), ({"message": ""}, "message"),
             ({"message": "长" * 501}, "message"), ({"url_pattern": "x" * 301}, "url_pattern"),
             ({"speaker": "agent:abc"}, "speaker"), ({"speaker": "nobody"}, "speaker"),
             ({"bot_name": "x" * 41}, "bot_name")]
    with database.session() as session:
        for fields, field in cases:
            form = invitations.RuleForm(**{"name": "规则", "message": "您好", **fields})
            with pytest.raises(invitations.InviteError) as err:
                invitations.save_rule(session, actor, form)
            assert err.value.field == field, fields
