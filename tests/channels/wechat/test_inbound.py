"""What each kind of WeChat message and event becomes, through the real callback URL: visitor messages with their
pictures and voice notes, arrivals with their QR campaign, unfollows, menu clicks; resends stored once."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from edudesk.channels.base import InboundMessage, identity_kind
from edudesk.channels.wechat import events
from edudesk.contacts import service as contacts_service
from edudesk.contacts.models import Contact, ContactIdentity
from edudesk.conversations.models import Attachment, Conversation, Message, SenderKind
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from edudesk.inboxes.models import InboxReceipt
from edudesk.leads import service as leads_service
from edudesk.privacy import files
from tests.channels.wechat.conftest import (
    PARENT,
    Platform,
    WxInbox,
    deliver_all,
    make_inbox,
    xml_event,
    xml_message,
)
from tests.channels.wechat.fake_api import FakeWeChat
from tests.conftest import LiveServer, TwoOrgs

JPEG = b"\xff\xd8\xff\xe0" + b"picture" * 50
AMR = b"#!AMR\n" + b"\x3c" * 200


def visitor_messages(database: Database, org_id: int) -> list[Message]:
    with database.session() as session:
        rows = list(session.scalars(select(Message).where(Message.org_id == org_id,
                                                          Message.sender == SenderKind.visitor)
                                    .order_by(Message.id)))
        session.expunge_all()
        return rows


def contact_of(database: Database, inbox: WxInbox, openid: str = PARENT) -> Contact | None:
    with database.session() as session:
        found = contacts_service.find_by_identity(session, inbox.org_id, identity_kind("wechat", inbox.id), openid)
        if found is not None:
            session.expunge(found)
        return found


def test_text_picture_voice_location_and_link(app: FastAPI, database: Database, platform: Platform,
                                              inbox: WxInbox, fake_wechat: FakeWeChat) -> None:
    fake_wechat.media["IMG-1"] = (JPEG, "image/jpeg")
    fake_wechat.media["VOICE-1"] = (AMR, "audio/amr")
    platform.say("你好", 9001)
    for xml in (xml_message(PARENT, "image", 9002, PicUrl="http://mmbiz.qpic.cn/x", MediaId="IMG-1"),
                xml_message(PARENT, "image", 9003, PicUrl="http://mmbiz.qpic.cn/y", MediaId="GONE"),
                xml_message(PARENT, "voice", 9004, MediaId="VOICE-1", Format="amr", Recognition="我想报名钢琴课"),
                xml_message(PARENT, "location", 9005, Location_X="39.984154", Location_Y="116.307490",
                            Scale="15", Label="北京市海淀区中关村"),
                xml_message(PARENT, "link", 9006, Title="招生简章", Description="2027 春季",
                            Url="https://example.com/a")):
        resp = platform.post(xml)
        assert resp.text == "success"
    got = visitor_messages(database, inbox.org_id)
    assert [m.client_id for m in got] == [f"wx:{n}" for n in range(9001, 9007)]
    assert [m.text for m in got] == [
        "你好", "", "[图片]（未能从微信下载）", "我想报名钢琴课", "[位置] 北京市海淀区中关村 (39.984154, 116.30749)",
        "[链接] 招生简章 https://example.com/a"]
    with database.session() as session:
        picture = session.get(Attachment, got[1].attachment_id)
        voice = session.get(Attachment, got[3].attachment_id)
        conv = session.get(Conversation, got[0].conversation_id)
        assert picture is not None and voice is not None and conv is not None
        assert (picture.content_type, voice.content_type, voice.original_name) == ("image/jpeg", "audio/amr",
                                                                                    "voice.amr")
        assert conv.channel == "wechat" and conv.inbox_id == inbox.id
        upload_dir = app.state.ctx.settings.upload_dir
        assert files.attachment_path(upload_dir, inbox.org_id, picture.storage_key).read_bytes() == JPEG
        assert files.attachment_path(upload_dir, inbox.org_id, voice.storage_key).read_bytes() == AMR
    assert got[2].attachment_id is None
    # The media were fetched with the account's token, through media/get.
    gets = [c for c in fake_wechat.calls if c.path == "/cgi-bin/media/get"]
    assert [c.query["media_id"] for c in gets] == ["IMG-1", "GONE", "VOICE-1"]
    assert all(c.query["access_token"] in fake_wechat.tokens_issued for c in gets)
    # The bot answered the voice note's transcript like any question (the replies go out through the outbox).
    deliver_all(app, database)
    assert fake_wechat.texts(PARENT)


def test_follow_with_a_qr_scene_greets_once_and_records_the_campaign(
        app: FastAPI, database: Database, platform: Platform, inbox: WxInbox, fake_wechat: FakeWeChat) -> None:
    created = int(time.time())
    platform.event("subscribe", "qrscene_spring2027", create_time=created)
    platform.event("subscribe", "qrscene_spring2027", create_time=created)  # WeChat's resend
    platform.event("subscribe", "qrscene_spring2027", create_time=created)
    deliver_all(app, database)
    assert len(fake_wechat.texts(PARENT)) == 1, fake_wechat.texts(PARENT)  # one welcome
    contact = contact_of(database, inbox)
    assert contact is not None
    assert leads_service.first_touch(contact) == {"wechat_qr_scene": "spring2027", "campaign": "spring2027"}
    assert contact.attributes["wechat_subscribed"] is True
    assert visitor_messages(database, inbox.org_id) == []  # an arrival is not a message
    # Unfollow: noted, nothing answered; the welcome is not sent again on a later follow while the chat is open.
    platform.event("unsubscribe")
    contact = contact_of(database, inbox)
    assert contact is not None and contact.attributes["wechat_subscribed"] is False
    assert "wechat_unsubscribed_at" in contact.attributes
    deliver_all(app, database)
    assert len(fake_wechat.texts(PARENT)) == 1


def test_scan_by_a_follower_records_the_campaign_and_unknown_unfollow_creates_nobody(
        app: FastAPI, database: Database, platform: Platform, inbox: WxInbox) -> None:
    platform.event("unsubscribe", openid="oSTRANGER_000000000000000001")
    assert contact_of(database, inbox, "oSTRANGER_000000000000000001") is None
    platform.event("SCAN", "autumn-open-day", openid="oFOLLOWER_000000000000000001")
    contact = contact_of(database, inbox, "oFOLLOWER_000000000000000001")
    assert contact is not None
    assert leads_service.first_touch(contact)["campaign"] == "autumn-open-day"
    with database.session() as session:
        conv = session.scalars(select(Conversation).where(Conversation.contact_id == contact.id)).one()
        assert (conv.channel, conv.inbox_id) == ("wechat", inbox.id)


def test_menu_click_reaches_the_bot_as_a_payload_and_view_is_only_noted(
        app: FastAPI, database: Database, platform: Platform, inbox: WxInbox,
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[InboundMessage] = []
    real = inbound_service.receive

    def spy(session: Any, msg: InboundMessage, **kw: Any) -> Any:
        seen.append(msg)
        return real(session, msg, **kw)

    monkeypatch.setattr(inbound_service, "receive", spy)
    created = int(time.time())
    platform.event("CLICK", "V1001_PRICE", create_time=created)
    platform.event("CLICK", "V1001_PRICE", create_time=created)  # resend
    platform.event("VIEW", "https://example.com/schedule")
    platform.event("LOCATION")  # periodic location report: ignored
    assert len(seen) == 1
    assert (seen[0].payload, seen[0].text, seen[0].inbox_id) == ("wxmenu:V1001_PRICE", "V1001_PRICE", inbox.id)
    assert events.MENU_PAYLOAD_PREFIX == "wxmenu:"
    assert [m.text for m in visitor_messages(database, inbox.org_id)] == ["V1001_PRICE"]
    with database.session() as session:
        keys = set(session.scalars(select(InboxReceipt.key)))
    assert any(k.endswith(":view") for k in keys) and not any(k.endswith(":location") for k in keys)


def test_the_same_msgid_three_times_is_one_message_and_one_reply(
        app: FastAPI, database: Database, platform: Platform, inbox: WxInbox, fake_wechat: FakeWeChat) -> None:
    platform.say("学费多少", 9101)
    deliver_all(app, database)
    first = fake_wechat.texts(PARENT)
    assert first
    platform.say("学费多少", 9101)
    platform.say("学费多少", 9101)
    deliver_all(app, database)
    assert fake_wechat.texts(PARENT) == first
    assert [m.client_id for m in visitor_messages(database, inbox.org_id)] == ["wx:9101"]


@pytest.fixture
def live(app: FastAPI) -> Any:
    server = LiveServer(app).start()
    yield server
    server.stop()


def test_resends_racing_the_first_request_store_one_message(
        live: LiveServer, database: Database, inbox: WxInbox, fake_wechat: FakeWeChat) -> None:
    """WeChat resends after 5 seconds without an answer, possibly while the first request still runs."""
    fake_wechat.media["IMG-RACE"] = (JPEG, "image/jpeg")
    xml = xml_message(PARENT, "image", 9201, MediaId="IMG-RACE")
    answers: list[int] = []
    with httpx.Client(base_url=live.url, timeout=30) as http:
        platform = Platform(http, inbox.public_id)
        threads = [threading.Thread(target=lambda: answers.append(platform.post(xml).status_code))
                   for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert answers == [200, 200, 200]
    with database.session() as session:
        count = session.scalar(select(func.count()).select_from(Message).where(Message.client_id == "wx:9201"))
        attachments = session.scalar(select(func.count()).select_from(Message).where(
            Message.client_id == "wx:9201", Message.attachment_id.is_not(None)))
    assert (count, attachments) == (1, 1)


def test_unionid_merges_the_parent_across_the_orgs_accounts_and_no_further(
        client: TestClient, database: Database, orgs: TwoOrgs, fake_wechat: FakeWeChat) -> None:
    first = make_inbox(database, orgs.a.id, name="阿尔法少儿", fetch_unionid=True)
    second = make_inbox(database, orgs.a.id, name="阿尔法成人", fetch_unionid=True)
    other_org = make_inbox(database, orgs.b.id, name="贝塔", fetch_unionid=True)
    fake_wechat.unionids = {"oOPENID_ON_FIRST_00000000001": "UNION-42", "oOPENID_ON_SECOND_0000000001": "UNION-42",
                            "oOPENID_IN_ORG_B_00000000001": "UNION-42"}
    Platform(client, first.public_id).event("subscribe", openid="oOPENID_ON_FIRST_00000000001")
    Platform(client, second.public_id).say("你好", 9301, openid="oOPENID_ON_SECOND_0000000001")
    Platform(client, other_org.public_id).event("subscribe", openid="oOPENID_IN_ORG_B_00000000001")
    a1 = contact_of(database, first, "oOPENID_ON_FIRST_00000000001")
    a2 = contact_of(database, second, "oOPENID_ON_SECOND_0000000001")
    b = contact_of(database, other_org, "oOPENID_IN_ORG_B_00000000001")
    assert a1 is not None and a2 is not None and b is not None
    assert a1.id == a2.id and b.id != a1.id and b.org_id == orgs.b.id
    with database.session() as session:
        kinds = set(session.scalars(select(ContactIdentity.channel).where(ContactIdentity.contact_id == a1.id)))
    assert kinds == {f"wechat:{first.id}", f"wechat:{second.id}", "wxunion"}
    # user/info is asked once per person: a second message of a known parent does not ask again.
    asked = fake_wechat.count("/cgi-bin/user/info")
    Platform(client, second.public_id).say("在吗", 9302, openid="oOPENID_ON_SECOND_0000000001")
    assert fake_wechat.count("/cgi-bin/user/info") == asked == 3


def test_event_xml_helper_matches_what_wechat_sends() -> None:
    """The classifier reads WeChat's own field names (a guard on the test helper and the parser alike)."""
    cb = events.classify({"FromUserName": PARENT, "CreateTime": "1700000000", "MsgType": "event",
                          "Event": "subscribe", "EventKey": "qrscene_123"})
    assert (cb.action, cb.scene, cb.receipt_key) == (events.ARRIVAL, "123", f"ev:{PARENT}:1700000000:subscribe")
    assert "<Event><![CDATA[SCAN]]></Event>" in xml_event(PARENT, "SCAN", "x")
