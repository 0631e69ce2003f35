"""A parent's whole way through 微信客服, on SQLite and PostgreSQL: they open the chat from the school's Douyin
profile, are welcomed, ask the price, leave a phone number, ask for a human, and a teacher answers from the
console. Every step goes through the callback URL, the wecom.sync job, the outbox and the fake WeCom API."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.bot import service as bot_service
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState
from edudesk.db import Database
from edudesk.leads.models import Lead
from tests.channels.wecom.conftest import OPEN_KFID, Account, Platform, connect, run_jobs
from tests.channels.wecom.fake_api import FakeWeCom
from tests.conftest import TwoOrgs, login

PARENT = "wmDouyinParent"
PRICE = "三年级数学提高班每学期 3800 元，含 16 次课"


def conversation_of(database: Database, account: Account) -> Conversation:
    with database.session() as session:
        conv = session.scalars(select(Conversation).where(Conversation.inbox_id == account.id)).one()
        session.expunge(conv)
        return conv


def test_from_a_douyin_link_to_a_teacher(app: FastAPI, client: TestClient, platform: Platform, wecom_api: FakeWeCom,
                                         database: Database, account: Account, orgs: TwoOrgs) -> None:
    with database.session() as session:
        bot_service.save_rule(session, Actor(orgs.a.id, label="t"), keywords="学费", reply=PRICE)
        session.commit()
    # Org B runs the same kind of account: nothing of the journey may reach it.
    theirs = connect(database, orgs.b.id, open_kfid="wkOrgB", name="乙的客服")

    # 1. The parent taps the 微信客服 link on the school's Douyin profile: WeCom reports enter_session.
    wecom_api.enter_session(PARENT, OPEN_KFID, scene="douyin", scene_param="douyin_profile", welcome_code="WC-1")
    assert platform.notify(token="t1").text == "success"
    run_jobs(app)
    [welcome] = wecom_api.on_event
    assert welcome["code"] == "WC-1" and welcome["text"]["content"]
    conv = conversation_of(database, account)
    assert conv.org_id == orgs.a.id and conv.channel == "wecom"

    # 2. They ask the price; the bot answers through kf/send_msg.
    wecom_api.customer_text(PARENT, "学费多少", OPEN_KFID)
    platform.notify(token="t2")
    run_jobs(app)
    assert wecom_api.texts_to(PARENT)[-1] == PRICE
    assert wecom_api.sent[-1]["touser"] == PARENT and wecom_api.sent[-1]["open_kfid"] == OPEN_KFID

    # 3. They leave a phone number: a lead from 微信客服 with the Douyin link as its campaign.
    wecom_api.customer_text(PARENT, "我的手机是 13812345678，晚上联系我", OPEN_KFID)
    platform.notify(token="t3")
    run_jobs(app)
    with database.session() as session:
        lead = session.scalars(select(Lead).where(Lead.org_id == orgs.a.id)).one()
        assert (lead.source_channel, lead.campaign, lead.phone_e164) == ("wecom", "douyin_profile", "+8613812345678")
        assert lead.attribution.get("wecom_scene") == "douyin"
        assert lead.has_contact
        assert session.scalars(select(Lead).where(Lead.org_id == orgs.b.id)).first() is None

    # 4. They ask for a human; a teacher online in the console takes the conversation and answers.
    login(client, "alpha", "agent")
    with client.websocket_connect("/ws/agent") as agent_ws:
        assert agent_ws.receive_json()["type"] == "hello"
        wecom_api.customer_text(PARENT, "转人工", OPEN_KFID)
        platform.notify(token="t4")
        run_jobs(app)
        assert conversation_of(database, account).state == ConversationState.queued
        csrf = login(client, "alpha", "agent")
        assert client.post(f"/console/c/{conv.id}/accept", data={"csrf_token": csrf}).status_code == 200
        page = client.get(f"/console/c/{conv.id}")
        assert "微信客服" in page.text  # the channel's name beside the conversation
        resp = client.post(f"/console/c/{conv.id}/send", data={"csrf_token": csrf, "text": "您好，我是王老师",
                                                              "client_id": "ag-1"})
        assert resp.status_code == 200
    run_jobs(app)
    assert wecom_api.texts_to(PARENT)[-1] == "您好，我是王老师"
    assert conversation_of(database, account).state == ConversationState.assigned

    # Everything reached the parent once, in order, and nothing went anywhere else.
    texts = wecom_api.texts_to(PARENT)
    assert len(texts) == len(set(texts)) and texts[0] == welcome["text"]["content"]
    assert {c["touser"] for c in wecom_api.sent} == {PARENT}
    assert all(c["open_kfid"] == OPEN_KFID for c in wecom_api.sent)
    assert [c["open_kfid"] for c in wecom_api.sync_calls] == [OPEN_KFID] * 4
    with database.session() as session:
        assert session.scalars(select(Conversation).where(Conversation.inbox_id == theirs.id)).first() is None
