"""The demo's month of history (src/edudesk/demo/history.py): consistent rows, a small school's volume, the same
rows on every run, and non-zero figures on all four dashboards once rolled up — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.analytics import rollups, service
from edudesk.analytics.shapes import Filters
from edudesk.catalog.models import Course
from edudesk.contacts.models import Contact
from edudesk.conversations.models import Conversation, Message
from edudesk.conversations.states import ConversationState
from edudesk.db import Database
from edudesk.demo import history
from edudesk.leads.models import Lead
from edudesk.localtime import LOCAL_TZ
from edudesk.qc.inspection import INSPECT_JOB, Inspector
from edudesk.qc.models import QcInspection
from edudesk.routing.models import SkillGroup
from edudesk.visitors.models import Visit
from tests.conftest import TwoOrgs

TODAY = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=LOCAL_TZ).astimezone(dt.UTC)


def _seed(session: Session, org_id: int, users: dict) -> history.HistoryInfo:  # type: ignore[type-arg]
    groups = [SkillGroup(name=name, org_id=org_id) for name in ("小学数学", "少儿英语")]
    course = Course(name="小学数学思维提高班", subject="数学", org_id=org_id)
    session.add_all([*groups, course])
    session.flush()
    return history.seed_history(session, org_id, [users["agent"].id, users["agent2"].id], [g.id for g in groups],
                                [course.id], today=TODAY)


def _count(session: Session, model: type, org_id: int) -> int:
    return session.scalar(select(func.count()).select_from(model).where(model.org_id == org_id)) or 0  # type: ignore[attr-defined]


def _fingerprint(session: Session, org_id: int) -> list[tuple[object, ...]]:
    rows = session.execute(select(Conversation.channel, Conversation.state, Conversation.created_at,
                                  Conversation.csat_score, Message.sender, Message.text, Message.created_at)
                           .join(Message, Message.conversation_id == Conversation.id)
                           .where(Conversation.org_id == org_id).order_by(Message.id)).all()
    return [tuple(r) for r in rows]


def test_a_consistent_deterministic_month_that_fills_every_dashboard(database: Database, orgs: TwoOrgs) -> None:
    a, b = orgs.a.id, orgs.b.id
    with database.session() as session:
        info = _seed(session, a, orgs.a.users)
        again = _seed(session, b, orgs.b.users)
        session.commit()
    assert info == again
    with database.session() as session:
        assert _fingerprint(session, a) == _fingerprint(session, b)
        # A small school: 15–40 chats a day, a few thousand messages, visits several times the conversations.
        n_convs = _count(session, Conversation, a)
        assert 15 * history.DAYS * 0.8 <= n_convs <= 40 * history.DAYS == 1200
        assert 1000 <= _count(session, Message, a) <= 8000
        assert _count(session, Visit, a) == info.visits >= 3 * n_convs
        assert info.conversations == n_convs
        # Every conversation's and lead's contact exists in the same org; every day of the month has chats.
        contacts = set(session.scalars(select(Contact.id).where(Contact.org_id == a)))
        assert set(session.scalars(select(Conversation.contact_id).where(Conversation.org_id == a))) <= contacts
        assert set(session.scalars(select(Lead.contact_id).where(Lead.org_id == a))) <= contacts
        starts = session.scalars(select(Conversation.created_at).where(Conversation.org_id == a)).all()
        days = {s.astimezone(LOCAL_TZ).date() for s in starts}
        assert days == {TODAY - dt.timedelta(days=n) for n in range(1, history.DAYS + 1)}
        # Fake phones only, in the reserved 138 0000 xxxx range.
        phones = session.scalars(select(Contact.phone).where(Contact.org_id == a, Contact.phone.is_not(None))).all()
        assert phones and all(p.startswith("1380000") and len(p) == 11 for p in phones)
        # Each closed conversation waits for quality inspection; the forbidden promise is caught.
        closed = session.scalars(select(Conversation.id).where(Conversation.org_id == a,
                                                               Conversation.state == ConversationState.closed)).all()
        queued = session.scalars(select(jobs.Job.payload).where(jobs.Job.kind == INSPECT_JOB,
                                                                jobs.Job.org_id == a)).all()
        assert closed and sorted(p["conversation_id"] for p in queued) == sorted(closed)
        promised = session.scalars(select(Message.conversation_id).where(
            Message.org_id == a, Message.text.contains("保证提分"))).all()
        assert promised
        inspector = Inspector()
        for conv_id in set(promised) & set(closed):
            inspector.run(session, a, conv_id)
        session.commit()
        hits = session.scalars(select(QcInspection.rule_keys).where(QcInspection.org_id == a)).all()
        assert hits and all("promise" in keys for keys in hits)

    with database.session() as session:
        rollups.recompute_range(session, a, TODAY - dt.timedelta(days=history.DAYS), TODAY, now=NOW)
    period = Filters(start=TODAY - dt.timedelta(days=history.DAYS), end=TODAY - dt.timedelta(days=1))
    expect = {"people": ("served", "csat"), "data": ("conversations", "valid"),
              "process": ("queued", "abandoned", "tickets"), "outcome": ("booked", "attended", "enrolled")}
    with database.session() as session:
        for key, figures in expect.items():
            dash = service.dashboard(session, a, key, period, now=NOW)
            values = {f.key: f.value for f in dash.figures}
            for figure in figures:
                assert values.get(figure), (key, figure, values)
            assert any(panel.rows for panel in dash.panels), key
