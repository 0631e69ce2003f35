"""WeChat fixtures: a fake WeChat API on 127.0.0.1 the app is pointed at, Official Account inboxes in both orgs, and
a ``Platform`` that builds callbacks the way WeChat's servers do (wechatpy's signer and crypto, not ours)."""

from __future__ import annotations

import base64
import datetime as dt
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from edudesk import jobs
from edudesk.app import create_app
from edudesk.audit.service import Actor
from edudesk.channels.wechat.adapter import WeChatChannel
from edudesk.conversations.models import ChannelDelivery, DeliveryState
from edudesk.db import Database, utcnow
from edudesk.inboxes import service as inboxes_service
from edudesk.settings import Settings
from tests.channels.wechat.fake_api import APP_ID, APP_SECRET, FakeWeChat
from tests.conftest import TwoOrgs

TOKEN = "edudeskToken2027"
AES_KEY = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode().rstrip("=")
OTHER_AES_KEY = base64.b64encode(b"fedcba9876543210fedcba9876543210").decode().rstrip("=")
SECRET_KEY = "test-secret-" + "x" * 20
PARENT = "oPARENT_openid_0000000000001"


@pytest.fixture
def fake_wechat() -> Iterator[FakeWeChat]:
    fake = FakeWeChat().start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(settings: Settings, fake_wechat: FakeWeChat) -> Settings:
    return settings.model_copy(update={"wechat_api_base": fake_wechat.url,
                                       "redis_namespace": f"edudesk-test-{uuid.uuid4().hex[:8]}"})


def with_wechat(app: FastAPI) -> FastAPI:
    """Registers the adapter when the installed metadata does not name it yet (before the merge reinstalls)."""
    reg = app.state.ctx.channels
    if not reg.has("wechat"):
        reg.register(WeChatChannel)
        app.include_router(WeChatChannel.router())
        env = app.state.ctx.templates.env
        env.globals["channel_labels"] = {**env.globals["channel_labels"], "wechat": WeChatChannel.label}
        env.globals["channel_badges"] = {**env.globals["channel_badges"], "wechat": WeChatChannel.badge}
    return app


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    return with_wechat(create_app(settings))


@dataclass
class WxInbox:
    id: int
    org_id: int
    public_id: str


def make_inbox(database: Database, org_id: int, *, mode: str = "safe", name: str = "阿尔法公众号",
               **overrides: Any) -> WxInbox:
    data = {"app_id": APP_ID, "app_secret": APP_SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY,
            "message_mode": mode, **overrides}
    with database.session() as session:
        inbox = inboxes_service.create(session, Actor(org_id, label="t"), WeChatChannel,
                                       inboxes_service.secret_box(SECRET_KEY), name=name, data=data)
        session.commit()
        return WxInbox(inbox.id, org_id, inbox.public_id)


@pytest.fixture
def inbox(database: Database, orgs: TwoOrgs) -> WxInbox:
    return make_inbox(database, orgs.a.id)


def xml_text(openid: str, content: str, msg_id: int, *, create_time: int | None = None) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_alpha]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def xml_event(openid: str, event: str, key: str = "", *, create_time: int | None = None) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_alpha]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>")


def xml_message(openid: str, msg_type: str, msg_id: int, **fields: str) -> str:
    inner = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    return (f"<xml><ToUserName><![CDATA[gh_alpha]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{inner}"
            f"<MsgId>{msg_id}</MsgId></xml>")


@dataclass
class Platform:
    """WeChat's side of the callback: signs with the Token, encrypts with the EncodingAESKey (safe/compatible)."""

    http: Any  # TestClient or httpx.Client
    public_id: str
    token: str = TOKEN
    aes_key: str = AES_KEY
    app_id: str = APP_ID
    mode: str = "safe"
    nonces: Iterator[int] = field(default_factory=lambda: iter(range(10_000, 10**9)))

    @property
    def path(self) -> str:
        return f"/channels/wechat/{self.public_id}"

    def query(self, *, timestamp: int | None = None, token: str | None = None) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = str(next(self.nonces))
        signer = WeChatSigner()
        signer.add_data(token or self.token, ts, nonce)
        return {"signature": signer.signature, "timestamp": ts, "nonce": nonce, "openid": PARENT}

    def verify(self, echostr: str = "1234567890123", **kw: Any) -> Any:
        return self.http.get(self.path, params={**self.query(**kw), "echostr": echostr})

    def post(self, xml: str, *, timestamp: int | None = None, token: str | None = None,
             aes_key: str | None = None, encrypt: bool | None = None) -> Any:
        params = self.query(timestamp=timestamp, token=token)
        body = xml
        if encrypt if encrypt is not None else self.mode != "plaintext":
            crypto = WeChatCrypto(token or self.token, aes_key or self.aes_key, self.app_id)
            sealed = crypto.encrypt_message(xml, params["nonce"], params["timestamp"])
            signature = sealed.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
            params.update(encrypt_type="aes", msg_signature=signature)
            if self.mode == "compatible":  # both copies, as WeChat sends in compatible mode
                encrypt_part = sealed.split("<xml>")[1].split("<MsgSignature>")[0]
                body = xml.replace("</xml>", encrypt_part + "</xml>")
            else:
                body = sealed
        return self.http.post(self.path, params=params, content=body.encode(),
                              headers={"content-type": "text/xml"})

    def say(self, text: str, msg_id: int, openid: str = PARENT) -> Any:
        resp = self.post(xml_text(openid, text, msg_id))
        assert resp.status_code == 200 and resp.text == "success", resp.text
        return resp

    def event(self, event: str, key: str = "", openid: str = PARENT, create_time: int | None = None) -> Any:
        resp = self.post(xml_event(openid, event, key, create_time=create_time))
        assert resp.status_code == 200 and resp.text == "success", resp.text
        return resp


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def platform(client: TestClient, inbox: WxInbox) -> Platform:
    return Platform(client, inbox.public_id)


def deliver_all(app: FastAPI, database: Database, *, rounds: int = 50) -> None:
    """Runs every due job (deliveries and whatever else is due) until none is left."""
    worker = jobs.Worker(database, app.state.ctx.jobs, worker_id="t")
    for _ in range(rounds):
        if worker.run_pending() == 0:
            return
    raise AssertionError("jobs kept coming")


def make_retries_due(database: Database) -> int:
    """Moves every waiting delivery (and its job) to now, instead of sleeping through the backoff."""
    now = utcnow() - dt.timedelta(seconds=1)
    with database.session() as session:
        moved = session.execute(update(ChannelDelivery).where(ChannelDelivery.state == DeliveryState.pending)
                                .values(next_attempt_at=now)).rowcount
        session.execute(update(jobs.Job).where(jobs.Job.status == jobs.JobStatus.pending,
                                               jobs.Job.kind == "channels.deliver").values(run_at=now))
        session.commit()
        return int(moved or 0)


def deliveries(database: Database) -> list[ChannelDelivery]:
    with database.session() as session:
        rows = list(session.scalars(select(ChannelDelivery).order_by(ChannelDelivery.id)))
        session.expunge_all()
        return rows


def live_http(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=10)
