"""/admin/voice/alerts: supervisors and admins edit the org's alert rules (defaults seeded on first visit), with
specific errors beside the field for empty, too many, too long, duplicate and hostile input; every change is
audited; agents are refused."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.db import Database
from edudesk.voice.assist import alerts
from edudesk.voice.assist.models import AlertSide, CallAlertRule
from tests.conftest import TwoOrgs, login


def rules(database: Database, org_id: int) -> list[CallAlertRule]:
    with database.session() as session:
        return alerts.rules_of(session, org_id)


def test_alert_rules_page(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "agent")
    assert client.get("/admin/voice/alerts", follow_redirects=False).status_code == 403
    csrf = login(client, "alpha", "supervisor")
    page = client.get("/admin/voice/alerts")
    assert page.status_code == 200 and "学而思" in page.text and 'href="/admin/voice/alerts"' in page.text
    assert [r.name for r in rules(database, orgs.a.id)] == ["价格", "优惠", "试听", "投诉", "退费", "竞品"]
    assert rules(database, orgs.b.id) == []

    base = {
        "name": "承诺",
        "words": "保证提分，百分百",
        "side": "agent",
        "severity": "warning",
        "suggestion": "不要承诺结果",
        "enabled": "1",
        "csrf_token": csrf,
    }
    for change, why in (
        ({"name": ""}, "请填写提醒名称"),
        ({"name": "名" * 17}, "不能超过 16"),
        ({"words": ""}, "至少填写一个关键词"),
        ({"words": ",".join(f"词{i}" for i in range(31))}, "30"),
        ({"words": "长" * 21}, "太长"),
        ({"words": "x" * 4999}, "太长"),
        ({"name": "<script>"}, "不允许的字符"),
        ({"words": "a\x00b"}, "空字符"),
        ({"side": "nobody"}, "请选择"),
        ({"intent": "hack"}, "未知的意图"),
        ({"name": "退费"}, "同名"),
        ({"suggestion": "长" * 301}, "300"),
    ):
        resp = client.post("/admin/voice/alerts", data={**base, **change})
        assert resp.status_code == 422 and why in resp.text, change
    assert client.post("/admin/voice/alerts", data={**base, "csrf_token": "x"}).status_code == 400
    hostile = client.post("/admin/voice/alerts", data={**base, "suggestion": "<img src=x onerror=alert(1)>"})
    assert hostile.status_code == 200 and "<img src=x" not in hostile.text and "&lt;img src=x" in hostile.text
    made = next(r for r in rules(database, orgs.a.id) if r.name == "承诺")
    assert made.words == ["保证提分", "百分百"] and made.side == AlertSide.agent

    resp = client.post(f"/admin/voice/alerts/{made.id}", data={**base, "words": "包过", "enabled": ""})
    assert resp.status_code == 200 and "提醒已保存" in resp.text
    made = next(r for r in rules(database, orgs.a.id) if r.name == "承诺")
    assert made.words == ["包过"] and not made.enabled
    assert client.post(f"/admin/voice/alerts/{made.id}/delete", data={"csrf_token": csrf}).status_code == 200
    assert "承诺" not in [r.name for r in rules(database, orgs.a.id)]
    with database.session() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.org_id == orgs.a.id, AuditEntry.action.like("voice.alert_rule.%")
            )
        )
        assert sorted(actions) == ["voice.alert_rule.create", "voice.alert_rule.delete", "voice.alert_rule.update"]

    login(client, "beta", "admin")  # org B's admin: org A's rule is not there
    other = rules(database, orgs.a.id)[0]
    assert (
        client.post(f"/admin/voice/alerts/{other.id}/delete", data={"csrf_token": csrf_of(client)}).status_code == 404
    )


def csrf_of(client: TestClient) -> str:
    from tests.conftest import csrf_from

    return csrf_from(client.get("/console").text)


def test_the_last_rule_is_turned_off_not_deleted(database: Database, orgs: TwoOrgs) -> None:
    from edudesk.audit.service import Actor
    from edudesk.voice.service import VoiceError

    actor = Actor(orgs.a.id, label="t")
    with database.session() as session:
        ids = [r.id for r in alerts.active_rules(session, orgs.a.id)]
        for rule_id in ids[:-1]:
            alerts.delete_rule(session, actor, rule_id)
        try:
            alerts.delete_rule(session, actor, ids[-1])
            raise AssertionError("deleted the last rule")
        except VoiceError as exc:
            assert exc.code == "last_rule"
