from __future__ import annotations

import datetime as dt

from edudesk.contacts import service as contacts_service
from edudesk.db import Database
from edudesk.visitors import trail
from tests.conftest import TwoOrgs
from tests.visitors.factories import add_visit

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def test_touches_and_trail_of_a_contact_leave_out_crawlers_and_other_orgs(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        contact = contacts_service.find_or_create(session, orgs.a.id, "web", "v_parent")
        other = contacts_service.find_or_create(session, orgs.b.id, "web", "v_parent")
        first = add_visit(session, orgs.a.id, visitor_key="v_parent", contact_id=contact.id, started_at=T0,
                          pages=["https://s.example/?utm_campaign=kaoyan", "https://s.example/price"],
                          source={"utm_campaign": "kaoyan"}, source_kind="ad")
        add_visit(session, orgs.a.id, visitor_key="v_parent", contact_id=contact.id, is_bot=True,
                  started_at=T0 + dt.timedelta(days=1))
        last = add_visit(session, orgs.a.id, visitor_key="v_parent", contact_id=contact.id,
                         started_at=T0 + dt.timedelta(days=2), pages=["https://s.example/trial"])
        add_visit(session, orgs.b.id, visitor_key="v_parent", contact_id=other.id, started_at=T0 - dt.timedelta(days=9))
        session.commit()

        touches = trail.touches_of_contact(session, orgs.a.id, contact.id)
        assert touches.first is not None and touches.first.id == first.id
        assert touches.first.source == {"utm_campaign": "kaoyan"}
        assert touches.last is not None and touches.last.id == last.id
        assert [v.id for v in trail.visits_of(session, orgs.a.id, contact.id)] == [last.id, first.id]
        assert [p.url for p in trail.page_views_of(session, orgs.a.id, contact.id)] == [
            "https://s.example/trial", "https://s.example/price", "https://s.example/?utm_campaign=kaoyan"]
        assert trail.touches_of_contact(session, orgs.b.id, contact.id) == trail.Touches(None, None)

        conv = trail.touches_of_conversation(session, orgs.a.id, contact.id, T0 + dt.timedelta(hours=1),
                                             T0 + dt.timedelta(days=3))
        assert conv.first is not None and conv.first.id == first.id
        assert conv.last is not None and conv.last.id == last.id
