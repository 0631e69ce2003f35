"""Parametric QR codes of a WeChat account: made through the (fake) WeChat API, listed with their numbers."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.bot import service as bot_service
from edudesk.campaigns.models import Campaign
from edudesk.channels.base import InboundMessage
from edudesk.channels.wechat.admin_api import APPID_FIELDS
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from edudesk.inboxes import service as inboxes_service
from tests.channels.wechat_admin.conftest import make_inbox
from tests.channels.wechat_admin.fake_wechat import APPID, JPEG, SECRET, FakeWeChat
from tests.conftest import TwoOrgs, login


def create(client: TestClient, csrf: str, inbox: int, name: str, scene: str) -> object:
    return client.post(f"/admin/channels/{inbox}/wechat/qrcodes", data={"name": name, "scene": scene,
                                                                       "csrf_token": csrf}, follow_redirects=False)


def campaigns(database: Database) -> list[Campaign]:
    with database.session() as session:
        rows = list(session.scalars(select(Campaign).order_by(Campaign.id)))
        session.expunge_all()
        return rows


def test_an_admin_makes_a_permanent_code(client: TestClient, orgs: TwoOrgs, database: Database,
                                         inboxes: tuple[int, int], wechat_api: FakeWeChat) -> None:
    csrf = login(client, "alpha", "admin")
    resp = create(client, csrf, inboxes[0], "春季招生海报", "spring_poster")
    assert resp.status_code == 303, resp.text
    token = wechat_api.calls_to("/cgi-bin/token")
    assert len(token) == 1 and token[0].query["appid"] == APPID and token[0].query["secret"] == SECRET
    made = wechat_api.calls_to("/cgi-bin/qrcode/create")
    assert len(made) == 1 and made[0].query["access_token"] == "TOKEN-1"
    assert made[0].json() == {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str":
                                                                                           "spring_poster"}}}
    [row] = campaigns(database)
    assert (row.org_id, row.inbox_id, row.scene, row.kind, row.channel) == (orgs.a.id, inboxes[0], "spring_poster",
                                                                            "qr", "wechat")
    assert row.provider["ticket"] == "gQ-spring_poster-ticket=="
    assert row.provider["url"] == "http://weixin.qq.com/q/spring_poster"
    page = client.get(resp.headers["location"]).text
    assert "春季招生海报" in page and "spring_poster" in page and "http://weixin.qq.com/q/spring_poster" in page
    assert f'/admin/channels/{inboxes[0]}/wechat/qrcodes/{row.id}/image' in page
    image = client.get(f"/admin/channels/{inboxes[0]}/wechat/qrcodes/{row.id}/image")
    assert image.status_code == 200 and image.content == JPEG and image.headers["content-type"].startswith("image/")
    shown = wechat_api.calls_to("/cgi-bin/showqrcode")
    assert shown[-1].query["ticket"] == "gQ-spring_poster-ticket=="
    download = client.get(f"/admin/channels/{inboxes[0]}/wechat/qrcodes/{row.id}/image?download=1")
    assert 'filename="qrcode-spring_poster.jpg"' in download.headers["content-disposition"]


def test_a_second_code_reuses_the_token_and_an_expired_token_is_refreshed_once(
        client: TestClient, orgs: TwoOrgs, database: Database, inboxes: tuple[int, int],
        wechat_api: FakeWeChat) -> None:
    csrf = login(client, "alpha", "admin")
    assert create(client, csrf, inboxes[0], "海报一", "poster_1").status_code == 303
    assert create(client, csrf, inboxes[0], "海报二", "poster_2").status_code == 303
    assert len(wechat_api.calls_to("/cgi-bin/token")) == 1
    wechat_api.expire_tokens()  # someone fetched a new token elsewhere: WeChat answers 40001
    assert create(client, csrf, inboxes[0], "海报三", "poster_3").status_code == 303
    assert len(wechat_api.calls_to("/cgi-bin/token")) == 2
    made = wechat_api.calls_to("/cgi-bin/qrcode/create")
    assert [c.query["access_token"] for c in made] == ["TOKEN-1", "TOKEN-1", "TOKEN-1", "TOKEN-2"]
    assert [c.scene for c in campaigns(database)] == ["poster_1", "poster_2", "poster_3"]


def test_bad_or_taken_scenes_ask_wechat_nothing(client: TestClient, orgs: TwoOrgs, database: Database,
                                               inboxes: tuple[int, int], wechat_api: FakeWeChat) -> None:
    csrf = login(client, "alpha", "admin")
    for scene in ("", "中文场景", "has space", "a" * 65, "a/b"):
        resp = create(client, csrf, inboxes[0], "海报", scene)
        assert resp.status_code == 422, scene
        assert 'id="scene-error"' in resp.text
    assert create(client, csrf, inboxes[0], "", "no_name").status_code == 422
    assert not wechat_api.calls_to("/cgi-bin/qrcode/create") and not campaigns(database)
    assert create(client, csrf, inboxes[0], "海报", "taken").status_code == 303
    again = create(client, csrf, inboxes[0], "另一张海报", "taken")
    assert again.status_code == 422 and "已被活动“海报”使用" in again.text
    assert len(wechat_api.calls_to("/cgi-bin/qrcode/create")) == 1 and len(campaigns(database)) == 1
    # Another org may use the same scene: scenes are unique per org.
    other = TestClient(client.app)
    csrf_b = login(other, "beta", "admin")
    assert create(other, csrf_b, inboxes[1], "乙的海报", "taken").status_code == 303


def test_wechat_refusing_shows_why_and_stores_nothing(client: TestClient, orgs: TwoOrgs, database: Database,
                                                     inboxes: tuple[int, int], wechat_api: FakeWeChat) -> None:
    wechat_api.refuse["qrcode/create"] = (48001, "api unauthorized")
    csrf = login(client, "alpha", "admin")
    resp = create(client, csrf, inboxes[0], "海报", "poster")
    assert resp.status_code == 502
    assert "微信返回错误 48001" in resp.text and "未认证的订阅号" in resp.text and 'id="qr-error"' in resp.text
    assert not campaigns(database)


def test_the_list_shows_scans_followers_and_leads(client: TestClient, orgs: TwoOrgs, database: Database,
                                                 app: FastAPI, inboxes: tuple[int, int]) -> None:
    csrf = login(client, "alpha", "admin")
    assert create(client, csrf, inboxes[0], "海报", "poster").status_code == 303
    bots = bot_service.make_runtime(database)

    def arrive(openid: str) -> None:
        with database.session() as session:
            inbound_service.visitor_arrived(session, InboundMessage(
                orgs.a.id, "wechat", openid, None, inbox_id=inboxes[0], campaign="poster"), bots=bots)
            session.commit()

    def say(openid: str, text: str, n: int) -> None:
        with database.session() as session:
            inbound_service.receive(session, InboundMessage(orgs.a.id, "wechat", openid, f"{openid}-{n}", text=text,
                                                            inbox_id=inboxes[0]), agents_online=False, bots=bots)
            session.commit()

    arrive("o-parent-1")
    arrive("o-parent-2")
    arrive("o-parent-1")  # scanned again later: a scan, not a new follower
    say("o-parent-1", "孩子三年级", 1)
    say("o-parent-2", "我的电话 13800138000", 1)
    with database.session() as session:
        [row] = session.scalars(select(Campaign)).all()
    page = client.get(f"/admin/channels/{inboxes[0]}/wechat/qrcodes").text
    cells = page.split(f'id="qrcode-{row.id}"')[1].split("</tr>")[0]
    numbers = [c.split("</td>")[0].strip() for c in cells.split("<td>")[1:]]
    assert numbers[2:6] == ["3", "2", "2", "1"]  # scans, new followers, leads, leads with a phone


def test_roles(client: TestClient, orgs: TwoOrgs, database: Database, inboxes: tuple[int, int],
               wechat_api: FakeWeChat) -> None:
    csrf = login(client, "alpha", "supervisor")
    assert client.get(f"/admin/channels/{inboxes[0]}/wechat/qrcodes").status_code == 200
    assert create(client, csrf, inboxes[0], "海报", "poster").status_code == 403
    agent = TestClient(client.app)
    login(agent, "alpha", "agent")
    assert agent.get(f"/admin/channels/{inboxes[0]}/wechat/qrcodes", follow_redirects=False).status_code == 403
    assert not wechat_api.calls_to("/cgi-bin/qrcode/create") and not campaigns(database)


def test_wrong_or_missing_credentials_are_named(client: TestClient, orgs: TwoOrgs, database: Database,
                                                app: FastAPI, inboxes: tuple[int, int], wechat_api: FakeWeChat) -> None:
    wechat_api.secret = "rotated-on-the-wechat-side"
    csrf = login(client, "alpha", "admin")
    resp = create(client, csrf, inboxes[0], "海报", "poster")
    assert resp.status_code == 502 and "微信返回错误 40125" in resp.text and "AppSecret 不正确" in resp.text
    empty_id = make_inbox(database, app, orgs.a.id, "未配置")
    with database.session() as session:
        row = inboxes_service.get(session, orgs.a.id, empty_id)
        row.settings = {k: ("" if k in APPID_FIELDS else v) for k, v in row.settings.items()}
        session.commit()
    resp = create(client, csrf, empty_id, "海报", "poster")
    assert resp.status_code == 502 and "请先在渠道设置里填写 AppID 和 AppSecret" in resp.text
    assert not wechat_api.calls_to("/cgi-bin/qrcode/create") and not campaigns(database)
