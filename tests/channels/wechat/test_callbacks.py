"""The callback URL against what the internet may send it: URL verification, every kind of bad request (a clear
status, nothing stored, one warning line each) and the three message modes, built as WeChat builds them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from edudesk.audit.service import Actor
from edudesk.channels.fake.adapter import FakeChannel
from edudesk.channels.wechat import routes
from edudesk.contacts.models import Contact, ContactIdentity
from edudesk.conversations.models import ChannelDelivery, Conversation, Message
from edudesk.db import Database
from edudesk.inboxes import service as inboxes_service
from edudesk.inboxes.models import Inbox, InboxReceipt
from tests.channels.wechat.conftest import (
    OTHER_AES_KEY,
    PARENT,
    SECRET_KEY,
    Platform,
    WxInbox,
    make_inbox,
    xml_text,
)
from tests.conftest import TwoOrgs

XXE = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       f"<xml><ToUserName>gh</ToUserName><FromUserName>{PARENT}</FromUserName><CreateTime>{int(time.time())}"
       "</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content><MsgId>66</MsgId></xml>")
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
          '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
          f"<xml><FromUserName>{PARENT}</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>"
          "<Content>&lol3;</Content><MsgId>67</MsgId></xml>")


class Recorder:
    """Stands in for the routes' logger (structlog caches bound loggers, so capture_logs may miss them)."""

    def __init__(self) -> None:
        self.warnings: list[dict[str, Any]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.warnings.append({"event": event, **fields})

    def info(self, event: str, **fields: Any) -> None:
        pass

    def debug(self, event: str, **fields: Any) -> None:
        pass


def stored(database: Database) -> dict[str, int]:
    with database.session() as session:
        return {m.__tablename__: int(session.scalar(select(func.count()).select_from(m)) or 0)
                for m in (Contact, ContactIdentity, Conversation, Message, ChannelDelivery, InboxReceipt)}


def test_url_verification_echoes_only_a_signed_request(client: TestClient, platform: Platform,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(routes, "log", recorder)
    ok = platform.verify("5188123456789")
    assert ok.status_code == 200 and ok.text == "5188123456789"
    assert ok.headers["content-type"].startswith("text/plain")
    assert platform.verify(token="wrongToken99").status_code == 403
    assert platform.verify(timestamp=int(time.time()) - 3600).status_code == 403
    assert platform.verify("<script>alert(1)</script>").status_code == 400
    assert client.get("/channels/wechat/no-such-inbox", params=platform.query()).status_code == 404
    assert [w["code"] for w in recorder.warnings] == ["bad_signature", "stale_request", "bad_echostr",
                                                      "unknown_inbox"]


def _disable(database: Database, inbox: WxInbox) -> None:
    with database.session() as session:
        session.execute(update(Inbox).where(Inbox.id == inbox.id).values(enabled=False))
        session.commit()


def test_bad_requests_are_refused_store_nothing_and_leave_a_warning(
        app: FastAPI, client: TestClient, database: Database, orgs: TwoOrgs, platform: Platform,
        monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(routes, "log", recorder)
    good = xml_text(PARENT, "学费多少", 7001)
    plain_inbox = make_inbox(database, orgs.a.id, mode="plaintext", name="明文号")
    plain = Platform(client, plain_inbox.public_id, mode="plaintext")
    disabled = make_inbox(database, orgs.a.id, name="停用的号")
    _disable(database, disabled)
    with database.session() as session:
        other_kind = inboxes_service.create(session, Actor(orgs.a.id, label="t"), FakeChannel,
                                            inboxes_service.secret_box(SECRET_KEY), name="测试", data={})
        session.commit()
        other_kind_public = other_kind.public_id
    before = stored(database)
    cases: list[tuple[str, Callable[[], Any], int, str]] = [
        ("wrong signature", lambda: platform.post(good, token="wrongToken99"), 403, "bad_signature"),
        ("stale timestamp (replay)", lambda: platform.post(good, timestamp=int(time.time()) - 3600), 403,
         "stale_request"),
        ("future timestamp", lambda: platform.post(good, timestamp=int(time.time()) + 3600), 403, "stale_request"),
        ("wrong AES key", lambda: platform.post(good, aes_key=OTHER_AES_KEY), 400, "bad_ciphertext"),
        ("plaintext into safe mode", lambda: platform.post(good, encrypt=False), 400, "plaintext_refused"),
        ("XXE, encrypted", lambda: platform.post(XXE), 400, "bad_xml"),
        ("XXE, plaintext mode", lambda: plain.post(XXE), 400, "bad_xml"),
        ("billion laughs", lambda: platform.post(LAUGHS), 400, "bad_xml"),
        ("billion laughs, plaintext mode", lambda: plain.post(LAUGHS), 400, "bad_xml"),
        ("malformed XML", lambda: platform.post("<xml><FromUserName>x</xml"), 400, "bad_xml"),
        ("malformed outer XML", lambda: plain.post("<xml><Encrypt>"), 400, "bad_xml"),
        ("root is not <xml>", lambda: platform.post(good.replace("xml>", "root>")), 400, "bad_xml"),
        ("fields missing", lambda: platform.post("<xml><Content>hi</Content></xml>"), 400, "bad_xml"),
        ("oversized body", lambda: plain.post(good.replace("学费多少", "学" * 30_000)), 413, "too_large"),
        ("unknown inbox", lambda: Platform(client, "no-such-inbox").post(good), 404, "unknown_inbox"),
        ("disabled inbox", lambda: Platform(client, disabled.public_id).post(good), 404, "unknown_inbox"),
        ("another kind's inbox", lambda: Platform(client, other_kind_public).post(good), 404, "unknown_inbox"),
        ("empty body", lambda: plain.post(""), 400, "bad_xml"),
    ]
    for name, send, status, code in cases:
        recorder.warnings.clear()
        resp = send()
        assert resp.status_code == status, (name, resp.status_code, resp.text)
        assert resp.json()["error"]["code"] == code, name
        assert "root:" not in resp.text, name  # no file content ever comes back
        assert [w["event"] for w in recorder.warnings] == ["wechat_callback_refused"], name
        assert recorder.warnings[0]["status"] == status, name
        assert stored(database) == before, name
    # The same message, well formed, goes through: the refusals above were about the requests, not the inbox.
    assert platform.post(good).text == "success"
    assert stored(database)["messages"] > before["messages"]


def test_each_message_mode_is_understood(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    # One account per mode in one app (a setup per mode cost more than the checks).
    for n, mode in enumerate(("safe", "compatible", "plaintext")):
        inbox = make_inbox(database, orgs.a.id, mode=mode, name=f"{mode}公众号")
        platform = Platform(client, inbox.public_id, mode=mode)
        assert platform.verify("42").text == "42", mode
        platform.say("你们在哪个校区", 8101 + n)
        with database.session() as session:
            texts = list(session.scalars(select(Message.text).where(Message.org_id == orgs.a.id,
                                                                    Message.client_id == f"wx:{8101 + n}")))
        assert texts == ["你们在哪个校区"], mode


def test_plaintext_mode_still_opens_an_encrypted_message(client: TestClient, database: Database,
                                                         orgs: TwoOrgs) -> None:
    """The admin switched WeChat to safe mode before edudesk: the key is set, so nothing is lost meanwhile."""
    inbox = make_inbox(database, orgs.a.id, mode="plaintext")
    platform = Platform(client, inbox.public_id, mode="safe")
    platform.say("切换中", 8201)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Message).where(Message.client_id == "wx:8201")) == 1


def test_a_message_encrypted_for_another_account_is_refused(client: TestClient, database: Database,
                                                            inbox: WxInbox) -> None:
    """Right Token and key, but sealed for another AppID (the receive id inside the ciphertext)."""
    platform = Platform(client, inbox.public_id, app_id="wxffffffffffffffff")
    resp = platform.post(xml_text(PARENT, "你好", 8301))
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "bad_ciphertext"
    assert stored(database)["messages"] == 0
