"""千人千面 in the widget: the session response by page, by campaign and by profile tag, and the clicks on a rule's
suggestions counted from the message frame's ``suggestion`` (old widgets, forged ids and other orgs' rules not)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from edudesk.audit.service import Actor
from edudesk.channels.web.visitor_token import VisitorTokens
from edudesk.contacts import service as contacts_service
from edudesk.db import Database
from edudesk.visitors import service as visitors_service
from tests.channels.test_web_routes import new_visitor, recv_until
from tests.conftest import TwoOrgs
from tests.visitors.factories import add_visit

EXAM = visitors_service.PersonalInput(name="考证广告", priority=10, campaign="exam-prep",
                                      welcome="欢迎了解考证冲刺班", hot="考试时间？\n报考条件？",
                                      guess="考证班多少钱？")
PAGE = visitors_service.PersonalInput(name="美术页", priority=20, url_pattern="/courses/art", guess="美术课几人一班？")
TAGGED = visitors_service.PersonalInput(name="价格敏感的老访客", priority=5, tag="价格敏感",
                                        welcome="本月报名立减 500 元")


def _rules(database: Database, org_id: int, *inputs: visitors_service.PersonalInput) -> list[int]:
    with database.session() as session:
        ids = [visitors_service.save_personal_rule(session, Actor(org_id, label="t"), None, i).id for i in inputs]
        session.commit()
    return ids


def _counts(database: Database, org_id: int) -> dict[str, tuple[int, int]]:
    with database.session() as session:
        return {r["name"]: (r["shown"], r["clicked"]) for r in visitors_service.report(session, org_id)}


def test_the_session_answer_follows_campaign_and_page(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    exam_id, page_id = _rules(database, orgs.a.id, EXAM, PAGE)
    default = new_visitor(client, orgs.a.public_key, page_url="https://s.example/")
    assert default["personal_rule_id"] is None

    exam = new_visitor(client, orgs.a.public_key, page_url="https://s.example/courses/art?utm_campaign=exam-prep-27")
    assert exam["personal_rule_id"] == exam_id  # both match: the lower priority wins
    assert exam["org"]["welcome"] == "欢迎了解考证冲刺班"
    assert exam["hot"] == ["考试时间？", "报考条件？"] and exam["guess"] == ["考证班多少钱？"]

    art = new_visitor(client, orgs.a.public_key, page_url="https://s.example/courses/art/teachers")
    assert art["personal_rule_id"] == page_id and art["guess"] == ["美术课几人一班？"]
    assert art["org"]["welcome"] == default["org"]["welcome"] and art["hot"] == default["hot"]  # empty: the org's

    other_org = new_visitor(client, orgs.b.public_key, page_url="https://s.example/?utm_campaign=exam-prep")
    assert other_org["personal_rule_id"] is None
    assert _counts(database, orgs.a.id) == {"考证广告": (1, 0), "美术页": (1, 0)}


def test_a_returning_contact_is_matched_by_tag(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    (tagged_id,) = _rules(database, orgs.a.id, TAGGED)
    info = new_visitor(client, orgs.a.public_key, page_url="https://s.example/")
    assert info["personal_rule_id"] is None
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        assert ws.receive_json()["type"] == "hello"
    with database.session() as session:
        contact = contacts_service.find_by_identity(session, orgs.a.id, "web", _visitor_id(client, info))
        assert contact is not None
        contact.tags = ["价格敏感"]
        session.commit()
    again = new_visitor(client, orgs.a.public_key, token=info["token"], page_url="https://s.example/")
    assert again["personal_rule_id"] == tagged_id and again["org"]["welcome"] == "本月报名立减 500 元"


def _visitor_id(client: TestClient, info: dict[str, Any]) -> str:
    ident = VisitorTokens(client.app.state.ctx.settings.secret_key).read(info["token"])  # type: ignore[attr-defined]
    assert ident is not None
    return ident.visitor_id


def test_clicks_on_a_rules_suggestions_are_counted_once(client: TestClient, orgs: TwoOrgs,
                                                        database: Database) -> None:
    exam_id, _ = _rules(database, orgs.a.id, EXAM, PAGE)
    (b_rule,) = _rules(database, orgs.b.id, visitors_service.PersonalInput(name="乙", hot="考试时间？"))
    info = new_visitor(client, orgs.a.public_key, page_url="https://s.example/?utm_campaign=exam-prep")
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        assert ws.receive_json()["type"] == "hello"
        frames: list[dict[str, Any]] = [
            {"client_id": "c1", "text": "考试时间？", "suggestion": exam_id},   # counted
            {"client_id": "c1", "text": "考试时间？", "suggestion": exam_id},   # the same message resent: not again
            {"client_id": "c2", "text": "考试时间？"},                           # an old widget: not counted
            {"client_id": "c3", "text": "随便问问", "suggestion": exam_id},      # not one of its suggestions
            {"client_id": "c4", "text": "考试时间？", "suggestion": b_rule},     # another org's rule
            {"client_id": "c5", "text": "考证班多少钱？", "suggestion": "1; DROP TABLE x"},  # ignored, still sent
            {"client_id": "c6", "text": "考证班多少钱？", "suggestion": exam_id},  # counted
        ]
        for frame in frames:
            ws.send_json({"type": "message", **frame})
            recv_until(ws, "ack", client_id=frame["client_id"])
    counts = _counts(database, orgs.a.id)
    assert counts["考证广告"] == (1, 2)
    assert _counts(database, orgs.b.id) == {"乙": (0, 0)}


def test_a_visitor_who_came_from_search_keeps_that_source_on_their_next_pages(client: TestClient, orgs: TwoOrgs,
                                                                              database: Database) -> None:
    """One classifier: the session's source is the trail's. A visitor not yet a contact who landed from Baidu
    opens the widget on a later page (a same-site referrer): their browser's latest visit says 'search'."""
    search = visitors_service.PersonalInput(name="搜索来的", priority=10, source_kind="search", welcome="搜到我们啦")
    direct = visitors_service.PersonalInput(name="直接访问", priority=20, source_kind="direct", welcome="欢迎直接来访")
    search_id, direct_id = _rules(database, orgs.a.id, search, direct)
    first = new_visitor(client, orgs.a.public_key, page_url="https://s.example/",
                        referrer="https://www.baidu.com/s?wd=%E8%80%83%E7%A0%94")
    assert first["personal_rule_id"] == search_id
    later = new_visitor(client, orgs.a.public_key, token=first["token"], page_url="https://s.example/price",
                        referrer="https://s.example/")
    assert later["personal_rule_id"] == direct_id  # no trail yet: nothing says otherwise
    with database.session() as session:
        add_visit(session, orgs.a.id, visitor_key=_visitor_id(client, first), source_kind="search",
                  source={"search_engine": "baidu", "search_keyword": "考研"})
        add_visit(session, orgs.a.id, visitor_key="someone-else", source_kind="ad")
        session.commit()
    later = new_visitor(client, orgs.a.public_key, token=first["token"], page_url="https://s.example/price",
                        referrer="https://s.example/")
    assert later["personal_rule_id"] == search_id and later["org"]["welcome"] == "搜到我们啦"
    stranger = new_visitor(client, orgs.a.public_key, page_url="https://s.example/price")
    assert stranger["personal_rule_id"] == direct_id
