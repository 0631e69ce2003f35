"""Campaigns on SQLite and PostgreSQL: scenes, counting every channel's arrivals, the report, org isolation."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.bot import service as bot_service
from edudesk.campaigns import service as campaigns_service
from edudesk.campaigns.models import Campaign, CampaignDay
from edudesk.channels.base import InboundMessage
from edudesk.channels.fake.adapter import FakeChannel
from edudesk.db import Database, NotFoundError
from edudesk.inbound import service as inbound_service
from edudesk.inboxes import service as inboxes_service
from edudesk.leads import service as leads_service
from edudesk.localtime import LOCAL_TZ, local_today
from tests.conftest import TwoOrgs


def make_inbox(database: Database, org_id: int, name: str = "测试账号") -> int:
    with database.session() as session:
        inbox = inboxes_service.create(session, Actor(org_id, label="t"), FakeChannel,
                                       inboxes_service.secret_box("test-secret-" + "x" * 20), name=name,
                                       data={"account": name})
        session.commit()
        return inbox.id


@pytest.mark.parametrize("scene", ["spring", "Poster_2025-A", "a", "x" * 64])
def test_good_scenes(scene: str) -> None:
    assert campaigns_service.check_scene(f" {scene} ") == scene


@pytest.mark.parametrize("scene", ["", "  ", "x" * 65, "中文", "has space", "a/b", "a?b=1", "<script>", "a.b"])
def test_bad_scenes(scene: str) -> None:
    with pytest.raises(campaigns_service.CampaignError) as raised:
        campaigns_service.check_scene(scene)
    assert raised.value.field == "scene"


def test_scenes_are_unique_per_org(database: Database, orgs: TwoOrgs) -> None:
    one, two = make_inbox(database, orgs.a.id, "一"), make_inbox(database, orgs.a.id, "二")
    b = make_inbox(database, orgs.b.id)
    with database.session() as session:
        actor = Actor(orgs.a.id, label="t")
        campaigns_service.create(session, actor, name="海报", scene="poster", kind="qr", inbox_id=one)
        with pytest.raises(campaigns_service.CampaignError) as same:
            campaigns_service.create(session, actor, name="海报2", scene="poster", kind="qr", inbox_id=one)
        assert same.value.code == "scene_taken"
        with pytest.raises(campaigns_service.CampaignError) as other:
            campaigns_service.create(session, actor, name="海报3", scene="poster", kind="qr", inbox_id=two)
        assert other.value.code == "scene_taken_elsewhere"
        with pytest.raises(campaigns_service.CampaignError):
            campaigns_service.create(session, actor, name="", scene="fine", kind="qr", inbox_id=one)
        with pytest.raises(campaigns_service.CampaignError):
            campaigns_service.create(session, actor, name="x", scene="fine", kind="poster", inbox_id=one)
        campaigns_service.create(session, Actor(orgs.b.id, label="t"), name="乙", scene="poster", kind="qr",
                                 inbox_id=b)
        session.commit()
        assert session.scalars(select(Campaign.org_id).order_by(Campaign.id)).all() == [orgs.a.id, orgs.b.id]


def test_touches_are_counted_per_day_and_unknown_scenes_kept(database: Database, orgs: TwoOrgs) -> None:
    inbox = make_inbox(database, orgs.a.id)
    monday = dt.datetime(2026, 3, 2, 23, 30, tzinfo=LOCAL_TZ)  # late evening, local time
    with database.session() as session:
        for when, new in ((monday, True), (monday, False), (monday + dt.timedelta(hours=1), True)):
            row = campaigns_service.record_touch(session, orgs.a.id, inbox, "flyer", new_contact=new,
                                                 channel="fake", now=when)
            assert row is not None
        assert campaigns_service.record_touch(session, orgs.a.id, inbox, "  ", new_contact=True) is None
        session.commit()
        campaign = session.scalars(select(Campaign)).one()
        assert (campaign.name, campaign.origin, campaign.scene, campaign.inbox_id, campaign.channel) == (
            "未命名", "auto", "flyer", inbox, "fake")
        days = campaigns_service.daily(session, orgs.a.id, campaign.id, dt.date(2026, 3, 1), dt.date(2026, 3, 4))
        assert [(d.day.day, d.touches, d.new_contacts) for d in days] == [(1, 0, 0), (2, 2, 1), (3, 1, 1), (4, 0, 0)]
        # An admin who creates the scene adopts the row and its counts.
        adopted = campaigns_service.create(session, Actor(orgs.a.id, label="t"), name="传单", scene="flyer",
                                           kind="qr", inbox_id=inbox, provider={"ticket": "t"})
        session.commit()
        assert adopted.id == campaign.id and adopted.origin == "admin" and adopted.name == "传单"
        [report] = campaigns_service.report(session, orgs.a.id, [adopted])
        assert (report.touches, report.new_contacts) == (3, 2)
        assert len(session.scalars(select(CampaignDay)).all()) == 2


def test_the_same_scene_on_two_accounts_and_without_one_are_separate(database: Database, orgs: TwoOrgs) -> None:
    one, two = make_inbox(database, orgs.a.id, "一"), make_inbox(database, orgs.a.id, "二")
    with database.session() as session:
        for inbox in (one, two, None, None):
            campaigns_service.record_touch(session, orgs.a.id, inbox, "spring", new_contact=False, channel="fake")
        session.commit()
        rows = campaigns_service.list_campaigns(session, orgs.a.id)
        report = {(r.campaign.inbox_id, r.touches) for r in campaigns_service.report(session, orgs.a.id, rows)}
        assert report == {(one, 1), (two, 1), (None, 2)}
        assert campaigns_service.list_campaigns(session, orgs.b.id) == []


def arrive(database: Database, org_id: int, inbox: int, visitor: str, scene: str) -> None:
    with database.session() as session:
        msg = InboundMessage(org_id, "fake", visitor, None, inbox_id=inbox, campaign=scene)
        inbound_service.visitor_arrived(session, msg, bots=bot_service.make_runtime(database))
        session.commit()


def say(database: Database, org_id: int, inbox: int, visitor: str, text: str, n: int, scene: str | None = None
        ) -> None:
    with database.session() as session:
        inbound_service.receive(session, InboundMessage(org_id, "fake", visitor, f"{visitor}-{n}", text=text,
                                                        inbox_id=inbox, campaign=scene), agents_online=False)
        session.commit()


def totals(database: Database, org_id: int) -> dict[str, tuple[int, int, int, int]]:
    with database.session() as session:
        rows = campaigns_service.list_campaigns(session, org_id, include_archived=True)
        return {r.campaign.scene: (r.touches, r.new_contacts, r.leads, r.leads_with_contact)
                for r in campaigns_service.report(session, org_id, rows)}


def test_arrivals_count_every_time_and_new_contacts_once(database: Database, orgs: TwoOrgs) -> None:
    inbox = make_inbox(database, orgs.a.id)
    arrive(database, orgs.a.id, inbox, "o-1", "poster")  # followed by scanning: a new contact
    arrive(database, orgs.a.id, inbox, "o-1", "poster")  # scanned again while following
    arrive(database, orgs.a.id, inbox, "o-2", "poster")
    arrive(database, orgs.a.id, inbox, "o-1", "flyer")  # the same person through another code: not new there
    assert totals(database, orgs.a.id) == {"poster": (3, 2, 0, 0), "flyer": (1, 0, 0, 0)}


def test_a_first_message_with_a_campaign_counts_once(database: Database, orgs: TwoOrgs) -> None:
    """Channels that report the campaign on the first message (no arrival event) count the person once."""
    inbox = make_inbox(database, orgs.a.id)
    say(database, orgs.a.id, inbox, "v-1", "你好", 1, scene="utm_spring")
    say(database, orgs.a.id, inbox, "v-1", "学费多少", 2, scene="utm_spring")  # not an arrival
    say(database, orgs.a.id, inbox, "v-1", "学费多少", 2, scene="utm_spring")  # a resend: nothing at all
    say(database, orgs.a.id, inbox, "v-2", "你好", 1)  # no campaign
    arrive(database, orgs.a.id, inbox, "v-3", "utm_spring")
    say(database, orgs.a.id, inbox, "v-3", "你好", 1, scene="utm_spring")  # arrived first: counted there
    assert totals(database, orgs.a.id) == {"utm_spring": (2, 2, 0, 0)}


def test_the_report_counts_leads_and_leads_with_contact_details(database: Database, orgs: TwoOrgs) -> None:
    inbox = make_inbox(database, orgs.a.id)
    other = make_inbox(database, orgs.b.id)
    arrive(database, orgs.a.id, inbox, "o-1", "poster")
    arrive(database, orgs.a.id, inbox, "o-2", "poster")
    arrive(database, orgs.a.id, inbox, "o-3", "poster")
    say(database, orgs.a.id, inbox, "o-1", "孩子三年级", 1)  # a lead, no phone yet
    say(database, orgs.a.id, inbox, "o-2", "我的手机 13800138000", 1)  # a lead with a phone
    say(database, orgs.a.id, inbox, "o-4", "我的微信 wx_parent_4", 1)  # came by no campaign
    # Org B's lead of the same scene is not org A's.
    arrive(database, orgs.b.id, other, "o-b", "poster")
    say(database, orgs.b.id, other, "o-b", "电话 13900139000", 1)
    assert totals(database, orgs.a.id) == {"poster": (3, 3, 2, 1)}
    assert totals(database, orgs.b.id) == {"poster": (1, 1, 1, 1)}
    with database.session() as session:
        assert leads_service.counts_by_campaign(session, orgs.a.id, ["poster", "nothing", ""]) == {"poster": (2, 1)}
        assert leads_service.counts_by_campaign(session, orgs.a.id, []) == {}


def test_archive_rename_and_isolation(database: Database, orgs: TwoOrgs) -> None:
    inbox = make_inbox(database, orgs.a.id)
    with database.session() as session:
        actor = Actor(orgs.a.id, label="t")
        row = campaigns_service.create(session, actor, name="海报", scene="poster", kind="qr", inbox_id=inbox)
        session.commit()
        campaigns_service.archive(session, actor, row.id)
        session.commit()
        assert campaigns_service.list_campaigns(session, orgs.a.id) == []
        assert [c.id for c in campaigns_service.list_campaigns(session, orgs.a.id, include_archived=True)] == [row.id]
        # An archived code still counts the people it brings.
        campaigns_service.record_touch(session, orgs.a.id, inbox, "poster", new_contact=True)
        campaigns_service.rename(session, actor, row.id, "旧海报")
        session.commit()
        assert campaigns_service.report(session, orgs.a.id, [row])[0].touches == 1
        intruder = Actor(orgs.b.id, label="t")
        for attempt in (lambda: campaigns_service.get(session, orgs.b.id, row.id),
                        lambda: campaigns_service.archive(session, intruder, row.id, archived=False),
                        lambda: campaigns_service.rename(session, intruder, row.id, "乙改名"),
                        lambda: campaigns_service.daily(session, orgs.b.id, row.id, local_today(), local_today()),
                        lambda: campaigns_service.get(session, orgs.a.id, row.id, inbox_id=inbox + 1)):
            with pytest.raises(NotFoundError):
                attempt()
        assert campaigns_service.report(session, orgs.b.id, [row]) == []
        session.rollback()
        assert session.get(Campaign, row.id).name == "旧海报"  # type: ignore[union-attr]


def test_deleting_an_account_deletes_its_codes_not_the_leads(database: Database, orgs: TwoOrgs) -> None:
    inbox = make_inbox(database, orgs.a.id)
    arrive(database, orgs.a.id, inbox, "o-1", "poster")
    say(database, orgs.a.id, inbox, "o-1", "电话 13800138000", 1)
    with database.session() as session:
        inboxes_service.delete(session, Actor(orgs.a.id, label="t"), inboxes_service.get(session, orgs.a.id, inbox))
        session.commit()
        assert session.scalars(select(Campaign)).all() == [] and session.scalars(select(CampaignDay)).all() == []
        assert leads_service.counts_by_campaign(session, orgs.a.id, ["poster"]) == {"poster": (1, 1)}
