"""The ``wecom.sync`` job: the pull with its cursor, what pulled items become, dedupe, one puller at a time."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from edudesk import jobs
from edudesk.channels.wecom import pulled
from edudesk.contacts import service as contacts_service
from edudesk.contacts.models import Contact, ContactIdentity
from edudesk.conversations.models import Attachment, Conversation, Message, SenderKind
from edudesk.db import Database, utcnow
from edudesk.inboxes import service as inboxes_service
from edudesk.inboxes.models import Inbox, InboxReceipt
from edudesk.leads.capture import first_touch
from edudesk.privacy import files
from tests.channels.wecom.conftest import OPEN_KFID, Account, Platform, Recorder, pending_jobs, run_jobs
from tests.channels.wecom.fake_api import FakeWeCom

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def visitor_texts(database: Database, account: Account) -> list[str]:
    with database.session() as session:
        return list(session.scalars(
            select(Message.text).join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.inbox_id == account.id, Message.sender == SenderKind.visitor)
            .order_by(Message.id)))


def state_of(database: Database, account: Account) -> dict[str, Any]:
    with database.session() as session:
        inbox = session.get(Inbox, account.id)
        assert inbox is not None
        return dict(inbox.state or {})


def test_a_notice_pulls_the_message_stores_it_and_the_answer_goes_out(
        app: FastAPI, platform: Platform, wecom_api: FakeWeCom, database: Database, account: Account) -> None:
    wecom_api.customer_text("wmParent1", "你好，请问在吗", OPEN_KFID)
    platform.notify(token="callback-token-1")
    run_jobs(app)
    assert wecom_api.sync_calls == [{"cursor": "", "limit": 1000, "voice_format": 0, "open_kfid": OPEN_KFID,
                                     "token": "callback-token-1"}]
    assert visitor_texts(database, account) == ["你好，请问在吗"]
    with database.session() as session:
        identity = session.scalars(select(ContactIdentity).where(ContactIdentity.external_id == "wmParent1")).one()
        assert identity.channel == f"wecom:{account.id}" and identity.org_id == account.org_id
        conv = session.scalars(select(Conversation).where(Conversation.contact_id == identity.contact_id)).one()
        assert conv.channel == "wecom" and conv.inbox_id == account.id
    sent = wecom_api.sent
    assert sent, "the welcome and the bot's answer go out through kf/send_msg"
    assert {(s["touser"], s["open_kfid"], s["msgtype"]) for s in sent} == {("wmParent1", OPEN_KFID, "text")}
    assert all(s["msgid"].startswith("edk-") for s in sent)
    assert state_of(database, account).get("cursor") == "c1"
    assert "sync_lease" not in state_of(database, account)


def test_pages_follow_the_cursor_and_the_cursor_is_kept_between_pulls(
        app: FastAPI, platform: Platform, wecom_api: FakeWeCom, database: Database, account: Account) -> None:
    wecom_api.page_size = 2
    for n in range(5):
        wecom_api.customer_text(f"wmParent{n % 2}", f"第{n}条", OPEN_KFID)
    platform.notify(token="t1")
    run_jobs(app)
    assert [c["cursor"] for c in wecom_api.sync_calls] == ["", "c2", "c4"]
    assert state_of(database, account)["cursor"] == "c5"
    wecom_api.customer_text("wmParent0", "第5条", OPEN_KFID)
    platform.notify(token="t2")
    run_jobs(app)
    assert [c["cursor"] for c in wecom_api.sync_calls[3:]] == ["c5"]
    assert wecom_api.sync_calls[3]["token"] == "t2"
    assert sorted(visitor_texts(database, account)) == sorted(f"第{n}条" for n in range(6))
    assert state_of(database, account)["cursor"] == "c6"


def test_a_message_pulled_twice_is_stored_and_answered_once(
        app: FastAPI, platform: Platform, wecom_api: FakeWeCom, database: Database, account: Account) -> None:
    item = wecom_api.customer_text("wmParent1", "学费多少", OPEN_KFID)
    wecom_api.add(dict(item))  # the same msgid again on a later page
    platform.notify(token="t1")
    run_jobs(app)
    assert visitor_texts(database, account) == ["学费多少"]
    answered = len(wecom_api.sent)
    # The cursor lost (a restore from backup): everything is pulled again, and nothing is stored or sent twice.
    with database.session() as session:
        inboxes_service.set_state(session, inboxes_service.get(session, account.org_id, account.id), cursor="")
        session.commit()
    platform.notify(token="t2")
    run_jobs(app)
    assert [c["cursor"] for c in wecom_api.sync_calls] == ["", ""]
    assert visitor_texts(database, account) == ["学费多少"]
    assert len(wecom_api.sent) == answered


def test_pictures_voice_and_cards(app: FastAPI, platform: Platform, wecom_api: FakeWeCom, database: Database,
                                  account: Account) -> None:
    wecom_api.media = {"MEDIA_PIC": (PNG, "image/png"), "MEDIA_VOICE": (b"#!AMR\n" + b"\x01" * 40, "audio/amr")}
    user = "wmParent1"
    wecom_api.customer_item(user, OPEN_KFID, "image", {"media_id": "MEDIA_PIC"})
    wecom_api.customer_item(user, OPEN_KFID, "voice", {"media_id": "MEDIA_VOICE"})
    wecom_api.customer_item(user, OPEN_KFID, "location", {"latitude": 31.2, "longitude": 121.5,
                                                          "name": "人民广场", "address": "上海市黄浦区"})
    wecom_api.customer_item(user, OPEN_KFID, "link", {"title": "暑期班招生", "desc": "三年级数学",
                                                      "url": "https://example.com/a", "pic_url": ""})
    wecom_api.customer_item(user, OPEN_KFID, "miniprogram", {"title": "报名小程序", "appid": "wx1",
                                                             "pagepath": "pages/signup"})
    wecom_api.customer_item(user, OPEN_KFID, "image", {"media_id": "EXPIRED"})
    platform.notify()
    run_jobs(app)
    texts = visitor_texts(database, account)
    assert texts[:2] == ["", ""]  # the picture and the voice note are attachments
    assert texts[2].startswith("[位置] 人民广场 上海市黄浦区") and "31.2" in texts[2]
    assert texts[3] == "[链接] 暑期班招生\n三年级数学\nhttps://example.com/a"
    assert texts[4] == "[小程序] 报名小程序 pages/signup"
    assert texts[5] == "[图片无法获取]"
    upload_dir = app.state.ctx.settings.upload_dir
    with database.session() as session:
        attachments = list(session.scalars(select(Attachment).join(Message, Message.attachment_id == Attachment.id)
                                           .order_by(Message.id)))
        assert [(a.content_type, a.size) for a in attachments] == [("image/png", len(PNG)), ("audio/amr", 46)]
        assert attachments[0].original_name == "photo.png"
        path = files.attachment_path(upload_dir, account.org_id, attachments[0].storage_key)
        assert path is not None and path.read_bytes() == PNG


def test_enter_session_records_the_link_and_greets_once(
        app: FastAPI, platform: Platform, wecom_api: FakeWeCom, database: Database, account: Account) -> None:
    wecom_api.enter_session("wmParent1", OPEN_KFID, scene="xhs", scene_param="xiaohongshu_note%2B1",
                            welcome_code="WELCOME-1")
    platform.notify()
    run_jobs(app)
    with database.session() as session:
        contact = session.scalars(select(Contact).where(Contact.org_id == account.org_id)).one()
        assert first_touch(contact) == {"campaign": "xiaohongshu_note+1", "wecom_scene": "xhs",
                                        "wecom_scene_param": "xiaohongshu_note+1"}
    assert [c["code"] for c in wecom_api.on_event] == ["WELCOME-1"]  # the org's welcome, through the code
    with database.session() as session:  # the event pulled again: no second greeting
        inboxes_service.set_state(session, inboxes_service.get(session, account.org_id, account.id), cursor="")
        session.commit()
    platform.notify(token="again")
    run_jobs(app)
    assert len(wecom_api.on_event) == 1 and wecom_api.sent == []
    with database.session() as session:
        assert len(list(session.scalars(select(InboxReceipt).where(InboxReceipt.key.like("wecom-ev:%"))))) == 1


def test_without_a_welcome_code_the_arrival_is_recorded_and_nobody_greeted(
        app: FastAPI, platform: Platform, wecom_api: FakeWeCom, database: Database, account: Account) -> None:
    """WeCom gives no code when the org set a welcome in WeCom's admin or greeted the customer lately; a code
    older than its 20 seconds (a pull that came late) is no better."""
    wecom_api.enter_session("wmParent1", OPEN_KFID, scene="dy", scene_param="douyin_profile")
    wecom_api.enter_session("wmParent2", OPEN_KFID, scene="dy", scene_param="douyin_live",
                            welcome_code="TOO-OLD", send_time=int(time.time()) - 60)
    platform.notify()
    run_jobs(app)
    with database.session() as session:
        contacts = list(session.scalars(select(Contact).where(Contact.org_id == account.org_id)
                                        .order_by(Contact.id)))
        assert [first_touch(c)["campaign"] for c in contacts] == ["douyin_profile", "douyin_live"]
        assert list(session.scalars(select(Conversation))) == []
    assert wecom_api.sent == [] and wecom_api.on_event == []
    wecom_api.customer_text("wmParent1", "你好", OPEN_KFID)  # their first message opens the conversation
    platform.notify(token="t2")
    run_jobs(app)
    assert wecom_api.texts_to("wmParent1")  # the welcome and the answer, now through kf/send_msg
    assert wecom_api.on_event == []


def test_other_events_are_logged(app: FastAPI, platform: Platform, wecom_api: FakeWeCom, database: Database,
                                 account: Account, logs: Recorder) -> None:
    wecom_api.event({"event_type": "msg_send_fail", "open_kfid": OPEN_KFID, "external_userid": "wmParent1",
                     "fail_msgid": "edk-9", "fail_type": 10})
    wecom_api.event({"event_type": "servicer_status_change", "servicer_userid": "zhangsan", "status": 2})
    platform.notify()
    run_jobs(app)
    [failed] = logs.named("wecom_msg_send_fail")
    assert failed["fail_msgid"] == "edk-9" and failed["fail_type"] == 10 and failed["log_level"] == "warning"
    assert logs.named("wecom_servicer_status_change")
    assert visitor_texts(database, account) == [] and wecom_api.sent == []


def test_an_expired_token_in_the_middle_is_refreshed(
        app: FastAPI, platform: Platform, wecom_api: FakeWeCom, database: Database, account: Account) -> None:
    wecom_api.customer_text("wmParent1", "第一条", OPEN_KFID)
    platform.notify(token="t1")
    run_jobs(app)
    assert wecom_api.token_fetches == 1
    wecom_api.expire_token_once = True
    wecom_api.customer_text("wmParent1", "第二条", OPEN_KFID)
    platform.notify(token="t2")
    run_jobs(app)
    assert wecom_api.token_fetches == 2
    assert visitor_texts(database, account) == ["第一条", "第二条"]


def test_a_failed_pull_is_retried_from_the_same_cursor(
        app: FastAPI, platform: Platform, wecom_api: FakeWeCom, database: Database, account: Account) -> None:
    wecom_api.customer_text("wmParent1", "在吗", OPEN_KFID)
    wecom_api.fail_sync = True
    platform.notify(token="t1")
    run_jobs(app)
    [job] = pending_jobs(database)
    assert job.attempts == 1 and "HTTP 502" in (job.last_error or "")
    assert "sync_lease" not in state_of(database, account) and "cursor" not in state_of(database, account)
    wecom_api.fail_sync = False
    with database.session() as session:
        session.execute(update(jobs.Job).where(jobs.Job.id == job.id).values(run_at=utcnow()))
        session.commit()
    run_jobs(app)
    assert visitor_texts(database, account) == ["在吗"]
    assert state_of(database, account)["cursor"] == "c1"


def test_one_puller_per_account_at_a_time(app: FastAPI, platform: Platform, wecom_api: FakeWeCom,
                                          database: Database, account: Account) -> None:
    """A second job while a pull is under way does not pull the same page: it asks the puller for one more
    round (with the newer token), which finds what arrived meanwhile."""
    ctx = app.state.ctx
    wecom_api.customer_text("wmParent1", "第一条", OPEN_KFID)
    wecom_api.sync_gate = gate = threading.Event()
    platform.notify(token="first")
    platform.notify(token="second")
    holder = jobs.Worker(ctx.db, ctx.jobs, worker_id="w1")
    thread = threading.Thread(target=holder.run_pending, kwargs={"limit": 1})
    thread.start()
    try:
        assert wecom_api.sync_entered.wait(timeout=30)
        wecom_api.customer_text("wmParent1", "第二条", OPEN_KFID)
        assert jobs.Worker(ctx.db, ctx.jobs, worker_id="w2").run_pending(limit=1) == 1
        assert len(wecom_api.sync_calls) == 1  # the second job did not pull
        assert state_of(database, account)["sync_again"] is True
    finally:
        gate.set()
        thread.join(timeout=60)
    assert [c["token"] for c in wecom_api.sync_calls] == ["first", "second"]
    assert [c["cursor"] for c in wecom_api.sync_calls] == ["", "c1"]
    assert visitor_texts(database, account) == ["第一条", "第二条"]
    state = state_of(database, account)
    assert "sync_lease" not in state and state["sync_again"] is False
    # The waiting job also looks again once the lease would have run out, in case the holder had died.
    [later] = pending_jobs(database)
    assert later.run_at > utcnow()


def test_an_item_the_adapter_cannot_handle_is_skipped_not_a_wall(
        app: FastAPI, platform: Platform, wecom_api: FakeWeCom, database: Database, account: Account,
        logs: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug on one odd item must not stop the account's pull for good; WeCom or the database failing does (the
    job is then tried again from the same cursor, see above)."""
    odd = wecom_api.customer_text("wmParent1", "奇怪的消息", OPEN_KFID)
    wecom_api.customer_text("wmParent1", "正常的消息", OPEN_KFID)
    real = pulled.Puller.content

    def content(self: pulled.Puller, item: dict[str, Any]) -> tuple[str, Any]:
        if item["msgid"] == odd["msgid"]:
            raise ValueError("a shape this code did not expect")
        return real(self, item)

    monkeypatch.setattr(pulled.Puller, "content", content)
    platform.notify()
    run_jobs(app)
    assert visitor_texts(database, account) == ["正常的消息"]
    assert [e["msgid"] for e in logs.named("wecom_item_failed")] == [odd["msgid"]]
    assert state_of(database, account)["cursor"] == "c2"


def test_a_known_unionid_joins_the_parent_to_their_contact_from_another_channel(
        app: FastAPI, platform: Platform, wecom_api: FakeWeCom, database: Database, account: Account) -> None:
    """The corp bound a WeChat developer account, so WeCom gives the unionid: the parent who already wrote to the
    org's Official Account is the same contact. Lookups are remembered (one batchget for both pulls)."""
    with database.session() as session:
        known = contacts_service.find_or_create(session, account.org_id, "wechat:999", "oOfficialAccountOpenid",
                                                aliases=(("wxunion", "oUnionOfParent1"),))
        session.commit()
        known_id = known.id
    wecom_api.unionids = {"wmParent1": "oUnionOfParent1"}
    wecom_api.customer_text("wmParent1", "你好", OPEN_KFID)
    wecom_api.customer_text("wmParent2", "在吗", OPEN_KFID)
    platform.notify(token="t1")
    run_jobs(app)
    wecom_api.customer_text("wmParent1", "还在吗", OPEN_KFID)
    platform.notify(token="t2")
    run_jobs(app)
    with database.session() as session:
        owners = dict(session.execute(select(ContactIdentity.external_id, ContactIdentity.contact_id)
                                      .where(ContactIdentity.org_id == account.org_id)).all())
    assert owners["wmParent1"] == owners["oUnionOfParent1"] == owners["oOfficialAccountOpenid"] == known_id
    assert owners["wmParent2"] != known_id
    assert wecom_api.customer_calls == 1
