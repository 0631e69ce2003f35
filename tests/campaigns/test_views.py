"""The campaigns pages: every campaign with its numbers, link campaigns, naming, archiving; roles."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.campaigns import service as campaigns_service
from edudesk.campaigns.models import Campaign
from edudesk.db import Database
from tests.campaigns.test_service import arrive, make_inbox, say
from tests.conftest import TwoOrgs, login


def rows(database: Database) -> list[Campaign]:
    with database.session() as session:
        found = list(session.scalars(select(Campaign).order_by(Campaign.id)))
        session.expunge_all()
        return found


def test_a_link_campaign_from_creation_to_numbers(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    inbox = make_inbox(database, orgs.a.id, "微信客服")
    csrf = login(client, "alpha", "admin")
    resp = client.post("/admin/campaigns", data={
        "name": "抖音主页链接", "scene": "douyin_home", "inbox_id": str(inbox),
        "base_url": "https://work.weixin.qq.com/kf/kfc123?enc_scene=ENC1", "csrf_token": csrf}, follow_redirects=False)
    assert resp.status_code == 303
    [row] = rows(database)
    assert (row.kind, row.inbox_id, row.channel, row.org_id) == ("link", inbox, "fake", orgs.a.id)
    detail = client.get(resp.headers["location"]).text
    assert "https://work.weixin.qq.com/kf/kfc123?enc_scene=ENC1&amp;scene_param=douyin_home" in detail
    arrive(database, orgs.a.id, inbox, "ext-1", "douyin_home")
    say(database, orgs.a.id, inbox, "ext-1", "电话 13800138000", 1)
    listing = client.get("/admin/campaigns").text
    cells = listing.split(f'id="campaign-{row.id}"')[1].split("</tr>")[0]
    numbers = [c.split("</td>")[0].strip() for c in cells.split("<td>")[1:]]
    assert numbers[4:] == ["1", "1", "1", "1"]
    assert "微信客服" in numbers[3]
    detail = client.get(f"/admin/campaigns/{row.id}").text
    numbers_block = detail.split('id="campaign-numbers"')[1].split("</ul>")[0]
    assert numbers_block.count("<strong>1</strong>") == 4
    assert "<td>1</td><td>1</td>" in detail.split('id="campaign-days"')[1]


def test_bad_input_is_refused_beside_its_field(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    csrf = login(client, "alpha", "admin")
    for data, field in (({"name": "x", "scene": "有空 格"}, "scene"), ({"name": "", "scene": "ok"}, "name"),
                        ({"name": "x", "scene": "ok", "base_url": "ftp://x"}, "base_url"),
                        ({"name": "x", "scene": "ok", "base_url": "javascript:alert(1)"}, "base_url"),
                        ({"name": "x", "scene": "ok", "inbox_id": "abc"}, "inbox_id")):
        resp = client.post("/admin/campaigns", data={**data, "csrf_token": csrf})
        assert resp.status_code == 422 and f'id="error-{field}"' in resp.text, data
    assert client.post("/admin/campaigns", data={"name": "x", "scene": "ok", "csrf_token": "stale"}).status_code == 400
    assert rows(database) == []


def test_naming_an_unnamed_campaign_and_archiving(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    inbox = make_inbox(database, orgs.a.id)
    arrive(database, orgs.a.id, inbox, "o-1", "mystery")
    [row] = rows(database)
    csrf = login(client, "alpha", "admin")
    assert "未命名" in client.get("/admin/campaigns").text
    named = client.post(f"/admin/campaigns/{row.id}", data={"name": "<b>地推</b>", "csrf_token": csrf})
    assert named.status_code == 200 and "&lt;b&gt;地推&lt;/b&gt;" in named.text and "<b>地推</b>" not in named.text
    assert client.post(f"/admin/campaigns/{row.id}", data={"name": " ", "csrf_token": csrf}).status_code == 422
    archived = client.post(f"/admin/campaigns/{row.id}/archive", data={"csrf_token": csrf})
    assert archived.status_code == 200 and "已归档" in archived.text
    assert f'id="campaign-{row.id}"' not in client.get("/admin/campaigns").text
    assert f'id="campaign-{row.id}"' in client.get("/admin/campaigns?archived=1").text
    client.post(f"/admin/campaigns/{row.id}/archive", data={"action": "restore", "csrf_token": csrf})
    [after] = rows(database)
    assert not after.archived and after.name == "<b>地推</b>" and after.origin == "admin"


def test_roles(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    inbox = make_inbox(database, orgs.a.id)
    arrive(database, orgs.a.id, inbox, "o-1", "poster")
    [row] = rows(database)
    csrf = login(client, "alpha", "supervisor")
    assert client.get("/admin/campaigns").status_code == 200
    assert client.get(f"/admin/campaigns/{row.id}").status_code == 200
    for url, data in (("/admin/campaigns", {"name": "x", "scene": "y"}), (f"/admin/campaigns/{row.id}", {"name": "x"}),
                      (f"/admin/campaigns/{row.id}/archive", {})):
        assert client.post(url, data={**data, "csrf_token": csrf}).status_code == 403
    agent = TestClient(client.app)
    login(agent, "alpha", "agent")
    assert agent.get("/admin/campaigns", follow_redirects=False).status_code == 403
    [same] = rows(database)
    assert same.name == campaigns_service.UNNAMED and not same.archived and len(rows(database)) == 1
