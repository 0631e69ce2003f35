"""A parent's whole way through the Official Account, on SQLite and PostgreSQL, against the fake WeChat API: follow
by a parametric QR code, ask the price, leave a phone number, pick a numbered choice, ask for a human, get the
agent's answer, rate the service with "1"."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.bot import service as bot_service
from edudesk.bot.faq import ASK_CONTACT_TEXT
from edudesk.channels.choices import PROMPT
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState
from edudesk.db import Database
from edudesk.leads import service as leads_service
from edudesk.leads.models import Lead
from tests.channels.wechat.conftest import PARENT, Platform, deliver_all, make_inbox
from tests.channels.wechat.fake_api import FakeWeChat
from tests.conftest import TwoOrgs, login

PRICE_ANSWER = "学费每学期 3800 元，含教材费。"


def conversation(database: Database, org_id: int) -> Conversation:
    with database.session() as session:
        conv = session.scalars(select(Conversation).where(Conversation.org_id == org_id)
                               .order_by(Conversation.id.desc())).first()
        assert conv is not None
        session.expunge(conv)
        return conv


def test_full_journey_from_a_qr_code_to_a_rated_conversation(
        app: FastAPI, client: TestClient, database: Database, orgs: TwoOrgs, fake_wechat: FakeWeChat) -> None:
    inbox = make_inbox(database, orgs.a.id)
    with database.session() as session:
        bot_service.save_rule(session, Actor(orgs.a.id, label="t"), keywords="学费", reply=PRICE_ANSWER)
        session.commit()
    parent = Platform(client, inbox.public_id)

    def replies() -> list[str]:
        deliver_all(app, database)
        return fake_wechat.texts(PARENT)

    # 1. The parent scans the spring campaign's QR code and follows: welcomed once.
    parent.event("subscribe", "qrscene_spring2027")
    assert len(replies()) == 1
    # 2. "学费多少": the bot answers, and the answer reaches WeChat.
    parent.say("学费多少", 1)
    assert replies()[-1].startswith(PRICE_ANSWER)
    # 3. A bare phone number: the lead card has it, with the channel and the QR campaign as its source.
    parent.say("13800138000", 2)
    replies()
    with database.session() as session:
        lead = session.scalars(select(Lead).where(Lead.org_id == orgs.a.id)).one()
        assert (lead.source_channel, lead.campaign) == ("wechat", "spring2027")
        assert lead.attribution["wechat_qr_scene"] == "spring2027"
        assert leads_service.known_values(session, orgs.a.id, lead.contact_id)["phone"] == "13800138000"
    # 4. A question the bot cannot answer: its choices arrive as numbered lines, and "2" picks the second.
    parent.say("你们的老师都是哪个大学毕业的", 3)
    offer = replies()[-1]
    assert f"{PROMPT}\n1. 转人工\n2. 留下联系方式" in offer
    parent.say("2", 4)
    assert replies()[-1] != offer
    assert conversation(database, orgs.a.id).state == ConversationState.bot
    # 5. "转人工": queued (nobody is online, so the parent is told and may ask for a call back).
    parent.say("转人工", 5)
    conv = conversation(database, orgs.a.id)
    assert conv.state == ConversationState.queued
    assert f"{PROMPT}\n1." in replies()[-1]
    # 6. An agent accepts in the console and answers: the answer reaches WeChat as a customer-service message.
    csrf = login(client, "alpha", "agent")
    assert client.post(f"/console/c/{conv.id}/accept", data={"csrf_token": csrf}).status_code == 200
    resp = client.post(f"/console/c/{conv.id}/send", data={"text": "您好，我是王老师，周六有试听课，帮您预约吗？",
                                                           "csrf_token": csrf})
    assert resp.status_code == 200, resp.text
    assert "您好，我是王老师，周六有试听课，帮您预约吗？" in replies()
    # 7. Resolved: the survey arrives as numbered scores, and the parent's "1" is the best one.
    assert client.post(f"/console/c/{conv.id}/resolve", data={"csrf_token": csrf}).status_code == 200
    survey = replies()[-1]
    assert f"{PROMPT}\n1. 非常满意" in survey
    parent.say("1", 6)
    rated = conversation(database, orgs.a.id)
    assert (rated.state, rated.csat_score) == (ConversationState.closed, 5)
    assert "感谢您的评价" in replies()[-1]
    # Nothing went out twice, and nothing reached another org's parent.
    sent = fake_wechat.sent()
    assert {m["touser"] for m in sent} == {PARENT}
    assert len(sent) == len({(m["text"]["content"]) for m in sent})


def test_a_numbered_bot_offer_picked_with_1_hands_over(
        app: FastAPI, client: TestClient, database: Database, orgs: TwoOrgs, fake_wechat: FakeWeChat) -> None:
    inbox = make_inbox(database, orgs.a.id)
    parent = Platform(client, inbox.public_id)
    parent.say("你们的老师都是哪个大学毕业的", 1)
    deliver_all(app, database)
    assert fake_wechat.texts(PARENT)[-1].endswith(f"{PROMPT}\n1. 转人工\n2. 留下联系方式")
    parent.say("１", 2)  # a full-width digit, as Chinese keyboards type it
    assert conversation(database, orgs.a.id).state == ConversationState.queued
    assert ASK_CONTACT_TEXT not in fake_wechat.texts(PARENT)
