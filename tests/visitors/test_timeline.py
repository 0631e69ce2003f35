"""The contact's timeline across channels (visitors.timeline): order, bounds, org scoping and its query count."""

from __future__ import annotations

from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import SenderKind
from edudesk.db import Database
from edudesk.visitors import timeline
from tests.conftest import TwoOrgs
from tests.statements import recorded_sql
from tests.visitors.contact_story import PHONE, at, write_story
from tests.visitors.factories import add_visit


def test_one_timeline_across_channels_newest_first(database: Database, orgs: TwoOrgs) -> None:
    story = write_story(database, orgs.a.id)
    with database.session() as session:
        got = timeline.timeline_of(session, orgs.a.id, story.contact_id)
    assert [e.kind for e in got.entries] == [
        "visit", "trial", "lead_change", "ticket", "conversation", "lead", "conversation", "visit"]
    assert not got.more
    visit, trial, change, ticket, wechat, lead, web, first = (e.item for e in got.entries)
    assert visit.id == story.last_visit and visit.source["utm_campaign"] == "kaoyan"
    assert first.id == story.first_visit and first.source["search_keyword"] == "小学数学辅导"
    assert [p.title for p in first.pages] == ["价格", "三年级数学"]  # newest page first
    assert trial.id == story.booking and trial.course == "三年级数学思维"
    assert (change.previous, change.status, change.by) == ("new", "contacted", "王老师")
    assert ticket.id == story.ticket
    assert (wechat.id, wechat.channel, wechat.first_text) == (story.wechat_conv, "wechat", "微信上再问一下试听时间")
    assert lead.id == story.lead
    assert web.id == story.web_conv and web.channel == "web" and PHONE in web.first_text


def test_bounded_with_more_and_scoped_by_org(database: Database, orgs: TwoOrgs) -> None:
    story = write_story(database, orgs.a.id)
    with database.session() as session:
        head = timeline.timeline_of(session, orgs.a.id, story.contact_id, limit=3)
        assert [e.kind for e in head.entries] == ["visit", "trial", "lead_change"]
        assert head.more and head.next_limit == 3 + timeline.DEFAULT_LIMIT
        assert timeline.timeline_of(session, orgs.a.id, story.contact_id, limit=10_000).limit == timeline.MAX_LIMIT
        # Org B asking about org A's contact sees nothing of it.
        assert timeline.timeline_of(session, orgs.b.id, story.contact_id).entries == []


def test_a_visit_shows_its_newest_pages_only(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        contact = contacts_service.find_or_create(session, orgs.a.id, "web", "v_many")
        add_visit(session, orgs.a.id, contact_id=contact.id, started_at=at(0),
                  pages=[f"https://school.example/p{i}" for i in range(timeline.PAGES_PER_VISIT + 5)])
        add_visit(session, orgs.a.id, contact_id=contact.id, started_at=at(5), is_bot=True)
        session.commit()
        got = timeline.timeline_of(session, orgs.a.id, contact.id)
    [entry] = got.entries  # the crawler's visit is left out
    assert len(entry.item.pages) == timeline.PAGES_PER_VISIT
    assert entry.item.pages[0].url.endswith(f"/p{timeline.PAGES_PER_VISIT + 4}")
    assert entry.item.pages_hidden == 5


def test_the_query_count_does_not_grow_with_the_history(database: Database, orgs: TwoOrgs) -> None:
    """A contact with one event of each kind and one with dozens cost the same number of statements."""
    story = write_story(database, orgs.a.id)
    with database.session() as session:
        with recorded_sql(database) as small:
            timeline.timeline_of(session, orgs.a.id, story.contact_id)
        contact = contacts_service.get(session, orgs.a.id, story.contact_id)
        for i in range(40):
            add_visit(session, orgs.a.id, contact_id=contact.id, started_at=at(100 + i),
                      pages=[f"https://school.example/{i}/{j}" for j in range(3)])
            conv = conversations_service.open_conversation(session, contact, "web")
            conversations_service.post_message(session, conv, SenderKind.visitor, f"第 {i} 次咨询")
        session.commit()
        with recorded_sql(database) as big:
            got = timeline.timeline_of(session, orgs.a.id, story.contact_id, limit=100)
    assert len(got.entries) == 88 and len(small) == len(big)
    assert len(big) <= 8, big

