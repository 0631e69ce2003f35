"""Sending through the customer-service API of the fake WeChat: token expiry in the middle of a conversation, outages
that wait in the outbox, users who unfollowed, pictures uploaded once, and the 48-hour window with and without a
template message — shown on the ticket page beside the reply."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from edudesk.app import create_app
from edudesk.channels.base import (
    ChannelSendError,
    InboxInfo,
    OutboundAttachment,
    OutboundMessage,
    OutsideReplyWindow,
    SendContext,
)
from edudesk.channels.wechat import outbound
from edudesk.channels.wechat.config import WeChatConfig
from edudesk.conversations.models import Conversation, DeliveryState, Message
from edudesk.db import Database, utcnow
from edudesk.settings import Settings
from edudesk.tickets import service as tickets_service
from edudesk.tickets.models import TicketSource
from tests.channels.wechat.conftest import (
    AES_KEY,
    PARENT,
    TOKEN,
    Platform,
    WxInbox,
    deliver_all,
    deliveries,
    make_inbox,
    make_retries_due,
    with_wechat,
)
from tests.channels.wechat.fake_api import APP_ID, APP_SECRET, FakeWeChat
from tests.conftest import TwoOrgs, login

TEMPLATE = {"template_id": "TPL-reply-0001",
            "template_fields": ["thing1={text}", "thing2={sender}", "time3={time}"],
            "template_url": "https://example.com/open"}


def conversation_id(database: Database, org_id: int) -> int:
    with database.session() as session:
        return int(session.scalars(select(Conversation.id).where(Conversation.org_id == org_id)).one())


def test_an_expired_token_mid_conversation_is_refreshed_once_and_the_send_retried(
        app: FastAPI, database: Database, platform: Platform, fake_wechat: FakeWeChat) -> None:
    platform.say("你好", 1)
    deliver_all(app, database)
    assert fake_wechat.tokens_issued == ["TOKEN-1"]
    before = len(fake_wechat.texts(PARENT))
    fake_wechat.expire_next = 1  # 42001 on the next call: WeChat expired the token early
    platform.say("学费多少", 2)
    deliver_all(app, database)
    fake_wechat.valid_tokens.clear()  # 40001: someone fetched a new token elsewhere
    platform.say("上课时间", 3)
    deliver_all(app, database)
    assert len(fake_wechat.tokens_issued) == 3
    assert len(fake_wechat.texts(PARENT)) > before + 1
    assert all(d.state == DeliveryState.sent and d.attempts == 1 for d in deliveries(database))


def test_an_outage_keeps_messages_in_the_outbox_in_order_until_wechat_is_back(
        app: FastAPI, database: Database, platform: Platform, fake_wechat: FakeWeChat) -> None:
    fake_wechat.http_error = 502
    platform.say("你好", 1)
    platform.say("学费多少", 2)
    deliver_all(app, database)
    assert fake_wechat.texts(PARENT) == []
    waiting = deliveries(database)
    assert waiting and all(d.state == DeliveryState.pending for d in waiting)
    assert waiting[0].attempts == 1 and all(d.attempts == 0 for d in waiting[1:])  # the line waits behind its head
    with database.session() as session:
        head = session.get(Message, waiting[0].message_id)
        assert head is not None and head.extra["delivery"]["state"] == "retrying"
    fake_wechat.http_error = 0
    fake_wechat.busy = 1  # errcode -1 "system busy": retryable too
    make_retries_due(database)
    deliver_all(app, database)
    make_retries_due(database)
    deliver_all(app, database)
    sent = deliveries(database)
    assert all(d.state == DeliveryState.sent for d in sent)
    with database.session() as session:
        order = [session.get(Message, d.message_id).text for d in sent]  # type: ignore[union-attr]
    delivered = fake_wechat.texts(PARENT)
    assert [t.split("\n")[0] for t in delivered] == [t.split("\n")[0] for t in order]


def test_a_parent_who_unfollowed_is_a_permanent_failure_that_does_not_block_the_line(
        app: FastAPI, database: Database, platform: Platform, fake_wechat: FakeWeChat) -> None:
    fake_wechat.unsubscribed.add(PARENT)
    platform.say("你好", 1)
    deliver_all(app, database)
    failed = deliveries(database)
    assert failed and all(d.state == DeliveryState.failed for d in failed)
    with database.session() as session:
        msg = session.get(Message, failed[0].message_id)
        assert msg is not None and msg.extra["delivery"] == {"state": "failed", "error": outbound.PERMANENT[43004],
                                                             "code": "wechat_43004"}


def _ticket_reply(client: TestClient, database: Database, orgs: TwoOrgs, inbox: WxInbox, platform: Platform,
                  fake_wechat: FakeWeChat, text: str) -> str:
    """A parent wrote 49 hours ago; an agent answers their ticket now. Returns the ticket page afterwards."""
    platform.say("孩子的课能调到周六吗", 1)
    conv_id = conversation_id(database, orgs.a.id)
    with database.session() as session:
        conv = session.get(Conversation, conv_id)
        assert conv is not None
        ticket = tickets_service.create_ticket(session, org_id=orgs.a.id, source=TicketSource.agent,
                                               subject="调课", contact_id=conv.contact_id, conversation_id=conv_id,
                                               channel="wechat")
        session.execute(update(Conversation).where(Conversation.id == conv_id).values(
            last_visitor_message_at=utcnow() - dt.timedelta(hours=49)))
        session.commit()
        ticket_id = ticket.id
    deliver_all(app_of(client), database)
    fake_wechat.window_closed.add(PARENT)  # WeChat's own clock says the same
    csrf = login(client, "alpha", "agent")
    resp = client.post(f"/tickets/{ticket_id}/comments", data={"text": text, "kind": "reply", "csrf_token": csrf},
                       follow_redirects=True)
    assert resp.status_code == 200, resp.text
    deliver_all(app_of(client), database)
    return client.get(f"/tickets/{ticket_id}").text


def app_of(client: TestClient) -> FastAPI:
    return client.app  # type: ignore[return-value]


def test_a_ticket_reply_after_49_hours_without_a_template_shows_it_cannot_reach_the_parent(
        client: TestClient, database: Database, orgs: TwoOrgs, inbox: WxInbox, platform: Platform,
        fake_wechat: FakeWeChat) -> None:
    page = _ticket_reply(client, database, orgs, inbox, platform, fake_wechat, "可以，周六上午十点")
    assert "可以，周六上午十点" not in fake_wechat.texts(PARENT)
    assert fake_wechat.templates() == []
    reply = page[page.index("可以，周六上午十点"):]
    assert "未送达" in reply and outbound.OUTSIDE_TEXT in reply and "请改用电话等其他方式联系访客" in reply
    assert reply.index("delivery-failed") < reply.index("</article>")  # beside the reply itself
    last = deliveries(database)[-1]
    assert (last.state, last.last_error) == (DeliveryState.failed, f"outside_reply_window: {outbound.OUTSIDE_TEXT}")


def test_a_ticket_reply_after_49_hours_goes_out_as_the_template_message(
        client: TestClient, database: Database, orgs: TwoOrgs, fake_wechat: FakeWeChat) -> None:
    inbox = make_inbox(database, orgs.a.id, **TEMPLATE)
    platform = Platform(client, inbox.public_id)
    long_reply = "可以调到周六上午十点，请带好教材，提前十分钟到前台签到，谢谢配合"
    page = _ticket_reply(client, database, orgs, inbox, platform, fake_wechat, long_reply)
    templates = fake_wechat.templates()
    assert len(templates) == 1
    sent = templates[0]
    assert (sent["touser"], sent["template_id"], sent["url"]) == (PARENT, "TPL-reply-0001", "https://example.com/open")
    assert sent["data"]["thing1"]["value"] == long_reply[:19] + "…"  # "thing" values hold 20 characters
    assert sent["data"]["thing2"]["value"] == "王老师"
    assert sent["client_msg_id"].startswith("edk-")
    # WeChat was asked first (it is the judge of its window) and said 45015.
    attempts = [c for c in fake_wechat.calls if c.path == "/cgi-bin/message/custom/send"
                and c.body["text"]["content"] == long_reply]
    assert len(attempts) == 1 and not attempts[0].body.get("_accepted")
    last = deliveries(database)[-1]
    assert (last.state, last.via, last.external_id) == (DeliveryState.sent, "template", str(sent["_msgid"]))
    reply = page[page.index(long_reply):]
    assert "已改用模板消息送达" in reply and "未送达" not in reply.split("</article>")[0]


def test_bot_messages_outside_the_window_never_become_template_messages(
        app: FastAPI, database: Database, orgs: TwoOrgs, client: TestClient, fake_wechat: FakeWeChat) -> None:
    inbox = make_inbox(database, orgs.a.id, **TEMPLATE)
    fake_wechat.window_closed.add(PARENT)
    Platform(client, inbox.public_id).say("你好", 1)
    deliver_all(app, database)
    assert fake_wechat.templates() == []
    assert {d.state for d in deliveries(database)} == {DeliveryState.failed}


def _ctx(app: FastAPI, inbox_id: int = 1, **overrides: str) -> SendContext:
    config = WeChatConfig(app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN, encoding_aes_key=AES_KEY,
                          **overrides)  # type: ignore[arg-type]
    info = InboxInfo(id=inbox_id, org_id=1, kind="wechat", public_id="p", name="阿尔法公众号", config=config)
    return SendContext(inbox=info, services=app.state.ctx.channels.services)


def test_pictures_are_uploaded_once_and_sent_by_media_id(app: FastAPI, fake_wechat: FakeWeChat,
                                                        tmp_path: Path) -> None:
    picture = tmp_path / "poster"
    picture.write_bytes(b"\x89PNG" + b"poster" * 100)
    att = OutboundAttachment(path=picture, content_type="image/png", filename="poster.png")
    ctx = _ctx(app)
    for n in (1, 2):
        outbound.send(ctx, OutboundMessage(org_id=1, channel="wechat", external_user_id=f"oUSER{n}", text="招生海报",
                                           attachment=att, delivery_key=f"edk-{n}"))
    assert fake_wechat.count("/cgi-bin/media/upload") == 1
    media = [m for m in fake_wechat.sent() if m["msgtype"] == "image"]
    assert [m["touser"] for m in media] == ["oUSER1", "oUSER2"]
    assert media[0]["image"]["media_id"] == media[1]["image"]["media_id"]
    assert fake_wechat.uploads[media[0]["image"]["media_id"]] == picture.read_bytes()
    # A file WeChat cannot carry is named in the text instead.
    doc = OutboundAttachment(path=picture, content_type="application/pdf", filename="课表.pdf")
    outbound.send(ctx, OutboundMessage(org_id=1, channel="wechat", external_user_id="oUSER3", text="课表见附件",
                                       attachment=doc, delivery_key="edk-3"))
    assert fake_wechat.texts("oUSER3") == ["课表见附件\n[附件「课表.pdf」无法通过公众号发送]"]


def test_a_retried_message_does_not_send_its_text_twice(app: FastAPI, fake_wechat: FakeWeChat,
                                                       tmp_path: Path) -> None:
    """Text went out, the picture failed: the retry sends only the picture."""
    picture = tmp_path / "p"
    picture.write_bytes(b"\xff\xd8" + b"x" * 10)
    att = OutboundAttachment(path=picture, content_type="image/jpeg", filename="p.jpg")
    message = OutboundMessage(org_id=1, channel="wechat", external_user_id="oUSER9", text="看图",
                              attachment=att, delivery_key="edk-77")
    ctx = _ctx(app)
    real_upload = fake_wechat._call

    def failing_upload(path: str, query: dict[str, str], body: object) -> dict[str, object]:
        if path == "/cgi-bin/media/upload":
            return {"errcode": -1, "errmsg": "system error"}
        return real_upload(path, query, body)

    fake_wechat._call = failing_upload  # type: ignore[method-assign]
    with pytest.raises(ChannelSendError) as failed:
        outbound.send(ctx, message)
    assert failed.value.retryable
    fake_wechat._call = real_upload  # type: ignore[method-assign]
    outbound.send(ctx, message)
    assert fake_wechat.texts("oUSER9") == ["看图"]
    assert [m["msgtype"] for m in fake_wechat.sent("oUSER9")] == ["text", "image"]


@pytest.mark.parametrize(("switch", "retryable", "code"), [
    ("http_error", True, "wechat_unavailable"),
    ("busy", True, "wechat_-1"),
    ("token_errcode", True, "wechat_40164"),
    ("unsubscribed", False, "wechat_43004"),
    ("window_closed", False, "outside_reply_window"),
])
def test_errors_map_to_retryable_or_permanent(app: FastAPI, fake_wechat: FakeWeChat, switch: str,
                                              retryable: bool, code: str) -> None:
    if switch == "http_error":
        fake_wechat.http_error = 503
    elif switch == "busy":
        fake_wechat.busy = 5
    elif switch == "token_errcode":
        fake_wechat.token_errcode = 40164
    else:
        getattr(fake_wechat, switch).add("oUSERX")
    with pytest.raises(ChannelSendError) as failed:
        outbound.send(_ctx(app), OutboundMessage(org_id=1, channel="wechat", external_user_id="oUSERX", text="hi",
                                                 sender="agent"))
    assert (failed.value.retryable, failed.value.code) == (retryable, code)
    if switch == "window_closed":
        assert isinstance(failed.value, OutsideReplyWindow)
    if switch == "token_errcode":
        assert "IP 白名单" in failed.value.message


def test_the_welcome_after_a_follow_goes_out_although_the_parent_never_wrote(
        app: FastAPI, database: Database, platform: Platform, fake_wechat: FakeWeChat) -> None:
    """The outbox marks it outside the window (no parent message yet); WeChat allows it after a follow."""
    platform.event("subscribe")
    deliver_all(app, database)
    assert len(fake_wechat.texts(PARENT)) == 1
    assert [d.state for d in deliveries(database)] == [DeliveryState.sent]


def test_two_instances_share_one_access_token_through_redis(settings: Settings, database: Database, redis_url: str,
                                                           fake_wechat: FakeWeChat) -> None:
    """WeChat invalidates a token when a new one is fetched: instances must share one, not each fetch their own."""
    shared = settings.model_copy(update={"redis_url": redis_url})
    first, second = with_wechat(create_app(shared)), with_wechat(create_app(shared))
    for n, instance in enumerate((first, second, first, second)):
        outbound.send(_ctx(instance), OutboundMessage(org_id=1, channel="wechat", external_user_id=f"oUSER{n}",
                                                      text="你好", delivery_key=f"edk-{n}"))
    assert fake_wechat.tokens_issued == ["TOKEN-1"]
    assert len(fake_wechat.texts()) == 4
    fake_wechat.valid_tokens.clear()  # revoked: one instance refreshes, the other picks the new one up
    for n, instance in enumerate((second, first), start=10):
        outbound.send(_ctx(instance), OutboundMessage(org_id=1, channel="wechat", external_user_id=f"oUSER{n}",
                                                      text="你好", delivery_key=f"edk-{n}"))
    assert fake_wechat.tokens_issued == ["TOKEN-1", "TOKEN-2"]
