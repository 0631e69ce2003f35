"""Lead grades: explainable scores from card fields, intent signals in messages, visits and pipeline status."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.db import Database
from edudesk.leads import grading
from edudesk.leads import service as leads_service
from edudesk.leads.models import Lead, LeadStatus
from tests.conftest import TwoOrgs, login
from tests.leads.test_service import say


def test_signals_in_messages() -> None:
    assert grading.signals_in("一期学费多少钱？") == {"asked_price"}
    assert grading.signals_in("想给孩子报名，暑假什么时候开课") == {"enrol_intent", "asked_schedule"}
    assert grading.signals_in("你好") == set()


def test_grade_explains_itself() -> None:
    shown = grading.facts({"phone": "13800138000", "grade": "三年级"}, LeadStatus.new, 1, ["asked_price"])
    result = grading.grade(shown)
    assert result.score == 25 + 10 + 15 and result.level == "B"
    assert result.reasons == ("+25 留下了手机号", "+10 说了孩子年级", "+15 问过价格")
    booked = grading.grade(grading.facts({"phone": "1"}, LeadStatus.trial_booked, 2, ["enrol_intent"]))
    assert booked.level == "A"
    lost = grading.facts({}, LeadStatus.lost, 1, [])
    assert "trial_booked" not in lost and grading.grade(lost).level == "C"


def test_a_lead_is_rescored_on_every_new_signal(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    say(database, orgs.a.id, "孩子三年级", 1)
    with database.session() as session:
        lead = session.scalars(select(Lead)).one()
        assert (lead.level, lead.score) == ("C", 10)
    say(database, orgs.a.id, "学费多少？", 2)  # a signal alone, no new fact
    say(database, orgs.a.id, "想报名，电话 13800138000", 3)
    with database.session() as session:
        lead = session.scalars(select(Lead)).one()
        assert lead.level == "A" and lead.score == 10 + 15 + 25 + 20
        assert "+15 问过价格" in lead.score_reasons and "+20 有报名意向" in lead.score_reasons
        leads_service.set_status(session, Actor(orgs.a.id, label="t"), lead.id, "lost")
        session.commit()
    login(client, "alpha", "supervisor")
    assert "A · 70" in client.get("/leads?level=A").text
    assert "共 0 条线索" in client.get("/leads?level=B").text


def test_an_org_sets_its_own_rules(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "supervisor")
    assert "has_phone|25|留下了手机号" in client.get("/leads/grading").text
    for rules, a, b, message in (("has_phone|x|电话", "60", "30", "分值须为整数"),
                                 ("guessed|5|猜的", "60", "30", "未知信号"),
                                 ("has_phone|50|电话", "30", "60", "B 级分数线"),
                                 ("<script>|5|x", "60", "30", "未知信号")):
        resp = client.post("/leads/grading", data={"rules": rules, "a_threshold": a, "b_threshold": b,
                                                   "csrf_token": csrf})
        assert resp.status_code == 422 and message in resp.text and "<script>|" not in resp.text
    resp = client.post("/leads/grading", data={"rules": "has_phone|50|留了电话\nfield:grade|20|说了年级",
                                               "a_threshold": "60", "b_threshold": "20", "csrf_token": csrf})
    assert resp.status_code == 200 and "评分规则已保存" in resp.text
    say(database, orgs.a.id, "孩子三年级，电话 13800138000", 1)
    say(database, orgs.b.id, "孩子三年级，电话 13800138000", 1, visitor="b")
    with database.session() as session:
        levels = {lead.org_id: (lead.level, lead.score) for lead in session.scalars(select(Lead))}
    assert levels[orgs.a.id] == ("A", 70) and levels[orgs.b.id] == ("B", 35)
    client.cookies.clear()
    login(client, "alpha", "agent")
    assert client.get("/leads/grading").status_code == 403
