"""Org isolation of the WeChat admin pages with the pages mounted (tests/test_isolation.py lists the same cases;
there they are only mounted once the WeChat adapter is). Org B's admin aims every route at org A's account and
QR code: 404, nothing of A's shown or changed, and WeChat never asked anything."""

from __future__ import annotations

import hashlib

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.campaigns import service as campaigns_service
from edudesk.campaigns.models import Campaign, CampaignDay
from edudesk.channels.fake.adapter import FakeChannel
from edudesk.db import Database
from edudesk.inboxes import service as inboxes_service
from edudesk.inboxes.models import Inbox
from tests.channels.wechat_admin.conftest import make_inbox
from tests.channels.wechat_admin.fake_wechat import FakeWeChat
from tests.conftest import TwoOrgs, login
from tests.test_isolation import PUBLIC, ROUTES, app_paths

PREFIX = "/admin/channels/{inbox_id}/wechat"
CASES = [(path, case) for path, cases in ROUTES.items() if path.startswith(PREFIX) for case in cases]


def seed(database: Database, app: FastAPI, orgs: TwoOrgs) -> dict[str, int]:
    inbox = make_inbox(database, app, orgs.a.id, "甲的秘密公众号")
    with database.session() as session:
        row = inboxes_service.get(session, orgs.a.id, inbox)
        inboxes_service.set_state(session, row, wechat_menu={
            "draft": [{"key": "m1", "name": "甲的秘密菜单", "kind": "human"}],
            "published": [{"key": "m1", "name": "甲的秘密菜单", "kind": "human"}]})
        campaign = campaigns_service.create(session, Actor(orgs.a.id, label="t"), name="甲的秘密海报",
                                            scene="secret_scene", kind="qr", inbox_id=inbox, channel="wechat",
                                            provider={"ticket": "gQ-secret_scene-ticket=="})
        campaigns_service.record_touch(session, orgs.a.id, inbox, "secret_scene", new_contact=True)
        session.commit()
        return {"wx_inbox": inbox, "campaign": campaign.id}


def fingerprint(database: Database, org_id: int) -> str:
    h = hashlib.sha256()
    with database.session() as session:
        for model in (Inbox, Campaign, CampaignDay):
            for row in session.scalars(select(model).where(model.org_id == org_id).order_by(model.id)):
                h.update(repr(sorted((k, str(v)) for k, v in vars(row).items() if not k.startswith("_"))).encode())
    return h.hexdigest()


def test_every_wechat_admin_route_is_classified(app: FastAPI) -> None:
    mine = {p for p in app_paths(app) if p.startswith(PREFIX)}
    assert mine and not mine - set(ROUTES) - set(PUBLIC)


# Every route in one test per database: a refused request changes nothing, so the cases share one app and seed
# (one setup per route cost a second or more each).
def test_org_b_cannot_reach_org_a(client: TestClient, app: FastAPI, orgs: TwoOrgs, database: Database,
                                  wechat_api: FakeWeChat) -> None:
    assert CASES
    targets = seed(database, app, orgs)
    wechat_api.calls.clear()
    before = fingerprint(database, orgs.a.id)
    csrf = login(client, "beta", "admin")
    for _route, case in CASES:
        url = case.path.format(**targets)
        if case.method == "GET":
            resp = client.get(url)
        else:
            form = {k: v.format(**targets) for k, v in (case.form or {}).items()}
            resp = client.post(url, data={**form, "csrf_token": csrf})
        assert resp.status_code == 404, f"{case.method} {url} answered {resp.status_code}"
        assert "甲的秘密" not in resp.text and "secret_scene" not in resp.text, url
        assert fingerprint(database, orgs.a.id) == before, url
        assert wechat_api.calls == [], url


def test_an_account_of_another_kind_is_not_a_wechat_account(client: TestClient, orgs: TwoOrgs,
                                                            database: Database, wechat_api: FakeWeChat) -> None:
    with database.session() as session:
        other = inboxes_service.create(session, Actor(orgs.a.id, label="t"), FakeChannel,
                                       inboxes_service.secret_box("x" * 32), name="测试账号", data={})
        session.commit()
        targets = {"wx_inbox": other.id, "campaign": 1}
    csrf = login(client, "alpha", "admin")
    for _route, case in CASES:
        url = case.path.format(**targets)
        form = {**(case.form or {}), "csrf_token": csrf}
        resp = client.get(url) if case.method == "GET" else client.post(url, data=form)
        assert resp.status_code == 404, f"{case.method} {url} answered {resp.status_code}"
        assert wechat_api.calls == [], url
