"""Org B's staff cannot see or act on org A's live visitors and invite rules, with real ids of org A's rows (the
generic route-by-route check in tests/test_isolation.py has no live visitor or invite rule to aim at)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.contacts import service as contacts_service
from edudesk.db import Database
from edudesk.visitors import invitations
from edudesk.visitors.invitation_models import Invitation, InviteRule
from tests.conftest import TwoOrgs, login
from tests.visitors.live_helpers import publish_view, settled


def test_org_b_cannot_reach_org_a_live_visitors_or_rules(client: TestClient, app: FastAPI, orgs: TwoOrgs,
                                                         database: Database) -> None:
    with database.session() as session:
        contact_id = contacts_service.find_or_create(session, orgs.a.id, "web", "v_secret").id
        rule_id = invitations.save_rule(session, Actor(orgs.a.id, label="t"), invitations.RuleForm(
            name="甲的秘密规则", message="甲的邀请语")).id
        session.commit()
    tracker = app.state.live
    tracker.socket_opened(orgs.a.id, "v_secret", contact_id, "https://a.example/secret-page", "甲的秘密页面")
    publish_view(app.state.ctx.bus, orgs.a.id, "v_secret", "https://a.example/secret-page", title="甲的秘密页面")
    settled(tracker.registry, orgs.a.id, "v_secret", "https://a.example/secret-page")
    csrf = login(client, "beta", "admin")
    for url in ("/console/visitors", "/console/visitors/list", "/console/visitors/list?v=0", "/admin/invitations"):
        resp = client.get(url)
        assert resp.status_code == 200 and "secret-page" not in resp.text and "甲的秘密" not in resp.text
    invite = client.post("/console/visitors/invite", data={"visitor_key": "v_secret", "text": "越权",
                                                           "csrf_token": csrf})
    assert invite.status_code == 404
    assert client.get(f"/admin/invitations/{rule_id}").status_code == 404
    assert client.post(f"/admin/invitations/{rule_id}", data={"name": "劫持", "message": "x",
                                                              "csrf_token": csrf}).status_code == 404
    assert client.post(f"/admin/invitations/{rule_id}/delete", data={"csrf_token": csrf}).status_code == 404
    with database.session() as session:
        # Only org A's own rule invited its visitor (the engine ran on this instance); nothing came from org B.
        assert all(i.rule_id == rule_id and i.sent_by_id is None for i in session.scalars(select(Invitation)))
        rule = session.get(InviteRule, rule_id)
        assert rule is not None and rule.name == "甲的秘密规则"
    # Agents never reach the rules page; supervisors neither (admin only).
    client.cookies.clear()
    login(client, "alpha", "agent")
    assert client.get("/admin/invitations", follow_redirects=False).status_code in (403, 303)
    client.cookies.clear()
    login(client, "alpha", "supervisor")
    assert client.get("/admin/invitations", follow_redirects=False).status_code in (403, 303)
