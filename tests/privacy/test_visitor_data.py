"""A person's visitor data in their export and gone with their erasure: the trail (visits and page views, also
those of their browser not linked yet), what the classification rules remember, and the invitations shown to them
(emptied, the rows kept for the rules' counts). Only theirs, in their org."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.contacts import service as contacts_service
from edudesk.db import Database
from edudesk.privacy import erasure, exporting
from edudesk.privacy import service as privacy_service
from edudesk.visitors import service as visitors_service
from edudesk.visitors.invitation_models import Invitation
from edudesk.visitors.invitations import send
from edudesk.visitors.models import PageView, Visit
from edudesk.visitors.profile_models import ContactClassification
from tests.conftest import TwoOrgs
from tests.visitors.factories import add_visit

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
KEYWORD = "海淀考研冲刺价格"
PRICE = "https://s.example/price?kw=" + KEYWORD


def _seed(session: Session, org_id: int, key: str) -> int:
    contact = contacts_service.find_or_create(session, org_id, "web", key)
    add_visit(session, org_id, visitor_key=key, contact_id=contact.id, started_at=NOW,
              pages=[(PRICE, "价格")] * 3, source={"search_engine": "baidu", "search_keyword": KEYWORD})
    add_visit(session, org_id, visitor_key=key, started_at=NOW + dt.timedelta(hours=2),
              pages=["https://s.example/later"])  # the same browser, not linked yet
    visitors_service.save_rule(session, Actor(org_id, label="admin"), None,
                               tag="搜过考研", conditions="keyword 考研", points="5", label="", enabled=True)
    visitors_service.classify_contact(session, org_id, contact.id)
    send(session, org_id, visitor_key=key, contact_id=contact.id, text="王同学，考研冲刺班今天有优惠",
         speaker_name="王老师", view_key="k1", page_url=PRICE)
    return contact.id


def _held(database: Database, org_id: int) -> tuple[int, int, int, str]:
    with database.session() as session:
        visits = session.scalar(select(func.count()).select_from(Visit).where(Visit.org_id == org_id))
        views = session.scalar(select(func.count()).select_from(PageView).where(PageView.org_id == org_id))
        classes = session.scalar(select(func.count()).select_from(ContactClassification)
                                 .where(ContactClassification.org_id == org_id))
        invitations = json.dumps([[i.visitor_key, i.page_url, i.text, i.speaker_name] for i in session.scalars(
            select(Invitation).where(Invitation.org_id == org_id))], ensure_ascii=False)
    return int(visits or 0), int(views or 0), int(classes or 0), invitations


def test_a_persons_visitor_data_is_exported_and_erased(database: Database, orgs: TwoOrgs, tmp_path: Path) -> None:
    registry = privacy_service.make_registry(tmp_path)
    with database.session() as session:
        target = _seed(session, orgs.a.id, "v-target")
        _seed(session, orgs.b.id, "v-target")
        session.commit()
        data, _ = exporting.collect(session, registry, orgs.a.id, target)
        assert [len(v["page_views"]) for v in data["visitor_trail"]] == [3]
        assert data["visitor_classification"]["rule_tags"]["搜过考研"]["reason"]
        assert "搜过考研" in data["visitor_classification"]["rule_tags"]
        [invitation] = data["visitor_invitations"]
        assert invitation["page_url"] == PRICE and invitation["text"].startswith("王同学")
        assert exporting.counts_of(data)["visitor_invitations"] == 1
    before_b = _held(database, orgs.b.id)
    assert before_b[:3] == (2, 4, 1) and KEYWORD in before_b[3]
    with database.session() as session:
        report = erasure.erase_contact(session, registry, Actor(orgs.a.id, label="admin"), target)
        session.commit()
        assert (report.counts["visitor_trail"], report.counts["visitor_classification"],
                report.counts["visitor_invitations"]) == (2, 1, 1)
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.erase")).one()
        assert entry.detail["visitor_classification"] == 1 and entry.detail["visitor_invitations"] == 1
        assert contacts_service.get(session, orgs.a.id, target).tags == []
        # The invitation still counts for its rule / agent: the row stays, emptied.
        assert session.scalar(select(func.count()).select_from(Invitation).where(Invitation.org_id == orgs.a.id)) == 1
        again, _ = exporting.collect(session, registry, orgs.a.id, target)
        assert again["visitor_trail"] == [] and again["visitor_classification"]["rule_tags"] == {}
        assert [i["page_url"] for i in again["visitor_invitations"]] == [""]
    visits, views, classes, invitations = _held(database, orgs.a.id)
    assert (visits, views, classes) == (0, 0, 0)
    assert KEYWORD not in invitations and "王同学" not in invitations and "v-target" not in invitations
    assert _held(database, orgs.b.id) == before_b  # the other org's person with the same key is untouched
