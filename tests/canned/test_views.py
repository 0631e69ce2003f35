"""The canned-reply page and the picker's JSON through the real app on SQLite and PostgreSQL: roles, CSRF, errors
beside their fields with the input kept, escaping, placeholders and isolation between people and orgs."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.canned.models import CannedReply
from edudesk.channels.base import InboundMessage
from edudesk.contacts import service as contacts_service
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from tests.canned.conftest import Replies
from tests.conftest import TwoOrgs, login

HOSTILE = "<script>alert(1)</script>"


def form(**fields: str) -> dict[str, str]:
    return {"shortcut": "kb", "title": "课表", "category": "跟进", "text": "这是本周课表～", **fields}


def reply(database: Database, canned_id: int) -> CannedReply | None:
    with database.session() as session:
        row = session.get(CannedReply, canned_id)
        if row is not None:
            session.expunge(row)
        return row


def conversation(database: Database, org_id: int, name: str = "") -> int:
    with database.session() as session:
        result = inbound_service.receive(session, InboundMessage(org_id, "web", "v-canned", "c1", text="你好"),
                                         agents_online=True)
        if name:
            contact = contacts_service.get(session, org_id, result.conversation.contact_id)
            contacts_service.update_details(session, contact, name=name)
        session.commit()
        return result.conversation.id


def test_login_is_required(client: TestClient, orgs: TwoOrgs) -> None:
    assert client.get("/console/canned", follow_redirects=False).status_code == 303
    resp = client.get("/console/canned/search?q=xf", headers={"accept": "application/json"})
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "login_required"


def test_agent_sees_shared_and_own_but_manages_only_own(client: TestClient, orgs: TwoOrgs, replies: Replies) -> None:
    login(client, "alpha", "agent")
    page = client.get("/console/canned")
    assert page.status_code == 200
    html = page.text
    mine, shared = html[html.index('id="canned-mine"'):], html[html.index('id="canned-shared"'):]
    assert "晚点发课表" in mine and "王老师的学费说法" in mine
    assert "收费标准见附件。" in shared and "已被你的同名快捷回复覆盖" in shared
    assert "李老师的私人话术" not in html and "乙机构的学费" not in html
    assert f'/console/canned/{replies.ids["agent:wb"]}/delete' in html
    assert f'/console/canned/{replies.ids["shared:st"]}/delete' not in html  # no buttons that would be refused
    assert 'name="shared"' not in html
    assert 'href="/console/canned"' in client.get("/console").text  # reachable from the console
    assert client.get(f'/console/canned/{replies.ids["shared:st"]}').status_code == 403


def test_create_with_errors_beside_the_field_and_input_kept(client: TestClient, database: Database,
                                                            orgs: TwoOrgs, replies: Replies) -> None:
    csrf = login(client, "alpha", "agent")
    resp = client.post("/console/canned/new", data={**form(shortcut="课 表", text="保留我"), "csrf_token": csrf})
    assert resp.status_code == 422
    body = resp.text[resp.text.index('id="canned-form"'):]
    message = "快捷短语只能包含字母、数字、汉字、- 和 _"
    assert body.index('name="shortcut"') < body.index(message) < body.index('name="title"')
    assert 'value="课 表"' in body and "保留我</textarea>" in body
    resp = client.post("/console/canned/new", data={**form(shortcut="wb"), "csrf_token": csrf})
    assert resp.status_code == 422 and "你的快捷回复里已有 /wb" in resp.text
    resp = client.post("/console/canned/new", data={**form(text=""), "csrf_token": csrf})
    assert resp.status_code == 422 and "请填写回复内容" in resp.text

    resp = client.post("/console/canned/new", data={**form(shortcut="/KB"), "csrf_token": csrf})
    assert resp.status_code == 200 and "已保存 /kb" in resp.text
    with database.session() as session:
        row = session.scalars(select(CannedReply).where(CannedReply.shortcut == "kb")).one()
        assert (row.owner_id, row.org_id, row.text) == (orgs.a.users["agent"].id, orgs.a.id, "这是本周课表～")


def test_agent_cannot_create_or_change_shared_ones(client: TestClient, database: Database, orgs: TwoOrgs,
                                                   replies: Replies) -> None:
    csrf = login(client, "alpha", "agent")
    resp = client.post("/console/canned/new", data={**form(shared="1"), "csrf_token": csrf})
    assert resp.status_code == 403 and "只有主管和管理员可以管理公共快捷回复" in resp.text
    shared = replies.ids["shared:st"]
    resp = client.post(f"/console/canned/{shared}", data={**form(shortcut="st"), "csrf_token": csrf})
    assert resp.status_code == 403
    resp = client.post(f"/console/canned/{shared}/delete", data={"csrf_token": csrf})
    assert resp.status_code == 403
    assert reply(database, shared) is not None and reply(database, shared).owner_id is None  # type: ignore[union-attr]
    with database.session() as session:
        assert session.scalars(select(CannedReply).where(CannedReply.shortcut == "kb")).first() is None


@pytest.mark.parametrize("role", ["supervisor", "admin"])
def test_supervisors_manage_shared_ones(client: TestClient, database: Database, orgs: TwoOrgs, replies: Replies,
                                        role: str) -> None:
    csrf = login(client, "alpha", role)
    page = client.get(f'/console/canned/{replies.ids["shared:st"]}').text
    assert 'name="shared" value="1" checked' in page and "编辑快捷回复" in page
    resp = client.post("/console/canned/new", data={**form(shared="1"), "csrf_token": csrf})
    assert resp.status_code == 200
    resp = client.post(f'/console/canned/{replies.ids["shared:st"]}',
                       data={**form(shortcut="st", text="新的试听说明", shared="1"), "csrf_token": csrf})
    assert resp.status_code == 200 and "新的试听说明" in resp.text
    assert reply(database, replies.ids["shared:st"]).text == "新的试听说明"  # type: ignore[union-attr]
    with database.session() as session:
        row = session.scalars(select(CannedReply).where(CannedReply.shortcut == "kb")).one()
        assert row.owner_id is None


def test_csrf_is_required_and_nothing_changes_without_it(client: TestClient, database: Database, orgs: TwoOrgs,
                                                         replies: Replies) -> None:
    login(client, "alpha", "agent")
    own = replies.ids["agent:wb"]
    assert client.post("/console/canned/new", data=form()).status_code == 400
    resp = client.post(f"/console/canned/{own}", data={**form(text="改了"), "csrf_token": "forged"})
    assert resp.status_code == 400 and "页面已过期" in resp.text and "改了</textarea>" in resp.text
    assert client.post(f"/console/canned/{own}/delete", data={"csrf_token": "forged"}).status_code == 400
    resp = client.post(f"/console/canned/{own}/use", headers={"accept": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "csrf"
    row = reply(database, own)
    assert row is not None and row.text == "稍后我把课表发您微信～" and row.use_count == 0
    with database.session() as session:
        assert session.scalars(select(CannedReply).where(CannedReply.shortcut == "kb")).first() is None


def test_delete_is_audited(client: TestClient, database: Database, orgs: TwoOrgs, replies: Replies) -> None:
    csrf = login(client, "alpha", "agent")
    resp = client.post(f'/console/canned/{replies.ids["agent:wb"]}/delete', data={"csrf_token": csrf})
    assert resp.status_code == 200 and "已删除 /wb" in resp.text
    assert reply(database, replies.ids["agent:wb"]) is None
    with database.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "canned.delete")).one()
        assert entry.actor_user_id == orgs.a.users["agent"].id and entry.ip == "testclient"
        assert entry.detail["shortcut"] == "wb"


def test_hostile_text_is_escaped(client: TestClient, orgs: TwoOrgs, replies: Replies) -> None:
    csrf = login(client, "alpha", "agent")
    resp = client.post("/console/canned/new", data={**form(title=HOSTILE, text=HOSTILE, category=HOSTILE),
                                                    "csrf_token": csrf})
    assert resp.status_code == 200
    assert HOSTILE not in resp.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in resp.text
    found = client.get("/console/canned/search?q=kb").json()["results"]
    assert found[0]["text"] == HOSTILE  # JSON carries the text; the console renders it with textContent


def test_search_fills_placeholders_for_the_open_conversation(client: TestClient, database: Database,
                                                              orgs: TwoOrgs, replies: Replies) -> None:
    conv_id = conversation(database, orgs.a.id, name="张妈妈")
    login(client, "alpha", "agent")
    resp = client.get(f"/console/canned/search?q=st&c={conv_id}")
    assert resp.status_code == 200
    [hit] = resp.json()["results"]
    assert hit == {"id": replies.ids["shared:st"], "shortcut": "st", "title": "预约试听", "category": "课程",
                   "shared": True, "text": "张妈妈您好，可以免费试听一节，学费到店再谈。"}
    own = client.get("/console/canned/search", params={"q": "/xf"}).json()["results"]
    assert [h["id"] for h in own] == [replies.ids["agent:xf"], replies.ids["shared:xfbz"]]
    assert own[0]["text"] == "王老师的学费说法：王老师帮您算一下。" and own[0]["shared"] is False
    unnamed = client.get(f"/console/canned/search?q=st&c={conversation(database, orgs.b.id)}",
                         headers={"accept": "application/json"})
    assert unnamed.status_code == 404  # another org's conversation
    assert client.get("/console/canned/search", params={"q": "x" * 201}).status_code == 422


def test_use_is_counted(client: TestClient, database: Database, orgs: TwoOrgs, replies: Replies) -> None:
    csrf = login(client, "alpha", "agent")
    resp = client.post(f'/console/canned/{replies.ids["shared:st"]}/use', headers={"x-csrf-token": csrf})
    assert resp.status_code == 200 and resp.json() == {"ok": True}
    assert reply(database, replies.ids["shared:st"]).use_count == 2  # type: ignore[union-attr]


@pytest.mark.parametrize("target", ["agent2:secret", "b:xf"])
def test_a_colleagues_or_another_orgs_reply_is_not_found(client: TestClient, database: Database, orgs: TwoOrgs,
                                                         replies: Replies, target: str) -> None:
    csrf = login(client, "alpha", "agent")
    canned_id = replies.ids[target]
    before = reply(database, canned_id)
    assert client.get(f"/console/canned/{canned_id}").status_code == 404
    assert client.post(f"/console/canned/{canned_id}", data={**form(), "csrf_token": csrf}).status_code == 404
    assert client.post(f"/console/canned/{canned_id}/delete", data={"csrf_token": csrf}).status_code == 404
    assert client.post(f"/console/canned/{canned_id}/use", data={"csrf_token": csrf}).status_code == 404
    after = reply(database, canned_id)
    assert after is not None and before is not None
    assert (after.text, after.use_count, after.shortcut) == (before.text, before.use_count, before.shortcut)


def test_bad_ids_and_oversized_fields_are_4xx(client: TestClient, orgs: TwoOrgs, replies: Replies) -> None:
    csrf = login(client, "alpha", "agent")
    assert client.get("/console/canned/abc").status_code == 422
    assert client.get("/console/canned/999999").status_code == 404
    resp = client.post("/console/canned/new", data={**form(text="长" * 9000), "csrf_token": csrf})
    assert resp.status_code == 422
