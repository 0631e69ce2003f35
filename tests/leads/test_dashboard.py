"""套电率 by bot script (话术流程), the capture-rate API's ``by=flow``, lead counts, and the leads dashboard page."""

from __future__ import annotations

import datetime as dt
import json

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from edudesk.audit.service import Actor
from edudesk.bot import scripts
from edudesk.bot.flows.templates import K12_FLOW
from edudesk.bot.models import BotConversationState
from edudesk.channels.base import InboundMessage
from edudesk.conversations.models import Conversation
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from edudesk.kb import service as kb_service
from edudesk.kb.schemas import EntryInput
from edudesk.leads import reports
from edudesk.leads import service as leads_service
from edudesk.leads.models import Lead
from edudesk.localtime import LOCAL_TZ, local_today
from tests.conftest import TwoOrgs, login
from tests.leads.test_api import token

FLOW_NAME = "K12 免费试听邀约"


def say(database: Database, org_id: int, visitor: str, *texts: str, channel: str = "web") -> int:
    """The visitor's messages, one turn each; returns the conversation id."""
    conv_id = 0
    for n, text in enumerate(texts):
        with database.session() as session:
            result = inbound_service.receive(session, InboundMessage(
                org_id=org_id, channel=channel, external_user_id=visitor, client_message_id=f"{visitor}-{n}",
                text=text), agents_online=False)
            session.commit()
            conv_id = result.conversation.id
    return conv_id


def with_script(database: Database, org_id: int, name: str = FLOW_NAME) -> None:
    with database.session() as session:
        actor = Actor(org_id, label="test")
        kb_service.create_entry(session, actor, EntryInput(question="学费多少？", similar=["一期多少钱"],
                                                           answer="每期 3600 元，共 16 课时。"))
        scripts.save_flow(session, actor, json.dumps({**K12_FLOW, "name": name}, ensure_ascii=False))
        session.commit()


def seed(database: Database, orgs: TwoOrgs) -> dict[str, int]:
    """Four conversations in org A: the script ran and captured / ran and was cut short by 转人工 / no script but
    a number / no script, nothing. Org B: one with its own script."""
    with_script(database, orgs.a.id)
    with_script(database, orgs.b.id, name="乙的流程")
    convs = {
        "flow_captured": say(database, orgs.a.id, "v1", "学费多少？", "电话 13800138000"),
        "flow_handover": say(database, orgs.a.id, "v2", "想报名", "转人工"),
        "plain_captured": say(database, orgs.a.id, "v3", "我的电话 13900139000", channel="wechat"),
        "plain": say(database, orgs.a.id, "v4", "你们在哪里"),
    }
    say(database, orgs.b.id, "w1", "学费多少？", "电话 13700137000")
    return convs


def test_capture_rate_by_flow_counts_every_script_that_ran(database: Database, orgs: TwoOrgs) -> None:
    convs = seed(database, orgs)
    with database.session() as session:
        # The bot's state forgets a script a hand-over cut short; the report still counts it.
        state = session.scalars(select(BotConversationState).where(
            BotConversationState.conversation_id == convs["flow_handover"])).one()
        assert state.flow_state is None and state.flows_done == []
        flows = reports.flows_by_conversation(session, orgs.a.id, list(convs.values()))
        assert flows == {convs["flow_captured"]: {"k12_trial"}, convs["flow_handover"]: {"k12_trial"}}
        today = local_today()
        rows = reports.capture_rate(session, orgs.a.id, today, today, by="flow")
        breakdown = reports.breakdown(session, orgs.a.id, today - dt.timedelta(days=13), today)
    assert [(r.key, r.label, r.conversations, r.captured) for r in rows] == [
        ("k12_trial", FLOW_NAME, 2, 1), (reports.NO_FLOW, reports.NO_FLOW, 2, 1)]
    assert breakdown.total == reports.CaptureRow("total", 4, 2)
    assert [r.key for r in breakdown.by_flow] == ["k12_trial", reports.NO_FLOW]
    assert [(r.key, r.conversations, r.captured) for r in breakdown.by_channel] == [("web", 3, 1), ("wechat", 1, 1)]
    assert len(breakdown.by_day) == 14 and breakdown.by_day[0].conversations == 0
    assert breakdown.by_day[-1] == reports.CaptureRow(today.isoformat(), 4, 2)


def test_a_conversation_in_two_scripts_counts_for_both_but_once_in_the_total(database: Database,
                                                                               orgs: TwoOrgs) -> None:
    conv = say(database, orgs.a.id, "v1", "你好")
    with database.session() as session:
        state = session.scalars(select(BotConversationState).where(
            BotConversationState.conversation_id == conv)).first()
        if state is None:
            state = BotConversationState(org_id=orgs.a.id, conversation_id=conv)
            session.add(state)
        state.flows_done, state.flow_state = ["a", "b"], {"flow_key": "c", "version": 1, "step": "x"}
        session.commit()
        today = local_today()
        rows, total = reports.capture_report(session, orgs.a.id, today, today, by="flow")
    assert sorted((r.key, r.label, r.conversations) for r in rows) == [("a", "a", 1), ("b", "b", 1), ("c", "c", 1)]
    assert total.conversations == 1


def test_days_are_counted_in_shanghai(database: Database, orgs: TwoOrgs) -> None:
    conv = say(database, orgs.a.id, "v1", "电话 13800138000")
    # 17:30 UTC on 1 March is 01:30 on 2 March in Shanghai.
    with database.session() as session:
        session.execute(update(Conversation).where(Conversation.id == conv).values(
            created_at=dt.datetime(2025, 3, 1, 17, 30, tzinfo=dt.UTC)))
        session.commit()
        march = reports.breakdown(session, orgs.a.id, dt.date(2025, 3, 1), dt.date(2025, 3, 2))
    assert [(r.key, r.conversations, r.captured) for r in march.by_day] == [("2025-03-01", 0, 0),
                                                                           ("2025-03-02", 1, 1)]


def test_lead_counts_by_grade_and_status(database: Database, orgs: TwoOrgs) -> None:
    say(database, orgs.a.id, "v1", "孩子三年级，想学数学，想报名，电话 13800138000")
    say(database, orgs.a.id, "v2", "孩子五岁")
    say(database, orgs.a.id, "v3", "电话 13800138000")  # the same parent again: merged, not a second lead
    say(database, orgs.b.id, "w1", "电话 13900139000")
    with database.session() as session:
        leads = session.scalars(select(Lead).where(Lead.org_id == orgs.a.id).order_by(Lead.id)).all()
        leads_service.set_status(session, Actor(orgs.a.id, label="t"), leads[0].id, "contacted")
        session.commit()
        today = local_today()
        counts = reports.lead_counts(session, orgs.a.id, today, today)
        levels = {lv: n for lv, n in counts.by_level}
        expected = {lv: sum(1 for x in leads if x.merged_into_id is None and x.level == lv) for lv in "ABC"}
        earlier = reports.lead_counts(session, orgs.a.id, today - dt.timedelta(days=9), today - dt.timedelta(days=8))
    assert counts.total == 2 and levels == expected and sum(levels.values()) == 2
    assert [s for s, _ in counts.by_status] == ["new", "contacted", "trial_booked", "attended", "enrolled", "lost"]
    assert dict(counts.by_status) == {"new": 1, "contacted": 1, "trial_booked": 0, "attended": 0, "enrolled": 0,
                                      "lost": 0}
    assert earlier.total == 0 and dict(earlier.by_level) == {"A": 0, "B": 0, "C": 0}


def test_the_api_reports_by_flow_and_stays_compatible(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    seed(database, orgs)
    read = token(database, orgs.a.id, "leads:read")
    today = dt.datetime.now(LOCAL_TZ).date().isoformat()
    report = client.get(f"/api/v1/reports/capture-rate?since={today}&until={today}&by=flow", headers=read).json()
    assert report["rows"] == [
        {"key": "k12_trial", "label": FLOW_NAME, "conversations": 2, "captured": 1, "rate": 0.5},
        {"key": "无话术", "label": "无话术", "conversations": 2, "captured": 1, "rate": 0.5}]
    assert report["total"] == {"key": "total", "conversations": 4, "captured": 2, "rate": 0.5}
    by_day = client.get(f"/api/v1/reports/capture-rate?since={today}&until={today}", headers=read).json()
    assert by_day == {"rows": [{"key": today, "conversations": 4, "captured": 2, "rate": 0.5}],
                      "total": {"key": "total", "conversations": 4, "captured": 2, "rate": 0.5}}
    other = token(database, orgs.b.id, "leads:read")
    theirs = client.get(f"/api/v1/reports/capture-rate?since={today}&until={today}&by=flow", headers=other).json()
    assert [r["label"] for r in theirs["rows"]] == ["乙的流程"]
    assert client.get(f"/api/v1/reports/capture-rate?since={today}&until={today}&by=flows",
                      headers=read).status_code == 422


def test_dashboard_for_supervisors_and_admins(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    seed(database, orgs)
    login(client, "alpha", "agent")
    assert client.get("/leads/dashboard").status_code == 403
    client.cookies.clear()
    login(client, "alpha", "supervisor")
    page = client.get("/leads/dashboard")
    assert page.status_code == 200
    html = page.text
    assert FLOW_NAME in html and "乙的流程" not in html and "无话术" in html
    assert 'id="capture-by-day"' in html and html.count('<th scope="row">20') == 14
    assert "50.0%" in html and "<meter" in html
    assert client.get("/leads/dashboard?days=30").text.count('<th scope="row">20') == 30
    assert client.get("/leads/dashboard?days=7").text.count('<th scope="row">20') == 7
    assert client.get("/leads/dashboard?days=999").text.count('<th scope="row">20') == 14
    assert 'href="/leads/dashboard"' in client.get("/leads").text
    client.cookies.clear()
    login(client, "beta", "admin")
    theirs = client.get("/leads/dashboard").text
    assert "乙的流程" in theirs and FLOW_NAME not in theirs
