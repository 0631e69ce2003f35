from __future__ import annotations

import datetime as dt

from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.channels.base import InboundMessage
from edudesk.contacts import service as contacts_service
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from edudesk.leads import service as leads_service
from edudesk.visitors import service as visitors_service
from edudesk.visitors.beacons import PageViewIn, prepare
from edudesk.visitors.models import PageView, Visit
from edudesk.visitors.writer import BeaconWriter, store
from tests.conftest import TwoOrgs

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0"


def view(org_id: int, key: str, vk: str, url: str, at: dt.datetime, *, referrer: str = "", left: tuple[str, int] | None
         = None, ua: str = UA) -> PageViewIn:
    return prepare(org_id, key, view_key=vk, url=url, title="t:" + url[-10:], referrer=referrer, user_agent=ua,
                   ip="203.0.113.77", at=at, left_key=left[0] if left else None,
                   left_seconds=left[1] if left else None)


def test_views_continue_a_visit_within_30_minutes_and_start_a_new_one_after(database: Database,
                                                                          orgs: TwoOrgs) -> None:
    a = orgs.a.id
    landing = "https://s.example/?utm_source=baidu&utm_medium=cpc&utm_campaign=kaoyan&bd_vid=9"
    batch1 = [view(a, "v1", "k1", landing, T0, referrer="https://www.baidu.com/s?wd=%E8%80%83%E7%A0%94"),
              view(a, "v1", "k2", "https://s.example/price", T0 + dt.timedelta(minutes=2), referrer=landing,
                   left=("k1", 120))]
    with database.session() as session:
        assert store(session, batch1).views == 2
        session.commit()
    batch2 = [view(a, "v1", "k3", "https://s.example/trial", T0 + dt.timedelta(minutes=20), left=("k2", 999_999)),
              view(a, "v1", "k4", "https://s.example/", T0 + dt.timedelta(hours=2), left=("k3", 5))]
    with database.session() as session:
        result = store(session, batch2)
        session.commit()
        assert (result.views, result.new_visits) == (2, 1)
        visits = list(session.scalars(select(Visit).where(Visit.org_id == a).order_by(Visit.id)))
        assert [v.page_views for v in visits] == [3, 1]
        first = visits[0]
        assert first.landing_url == landing and first.current_url == "https://s.example/trial"
        assert first.source_kind == "ad" and first.campaign == "kaoyan"
        assert first.source["search_engine"] == "baidu" and first.source["search_keyword"] == "考研"
        assert first.source["click_id_kind"] == "bd_vid" and first.source["device"] == "mobile"
        assert first.ip_prefix == "203.0.113.0/24" and "203.0.113.77" not in str(first.source)
        assert first.last_seen_at == T0 + dt.timedelta(minutes=20)
        seconds = {k: s for k, s in session.execute(select(PageView.view_key, PageView.seconds)
                                                    .where(PageView.org_id == a))}
        assert seconds == {"k1": 120, "k2": 6 * 3600, "k3": 5, "k4": None}


def test_a_repeated_beacon_is_stored_once(database: Database, orgs: TwoOrgs) -> None:
    a = orgs.a.id
    one = view(a, "v2", "dup", "https://s.example/a", T0)
    with database.session() as session:
        store(session, [one, one])
        session.commit()
    with database.session() as session:
        result = store(session, [one, view(a, "v2", "new", "https://s.example/b", T0 + dt.timedelta(seconds=5))])
        session.commit()
        assert (result.views, result.duplicates) == (1, 1)
        assert session.scalar(select(func.count()).select_from(PageView).where(PageView.org_id == a)) == 2
        assert session.scalars(select(Visit.page_views).where(Visit.org_id == a)).all() == [2]


def test_left_never_reaches_another_visitor_or_org(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        store(session, [view(orgs.a.id, "v3", "same", "https://s.example/a", T0),
                        view(orgs.b.id, "v3", "same", "https://s.example/a", T0),
                        view(orgs.a.id, "v4", "other", "https://s.example/a", T0)])
        session.commit()
        store(session, [view(orgs.a.id, "v4", "x", "https://s.example/b", T0, left=("same", 30))])
        session.commit()
        assert set(session.scalars(select(PageView.seconds).where(PageView.view_key == "same"))) == {None}


def test_new_visits_of_a_known_contact_are_linked(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        contact = contacts_service.find_or_create(session, orgs.a.id, "web", "v_known")
        session.commit()
        store(session, [view(orgs.a.id, "v_known", "k", "https://s.example/", T0),
                        view(orgs.b.id, "v_known", "k", "https://s.example/", T0)])
        session.commit()
        links = {o: c for o, c in session.execute(select(Visit.org_id, Visit.contact_id))}
        assert links == {orgs.a.id: contact.id, orgs.b.id: None}


def test_crawlers_are_stored_as_bots(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        store(session, [view(orgs.a.id, "bot", "k", "https://s.example/", T0, ua="Baiduspider/2.0")])
        session.commit()
        assert session.scalars(select(Visit.is_bot)).all() == [True]


def test_many_beacons_are_written_in_few_transactions(database: Database, orgs: TwoOrgs) -> None:
    writer = BeaconWriter(database, max_rows=200, interval=0.2)
    commits: list[int] = []
    listener = lambda conn: commits.append(1)  # noqa: E731
    event.listen(database.engine, "commit", listener)
    writer.start()
    try:
        for i in range(600):
            assert writer.submit(view(orgs.a.id if i % 2 else orgs.b.id, f"v{i % 50}", f"k{i}",
                                      f"https://s.example/{i}", T0 + dt.timedelta(seconds=i)))
    finally:
        writer.stop()
        event.remove(database.engine, "commit", listener)
    assert writer.stats.written == 600 and writer.stats.failed_batches == 0
    assert 3 <= writer.stats.batches <= 12
    assert len(commits) == writer.stats.batches
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(PageView)) == 600
        assert session.scalar(select(func.sum(Visit.page_views))) == 600


def test_a_full_queue_drops_and_counts(database: Database, orgs: TwoOrgs) -> None:
    writer = BeaconWriter(database, capacity=3)  # not started: nothing drains the queue
    results = [writer.submit(view(orgs.a.id, "v", f"k{i}", "https://s.example/", T0)) for i in range(5)]
    assert results == [True, True, True, False, False]
    assert writer.stats.dropped == 2


def _run_classify_jobs(database: Database) -> int:
    registry = jobs.JobRegistry()
    visitors_service.register_jobs(registry)
    with database.session() as session:  # due now instead of in 5 s
        session.execute(update(jobs.Job).where(jobs.Job.kind == visitors_service.CLASSIFY_JOB,
                                               jobs.Job.status == jobs.JobStatus.pending)
                        .values(run_at=jobs.utcnow() - dt.timedelta(seconds=1)))
        session.commit()
    return jobs.Worker(database, registry, worker_id="t").run_pending()


def _classify_jobs(session: Session, status: jobs.JobStatus = jobs.JobStatus.pending) -> list[jobs.Job]:
    return list(session.scalars(select(jobs.Job).where(jobs.Job.kind == visitors_service.CLASSIFY_JOB,
                                                       jobs.Job.status == status)))


def test_a_linked_contacts_beacons_classify_them_and_grade_their_lead(database: Database, orgs: TwoOrgs) -> None:
    """Three price pages through the writer → one debounced classify job → 价格敏感 on the contact and its points,
    with the rule's label, among the lead's grade reasons."""
    a = orgs.a.id
    with database.session() as session:
        message = InboundMessage(a, "web", "vp", "m1", text="我叫王芳，电话 13912345678")
        result = inbound_service.receive(session, message, agents_online=True)
        contact_id = result.conversation.contact_id
        session.commit()
    _run_classify_jobs(database)  # what the message itself asked for
    with database.session() as session:
        assert _classify_jobs(session) == []
        assert "价格敏感" not in contacts_service.get(session, a, contact_id).tags
    price = "https://s.example/courses/math/price"
    for i, batch in enumerate([[view(a, "vp", "p1", price, T0), view(a, "vp", "p2", price + "?x=1", T0 + MINUTE)],
                               [view(a, "vp", "p3", price + "#fees", T0 + 2 * MINUTE), view(a, "crawler", "c1", price,
                                                                                          T0, ua="curl/8")]]):
        with database.session() as session:
            store(session, batch)
            session.commit()
            waiting = _classify_jobs(session)
            # One job for the contact whatever the number of batches and views while it waits; none for a
            # visitor who is no contact.
            assert [j.payload for j in waiting] == [{"org_id": a, "contact_id": contact_id}], i
    with database.session() as session:  # a repeated beacon changes nothing, enqueues nothing
        store(session, [view(a, "vp", "p3", price + "#fees", T0 + 2 * MINUTE)])
        session.commit()
    assert _run_classify_jobs(database) == 1
    with database.session() as session:
        assert "价格敏感" in contacts_service.get(session, a, contact_id).tags
        lead = leads_service.lead_for_contact(session, a, contact_id)
        assert lead is not None and "+15 价格敏感" in lead.score_reasons
        profile = visitors_service.profile_of(session, a, contact_id)
        tag = next(t for t in profile.tags if t.name == "价格敏感")
        assert tag.rule_id is not None and tag.reason is not None and "3" in tag.reason
        store(session, [view(a, "vp", "p3", price + "#fees", T0 + 2 * MINUTE)])
        session.commit()
        assert _classify_jobs(session) == []
    with database.session() as session:  # the other org's same visitor key is another person: untouched
        assert contacts_service.find_or_create(session, orgs.b.id, "web", "vp").tags == []


def test_linking_a_visitors_trail_to_their_contact_classifies_them(database: Database, orgs: TwoOrgs) -> None:
    a = orgs.a.id
    price = "https://s.example/price"
    with database.session() as session:
        store(session, [view(a, "vl", f"k{i}", price, T0 + i * MINUTE) for i in range(3)])
        session.commit()
        assert _classify_jobs(session) == []  # no contact yet
        contact = contacts_service.find_or_create(session, a, "web", "vl")
        assert visitors_service.link_contact(session, a, "vl", contact.id) == 1
        session.commit()
        assert [j.payload["contact_id"] for j in _classify_jobs(session)] == [contact.id]
        contact_id = contact.id
    assert _run_classify_jobs(database) == 1
    with database.session() as session:
        assert "价格敏感" in contacts_service.get(session, a, contact_id).tags
        assert visitors_service.link_contact(session, a, "vl", contact_id) == 0  # nothing new: no job
        session.commit()
        assert _classify_jobs(session) == []


def test_a_late_view_counts_but_does_not_move_the_current_page(database: Database, orgs: TwoOrgs) -> None:
    """A beacon that arrives after a newer one of the same visit (another tab, a slow network) adds a page view
    and keeps its time, but the visit stays on its newest page; a repeat in a later batch changes nothing."""
    a = orgs.a.id
    with database.session() as session:
        store(session, [view(a, "v_late", "k1", "https://s.example/one", T0),
                        view(a, "v_late", "k3", "https://s.example/three", T0 + 5 * MINUTE)])
        session.commit()
    with database.session() as session:
        stored = store(session, [view(a, "v_late", "k2", "https://s.example/two", T0 + 2 * MINUTE),
                                 view(a, "v_late", "k3", "https://s.example/three", T0 + 5 * MINUTE)])
        session.commit()
        assert (stored.views, stored.duplicates, stored.new_visits) == (1, 1, 0)
    with database.session() as session:
        visit = session.scalars(select(Visit).where(Visit.org_id == a)).one()
        assert (visit.page_views, visit.current_url, visit.current_title) == (3, "https://s.example/three",
                                                                             "t:mple/three")
        assert visit.last_seen_at == T0 + 5 * MINUTE and visit.landing_url == "https://s.example/one"
        keys = session.scalars(select(PageView.view_key).where(PageView.visit_id == visit.id)
                               .order_by(PageView.viewed_at)).all()
        assert keys == ["k1", "k2", "k3"]
