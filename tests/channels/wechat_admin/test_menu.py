"""The custom-menu editor: WeChat's rules checked before publishing, the menu published through the (fake)
WeChat API, WeChat's refusals shown beside the form, the live menu read back and deleted."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from edudesk.audit.service import Actor
from edudesk.bot import scripts
from edudesk.bot.flows.templates import K12_FLOW
from edudesk.db import Database
from edudesk.inboxes.models import Inbox
from edudesk.kb import service as kb_service
from edudesk.kb.schemas import EntryInput
from tests.channels.wechat_admin.fake_wechat import FakeWeChat
from tests.conftest import TwoOrgs, login


def seed(database: Database, org_id: int) -> int:
    """The org's script (k12_trial) and an FAQ entry; returns the entry's id."""
    with database.session() as session:
        actor = Actor(org_id, label="test")
        scripts.save_flow(session, actor, json.dumps(K12_FLOW, ensure_ascii=False))
        entry = kb_service.create_entry(session, actor, EntryInput(question="上课地址在哪里？",
                                                                   answer="西湖区文三路 100 号"))
        session.commit()
        return entry.id


def menu_form(entry_id: int, **extra: str) -> dict[str, str]:
    return {
        "m1_name": "预约试听", "m1_kind": "flow", "m1_flow": "k12_trial",
        "m2_name": "常见问题", "m2_kind": "sub",
        "m2_1_name": "上课地址", "m2_1_kind": "faq", "m2_1_faq": str(entry_id),
        "m2_2_name": "联系老师", "m2_2_kind": "human",
        "m2_3_name": "优惠活动", "m2_3_kind": "text", "m2_3_text": "本月报名立减 300 元",
        "m3_name": "官网", "m3_kind": "view", "m3_url": "https://www.example.edu/",
        **extra,
    }


def state_of(database: Database, inbox_id: int) -> dict[str, Any]:
    with database.session() as session:
        inbox = session.get(Inbox, inbox_id)
        assert inbox is not None
        return dict(inbox.state or {})


def post(client: TestClient, inbox: int, form: dict[str, str], csrf: str, op: str = "publish") -> Any:
    return client.post(f"/admin/channels/{inbox}/wechat/menu", data={**form, "op": op, "csrf_token": csrf})


def test_publishing_sends_wechat_the_menu_and_keeps_the_actions(
        client: TestClient, orgs: TwoOrgs, database: Database, inboxes: tuple[int, int],
        wechat_api: FakeWeChat) -> None:
    entry = seed(database, orgs.a.id)
    csrf = login(client, "alpha", "admin")
    editor = client.get(f"/admin/channels/{inboxes[0]}/wechat/menu")
    assert editor.status_code == 200 and "K12 免费试听邀约" in editor.text and "上课地址在哪里？" in editor.text
    resp = post(client, inboxes[0], menu_form(entry), csrf)
    assert resp.status_code == 200 and 'id="menu-notice"' in resp.text and "菜单已发布" in resp.text
    [call] = wechat_api.calls_to("/cgi-bin/menu/create")
    assert "预约试听".encode() in call.body  # UTF-8, not \u-escaped: WeChat would show escapes literally
    assert call.json() == {"button": [
        {"type": "click", "name": "预约试听", "key": "m1"},
        {"name": "常见问题", "sub_button": [
            {"type": "click", "name": "上课地址", "key": "m2_1"},
            {"type": "click", "name": "联系老师", "key": "m2_2"},
            {"type": "click", "name": "优惠活动", "key": "m2_3"}]},
        {"type": "view", "name": "官网", "url": "https://www.example.edu/"}]}
    state = state_of(database, inboxes[0])
    menu = state["wechat_menu"]
    assert menu["published"] == menu["draft"] and menu["published_at"]
    assert menu["published"][1]["sub"][0] == {"key": "m2_1", "name": "上课地址", "kind": "faq", "entry_id": entry,
                                              "question": "上课地址在哪里？"}
    assert state["replies"] == {"m2_3": "本月报名立减 300 元"}
    again = client.get(f"/admin/channels/{inboxes[0]}/wechat/menu").text
    assert 'value="预约试听"' in again and "本月报名立减 300 元" in again and "草稿有未发布的修改" not in again


def test_saving_a_draft_does_not_touch_the_published_menu(
        client: TestClient, orgs: TwoOrgs, database: Database, inboxes: tuple[int, int],
        wechat_api: FakeWeChat) -> None:
    entry = seed(database, orgs.a.id)
    csrf = login(client, "alpha", "admin")
    assert post(client, inboxes[0], menu_form(entry), csrf).status_code == 200
    edited = menu_form(entry, m1_name="免费试听")
    resp = post(client, inboxes[0], edited, csrf, op="save")
    assert resp.status_code == 200 and "草稿已保存" in resp.text and "草稿有未发布的修改" in resp.text
    assert len(wechat_api.calls_to("/cgi-bin/menu/create")) == 1
    menu = state_of(database, inboxes[0])["wechat_menu"]
    assert menu["draft"][0]["name"] == "免费试听" and menu["published"][0]["name"] == "预约试听"


# Every refusal in one test per database: a refused menu stores nothing and asks WeChat nothing, so the cases
# share one app, org and account.
REFUSED_MENUS: list[tuple[dict[str, str], str, str]] = [
    ({"m4_name": "第四个", "m4_kind": "human"}, "menu-error", "一级菜单最多 3 个"),
    ({"m2_6_name": "第六个", "m2_6_kind": "human"}, "menu-error", "最多 5 个子菜单"),
    ({"m3_url": "http://www.example.edu/"}, "error-m3-url", "https://"),
    ({"m3_url": "javascript:alert(1)"}, "error-m3-url", "https://"),
    ({"m1_name": "预约免费试听课"}, "error-m1-name", "最多 16 字节"),
    ({"m2_1_name": "一" * 21}, "error-m2_1-name", "最多 60 字节"),
    ({"m1_flow": "no_such_flow"}, "error-m1-flow", "请为“预约试听”选择一个话术流程"),
    ({"m2_1_faq": "999999"}, "error-m2_1-faq", "知识库问题"),
    ({"m2_3_text": ""}, "error-m2_3-text", "回复的文字"),
    ({"m1_kind": ""}, "error-m1-kind", "选择按钮类型"),
    ({"m2_kind": "human"}, "error-m2-kind", "子菜单"),
]


def test_menus_wechat_would_refuse_are_refused_here(
        client: TestClient, orgs: TwoOrgs, database: Database, inboxes: tuple[int, int],
        wechat_api: FakeWeChat) -> None:
    entry = seed(database, orgs.a.id)
    csrf = login(client, "alpha", "admin")
    for extra, field, message in REFUSED_MENUS:
        resp = post(client, inboxes[0], menu_form(entry, **extra), csrf)
        assert resp.status_code == 422, extra
        error = resp.text.split(f'id="{field}"')[1].split("</p>")[0]
        assert message in error, extra
        assert 'value="预约试听"' in resp.text or extra.get("m1_name", "") in resp.text, extra  # as typed
        assert not wechat_api.calls_to("/cgi-bin/menu/create"), extra
        assert "wechat_menu" not in state_of(database, inboxes[0]), extra


def test_an_empty_menu_is_not_published(client: TestClient, orgs: TwoOrgs, database: Database,
                                        inboxes: tuple[int, int], wechat_api: FakeWeChat) -> None:
    csrf = login(client, "alpha", "admin")
    resp = post(client, inboxes[0], {}, csrf)
    assert resp.status_code == 422 and "菜单是空的" in resp.text
    assert not wechat_api.calls_to("/cgi-bin/menu/create")


def test_names_are_escaped_on_the_page(client: TestClient, orgs: TwoOrgs, database: Database,
                                       inboxes: tuple[int, int], wechat_api: FakeWeChat) -> None:
    seed(database, orgs.a.id)
    csrf = login(client, "alpha", "admin")
    form = {"m1_name": "<img src=x>", "m1_kind": "text", "m1_text": "<script>alert(1)</script>"}
    resp = post(client, inboxes[0], form, csrf, op="save")
    assert resp.status_code == 200
    assert "<img src=x>" not in resp.text and "&lt;img src=x&gt;" in resp.text
    assert "<script>alert(1)</script>" not in resp.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in resp.text
    refused = post(client, inboxes[0], {**form, "m1_url": "x", "m1_kind": "view"}, csrf)
    assert refused.status_code == 422 and "<img src=x>" not in refused.text


def test_a_wechat_refusal_is_shown_beside_the_form_and_the_draft_kept(
        client: TestClient, orgs: TwoOrgs, database: Database, inboxes: tuple[int, int],
        wechat_api: FakeWeChat) -> None:
    entry = seed(database, orgs.a.id)
    wechat_api.refuse["menu/create"] = (40055, "invalid button url domain")
    csrf = login(client, "alpha", "admin")
    resp = post(client, inboxes[0], menu_form(entry), csrf)
    assert resp.status_code == 502
    error = resp.text.split('id="menu-error"')[1].split("</p>")[0]
    assert "发布失败，草稿已保存" in error and "微信返回错误 40055" in error and "菜单链接的域名不合法" in error
    state = state_of(database, inboxes[0])
    assert state["wechat_menu"]["draft"][0]["name"] == "预约试听"
    assert "published" not in state["wechat_menu"] and "replies" not in state
    assert wechat_api.menu is None


def test_the_live_menu_is_read_back_and_can_be_taken_down(
        client: TestClient, orgs: TwoOrgs, database: Database, inboxes: tuple[int, int],
        wechat_api: FakeWeChat) -> None:
    entry = seed(database, orgs.a.id)
    csrf = login(client, "alpha", "admin")
    none = client.get(f"/admin/channels/{inboxes[0]}/wechat/menu/live")
    assert none.status_code == 200 and "公众号当前没有自定义菜单" in none.text
    post(client, inboxes[0], menu_form(entry), csrf)
    live = client.get(f"/admin/channels/{inboxes[0]}/wechat/menu/live").text
    section = live.split('id="live-menu"')[1].split("</div>")[0]
    assert "预约试听" in section and "联系老师" in section and "https://www.example.edu/" in section
    gone = client.post(f"/admin/channels/{inboxes[0]}/wechat/menu/delete", data={"csrf_token": csrf})
    assert gone.status_code == 200 and "线上菜单已删除" in gone.text
    assert wechat_api.menu is None and len(wechat_api.calls_to("/cgi-bin/menu/delete")) == 1
    state = state_of(database, inboxes[0])
    assert "published" not in state["wechat_menu"] and state["wechat_menu"]["draft"] and state["replies"] == {}


def test_a_stale_form_and_other_roles_change_nothing(
        client: TestClient, orgs: TwoOrgs, database: Database, inboxes: tuple[int, int],
        wechat_api: FakeWeChat) -> None:
    entry = seed(database, orgs.a.id)
    login(client, "alpha", "admin")
    assert post(client, inboxes[0], menu_form(entry), "stale").status_code == 400
    supervisor = TestClient(client.app)
    csrf = login(supervisor, "alpha", "supervisor")
    assert supervisor.get(f"/admin/channels/{inboxes[0]}/wechat/menu").status_code == 200
    assert post(supervisor, inboxes[0], menu_form(entry), csrf).status_code == 403
    assert supervisor.post(f"/admin/channels/{inboxes[0]}/wechat/menu/delete",
                           data={"csrf_token": csrf}).status_code == 403
    assert not wechat_api.calls_to("/cgi-bin/menu/create") and not wechat_api.calls_to("/cgi-bin/menu/delete")
    assert "wechat_menu" not in state_of(database, inboxes[0])
