"""Linking a visitor's trail to the contact they become (with the first touch), the retention purge with frozen
time, and a person's export and erasure through the privacy registry."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.channels.web.visitor_token import VisitorTokens
from edudesk.contacts import service as contacts_service
from edudesk.db import Database
from edudesk.leads import service as leads_service
from edudesk.leads.models import ValueSource
from edudesk.privacy import erasure, exporting
from edudesk.privacy import jobs as privacy_jobs
from edudesk.privacy import service as privacy_service
from edudesk.visitors import service as visitors_service
from edudesk.visitors.beacons import prepare
from edudesk.visitors.models import PageView, Visit
from edudesk.visitors.writer import store
from tests.conftest import TwoOrgs
from tests.visitors.factories import add_visit

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
SECRET = "test-secret-" + "x" * 20
AD = {"utm_source": "baidu", "utm_medium": "cpc", "utm_campaign": "kaoyan", "search_engine": "baidu"}


def counts(database: Database, org_id: int) -> tuple[int, int]:
    with database.session() as session:
        return (session.scalar(select(func.count()).select_from(Visit).where(Visit.org_id == org_id)) or 0,
                session.scalar(select(func.count()).select_from(PageView).where(PageView.org_id == org_id)) or 0)


def test_the_socket_links_the_trail_and_records_the_first_touch(client: TestClient, database: Database,
                                                                orgs: TwoOrgs) -> None:
    tok, ident = VisitorTokens(SECRET).issue(orgs.a.id)
    with database.session() as session:
        add_visit(session, orgs.a.id, visitor_key=ident.visitor_id, started_at=NOW - dt.timedelta(days=2),
                  source=AD, source_kind="ad", campaign="kaoyan")
        add_visit(session, orgs.a.id, visitor_key=ident.visitor_id, started_at=NOW - dt.timedelta(days=1))
        add_visit(session, orgs.b.id, visitor_key=ident.visitor_id, started_at=NOW - dt.timedelta(days=3))
        session.commit()
    with client.websocket_connect(f"/ws/visitor?token={tok}") as socket:
        assert socket.receive_json()["type"] == "hello"
    with database.session() as session:
        contact = contacts_service.find_by_identity(session, orgs.a.id, "web", ident.visitor_id)
        assert contact is not None
        linked = {o: c for o, c in session.execute(select(Visit.org_id, Visit.contact_id))}
        assert linked == {orgs.a.id: contact.id, orgs.b.id: None}
        touch = leads_service.first_touch(contact)
        assert touch["source_kind"] == "ad" and touch["campaign"] == "kaoyan" and touch["search_engine"] == "baidu"
        # A lead created later carries the source (the webhook's lead payload includes its attribution).
        capture = leads_service.record_values(session, contact, [("phone", "13800138000", "13800138000")],
                                              source=ValueSource.agent, channel="web", conversation_id=None,
                                              message_id=None)
        session.commit()
        assert capture.lead is not None
        assert capture.lead.campaign == "kaoyan" and capture.lead.attribution["source_kind"] == "ad"


def test_a_known_contacts_new_visit_is_linked_and_becomes_the_first_touch(database: Database,
                                                                         orgs: TwoOrgs) -> None:
    with database.session() as session:
        contact = contacts_service.find_or_create(session, orgs.a.id, "web", "v_known")
        session.commit()
        store(session, [prepare(orgs.a.id, "v_known", view_key="k0000001",
                                url="https://s.example/?utm_campaign=spring&utm_source=wx", title="",
                                referrer="", user_agent="Mozilla/5.0 (iPhone) Mobile", ip=None, at=NOW)])
        session.commit()
        session.refresh(contact)
        assert leads_service.first_touch(contact) == {"utm_campaign": "spring", "utm_source": "wx",
                                                      "landing_page": "https://s.example/?utm_campaign=spring"
                                                                      "&utm_source=wx", "device": "mobile",
                                                      "os": "iOS", "browser": "Mobile Safari UI/WKWebView",
                                                      "source_kind": "campaign", "campaign": "spring"}


def test_crawler_visits_are_never_a_touch(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        contact = contacts_service.find_or_create(session, orgs.a.id, "web", "v_bot")
        add_visit(session, orgs.a.id, visitor_key="v_bot", source=AD, source_kind="ad", is_bot=True)
        assert visitors_service.link_contact(session, orgs.a.id, "v_bot", contact.id) == 1
        assert leads_service.first_touch(contact) == {}


def test_the_purge_keeps_the_orgs_retention_with_frozen_time(database: Database, orgs: TwoOrgs,
                                                            tmp_path: Path) -> None:
    with database.session() as session:
        for org_id in (orgs.a.id, orgs.b.id):
            add_visit(session, org_id, visitor_key="old", started_at=NOW - dt.timedelta(days=95), pages=["a", "b"])
            add_visit(session, org_id, visitor_key="mid", started_at=NOW - dt.timedelta(days=40))
            add_visit(session, org_id, visitor_key="new", started_at=NOW - dt.timedelta(days=1))
        visitors_service.save_settings(session, Actor(orgs.b.id, label="admin"), trail_enabled=True,
                                       retention_days=30)
        session.commit()
    runner = privacy_jobs.PurgeRunner(privacy_service.make_registry(tmp_path, 1))
    with database.session() as session:
        assert runner.run(session, orgs.a.id, now=NOW)
        session.commit()
    assert counts(database, orgs.a.id) == (2, 2) and counts(database, orgs.b.id) == (3, 4)
    with database.session() as session:
        assert runner.run(session, orgs.b.id, now=NOW)
        session.commit()
        assert set(session.scalars(select(Visit.visitor_key).where(Visit.org_id == orgs.b.id))) == {"new"}
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.purge",
                                                                AuditEntry.target_id == "visitor_trail")))
        assert {(e.org_id, e.detail["count"]) for e in entries} == {(orgs.a.id, 1), (orgs.b.id, 1)}
        assert sum(e.detail["page_views"] for e in entries if e.org_id == orgs.b.id) == 3
    assert counts(database, orgs.b.id) == (1, 1)
    with database.session() as session:  # a day later nothing new is due
        assert runner.run(session, orgs.a.id, now=NOW + dt.timedelta(days=1))
    assert counts(database, orgs.a.id) == (2, 2)


def test_export_and_erasure_cover_the_trail_and_are_audited(database: Database, orgs: TwoOrgs,
                                                            tmp_path: Path) -> None:
    registry = privacy_service.make_registry(tmp_path)
    with database.session() as session:
        contact = contacts_service.find_or_create(session, orgs.a.id, "web", "v_person")
        other = contacts_service.find_or_create(session, orgs.b.id, "web", "v_person")
        add_visit(session, orgs.a.id, visitor_key="v_person", contact_id=contact.id, started_at=NOW,
                  pages=[("https://s.example/", "首页"), ("https://s.example/price", "价格")], source=AD)
        add_visit(session, orgs.a.id, visitor_key="v_person", started_at=NOW + dt.timedelta(hours=2))  # unlinked
        add_visit(session, orgs.b.id, visitor_key="v_person", contact_id=other.id, started_at=NOW)
        session.commit()
        data, _ = exporting.collect(session, registry, orgs.a.id, contact.id)
        trail = data["visitor_trail"]
        assert len(trail) == 1 and [p["title"] for p in trail[0]["page_views"]] == ["首页", "价格"]
        assert trail[0]["source"]["utm_campaign"] == "kaoyan"
        report = erasure.erase_contact(session, registry, Actor(orgs.a.id, label="admin"), contact.id)
        session.commit()
        assert report.counts["visitor_trail"] == 2
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.erase")).one()
        assert entry.detail["visitor_trail"] == 2
    assert counts(database, orgs.a.id) == (0, 0) and counts(database, orgs.b.id) == (1, 1)
