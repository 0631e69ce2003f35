"""Leads carry where the visitor came from: the lead list filters by source kind, search engine and campaign,
the export has the source columns, the webhook payload the attribution, and 套电率 has rows by source kind
(crawler visits never count)."""

from __future__ import annotations

import csv
import datetime as dt
import io

from fastapi.testclient import TestClient

from edudesk.contacts import service as contacts_service
from edudesk.db import Database, utcnow
from edudesk.leads import reports
from edudesk.leads import service as leads_service
from edudesk.localtime import LOCAL_TZ
from edudesk.visitors import service as visitors_service
from tests.conftest import TwoOrgs, login
from tests.leads.test_service import say
from tests.visitors.factories import add_visit

SEARCH = {"search_engine": "baidu", "search_keyword": "少儿编程", "referrer_host": "www.baidu.com"}
AD = {"utm_source": "douyin", "utm_medium": "cpc", "utm_campaign": "kaoyan2026", "click_id_kind": "clickid",
      "click_id": "EQx"}


def arrive(database: Database, org_id: int, visitor: str, **visit: object) -> None:
    """The visitor browsed before chatting (a visit linked to their contact, its first touch noted)."""
    with database.session() as session:
        contact = contacts_service.find_or_create(session, org_id, "web", visitor)
        add_visit(session, org_id, visitor_key=visitor, contact_id=contact.id,
                  started_at=utcnow() - dt.timedelta(minutes=5), **visit)  # type: ignore[arg-type]
        visitors_service.note_first_touch(session, org_id, contact.id)
        session.commit()


def seed(database: Database, orgs: TwoOrgs) -> None:
    arrive(database, orgs.a.id, "v_search", source=SEARCH, source_kind="search")
    arrive(database, orgs.a.id, "v_ad", source=AD, source_kind="ad", campaign="kaoyan2026")
    arrive(database, orgs.a.id, "v_bot", source=AD, source_kind="ad", is_bot=True)
    say(database, orgs.a.id, "孩子三年级，电话 13800138000", 1, visitor="v_search")  # captured
    say(database, orgs.a.id, "孩子三年级，想了解数学", 1, visitor="v_ad")  # a lead, no contact details
    say(database, orgs.a.id, "加我微信 wang_mama2020", 1, visitor="v_plain")  # captured, no trail
    say(database, orgs.a.id, "电话 13700137000", 1, visitor="v_bot")  # captured; its only visit was a crawler
    arrive(database, orgs.b.id, "v_b", source=SEARCH, source_kind="search")
    say(database, orgs.b.id, "电话 13900139000", 1, visitor="v_b")


def test_lead_filters_and_webhook_payload(database: Database, orgs: TwoOrgs) -> None:
    seed(database, orgs)
    with database.session() as session:
        def found(**filters: str) -> set[str]:
            page = leads_service.search(session, orgs.a.id, leads_service.LeadFilters(**filters), show_phone=True)
            return {contacts_service.identity_of(session, orgs.a.id, r.lead.contact_id, "web") or "" for r in
                    page.rows}

        assert found(source_kind="search") == {"v_search"}
        assert found(search_engine="baidu") == {"v_search"}
        assert found(source_kind="ad") == {"v_ad"}
        assert found(campaign="kaoyan") == {"v_ad"}
        assert found(campaign="%") == set() and found(source_kind="direct") == set()
        lead = leads_service.search(session, orgs.a.id, leads_service.LeadFilters(source_kind="search"),
                                    show_phone=True).rows[0].lead
        payload = leads_service.lead_payload(session, lead)
        assert payload["attribution"]["source_kind"] == "search"
        assert payload["attribution"]["search_keyword"] == "少儿编程"


def test_capture_rate_by_source_kind(database: Database, orgs: TwoOrgs) -> None:
    seed(database, orgs)
    today = dt.datetime.now(LOCAL_TZ).date()
    with database.session() as session:
        result = reports.breakdown(session, orgs.a.id, today, today, source_of=lambda ids: (
            visitors_service.source_kinds_of_conversations(session, orgs.a.id, ids)),
            no_source=visitors_service.NO_TRAIL)
    assert [(r.key, r.conversations, r.captured) for r in result.by_source] == [
        ("none", 2, 2), ("ad", 1, 0), ("search", 1, 1)]
    assert (result.total.conversations, result.total.captured) == (4, 3)


def test_list_export_and_dashboard_show_the_source(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    seed(database, orgs)
    login(client, "alpha", "supervisor")
    listing = client.get("/leads", params={"source": "search"})
    assert listing.status_code == 200 and "搜索 · 百度" in listing.text and "kaoyan2026" not in listing.text
    assert client.get("/leads", params={"source": "<script>", "engine": "' OR 1=1 --"}).status_code == 200
    exported = client.get("/leads/export", params={"format": "csv", "campaign": "kaoyan"})
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    header = rows[0]
    assert header[-7:] == ["来源类型", "搜索引擎", "搜索词", "推广活动", "utm_source", "utm_medium", "广告点击 ID 类型"]
    assert len(rows) == 2 and rows[1][-7:] == ["广告", "", "", "kaoyan2026", "douyin", "cpc", "clickid"]
    dashboard = client.get("/leads/dashboard")
    assert dashboard.status_code == 200 and 'id="capture-by-source"' in dashboard.text
    assert "无浏览记录" in dashboard.text
