"""Fixtures of the 微信客服 tests: a fake WeCom API on 127.0.0.1, the app pointed at it with the adapter registered
(also before the lead reinstalls the package with its entry point), org A's connected account, and a ``Platform``
that sends callbacks the way WeCom does, encrypted and signed with wechatpy (an independent implementation)."""

from __future__ import annotations

import base64
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto
from wechatpy.utils import WeChatSigner

from edudesk import jobs
from edudesk.app import NON_CHAT_SOURCES, create_app
from edudesk.audit.service import Actor
from edudesk.channels.wecom import pulled, routes, sending, sync
from edudesk.channels.wecom.adapter import WeComChannel
from edudesk.channels.wecom.config import SYNC_JOB
from edudesk.db import Database
from edudesk.inboxes import service as inboxes_service
from edudesk.settings import Settings
from tests.channels.wecom.fake_api import FakeWeCom
from tests.conftest import TwoOrgs

CORP_ID = "ww5f3c1a2b3c4d5e6f"
SECRET = "kf-secret-0123456789"
TOKEN = "cbToken0123"
AES_KEY = base64.b64encode(b"edudesk-wecom-test-aes-key-32byt").decode().rstrip("=")
OPEN_KFID = "wkAbCdEf0123456789"
SECRET_KEY = "test-secret-" + "x" * 20
# The pull token a notice carries (WeCom's documented example).
NOTICE_TOKEN = "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR"


def register(app: FastAPI) -> FastAPI:
    """The adapter, its routes and its job, unless the installed entry point and the app factory already did."""
    ctx = app.state.ctx
    if not ctx.channels.has("wecom"):
        ctx.channels.register(WeComChannel)
        app.include_router(WeComChannel.router())
        ctx.templates.env.globals["channel_labels"] = {**ctx.channels.labels(), **NON_CHAT_SOURCES}
        ctx.templates.env.globals["channel_badges"] = ctx.channels.badges()
    if ctx.jobs.get(SYNC_JOB) is None:
        WeComChannel.register_jobs(ctx.jobs, ctx)
    return app


class Recorder:
    """Stands in for the adapter modules' loggers (structlog caches bound loggers, so capture_logs may miss them)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __getattr__(self, level: str) -> Any:
        def record(event: str, **fields: Any) -> None:
            self.events.append({"event": event, "log_level": level, **fields})

        return record

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event]


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    for module in (routes, pulled, sync, sending):
        monkeypatch.setattr(module, "log", recorder)
    return recorder


@pytest.fixture
def wecom_api() -> Iterator[FakeWeCom]:
    server = FakeWeCom(CORP_ID, SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def settings(db_url: str, tmp_path: Path, wecom_api: FakeWeCom) -> Settings:
    return Settings(database_url=db_url, secret_key=SECRET_KEY, data_dir=tmp_path, run_jobs_in_process=False,
                    redis_namespace=f"edudesk-test-{uuid.uuid4().hex[:8]}", wecom_api_base=wecom_api.url)


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    return register(create_app(settings))


@dataclass
class Account:
    id: int
    org_id: int
    public_id: str


def connect(database: Database, org_id: int, *, open_kfid: str = OPEN_KFID, corp_id: str = CORP_ID,
            token: str = TOKEN, aes_key: str = AES_KEY, welcome_text: str = "", name: str = "抖音主页客服") -> Account:
    with database.session() as session:
        inbox = inboxes_service.create(
            session, Actor(org_id, label="t"), WeComChannel, inboxes_service.secret_box(SECRET_KEY), name=name,
            data={"corp_id": corp_id, "secret": SECRET, "token": token, "encoding_aes_key": aes_key,
                  "open_kfid": open_kfid, "welcome_text": welcome_text})
        session.commit()
        return Account(inbox.id, inbox.org_id, inbox.public_id)


@pytest.fixture
def account(database: Database, orgs: TwoOrgs) -> Account:
    return connect(database, orgs.a.id)


def callback_event(open_kfid: str = OPEN_KFID, token: str = NOTICE_TOKEN,
                   corp_id: str = CORP_ID) -> str:
    """The plaintext of a kf_msg_or_event callback (WeCom's documented shape)."""
    return (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><CreateTime>{int(time.time())}</CreateTime>"
            f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>"
            f"<Token><![CDATA[{token}]]></Token><OpenKfId><![CDATA[{open_kfid}]]></OpenKfId></xml>")


class Platform:
    """WeCom's side of the callback URL: builds requests with wechatpy as the platform does."""

    def __init__(self, client: TestClient, account: Account, *, token: str = TOKEN, aes_key: str = AES_KEY,
                 corp_id: str = CORP_ID) -> None:
        self.client, self.account = client, account
        self.token, self.aes_key, self.corp_id = token, aes_key, corp_id
        self.nonces = iter(range(10**6))

    @property
    def url(self) -> str:
        return f"/channels/wecom/{self.account.public_id}"

    def sealed(self, plaintext: str) -> tuple[str, dict[str, str]]:
        """The body WeCom posts and its query string: ToUserName, Encrypt and AgentID; the signature in the URL."""
        nonce, timestamp = f"n{next(self.nonces)}", str(int(time.time()))
        envelope = WeChatCrypto(self.token, self.aes_key, self.corp_id).encrypt_message(plaintext, nonce, timestamp)
        root = ET.fromstring(envelope)  # noqa: S314 (wechatpy's own output)
        encrypted, signature = root.findtext("Encrypt") or "", root.findtext("MsgSignature") or ""
        body = (f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]>"
                f"</Encrypt><AgentID><![CDATA[]]></AgentID></xml>")
        return body, {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}

    def post(self, body: str | bytes, params: dict[str, str]) -> httpx.Response:
        return self.client.post(self.url, params=params, content=body, headers={"content-type": "text/xml"})

    def notify(self, open_kfid: str = OPEN_KFID, token: str = NOTICE_TOKEN
               ) -> httpx.Response:
        body, params = self.sealed(callback_event(open_kfid, token, self.corp_id))
        return self.post(body, params)

    def verify(self, echo: str) -> httpx.Response:
        nonce, timestamp = f"n{next(self.nonces)}", str(int(time.time()))
        key = base64.b64decode(self.aes_key + "=")
        echostr = PrpCrypto(key).encrypt(echo, self.corp_id)
        echostr = echostr.decode() if isinstance(echostr, bytes) else echostr
        signer = WeChatSigner()
        signer.add_data(self.token, timestamp, nonce, echostr)
        return self.client.get(self.url, params={"msg_signature": signer.signature, "timestamp": timestamp,
                                                 "nonce": nonce, "echostr": echostr})


@pytest.fixture
def platform(client: TestClient, account: Account) -> Platform:
    return Platform(client, account)


def run_jobs(app: FastAPI, limit: int = 50) -> int:
    """Runs every due job until none is left; returns how many ran."""
    worker = jobs.Worker(app.state.ctx.db, app.state.ctx.jobs, worker_id="t")
    total = 0
    for _ in range(limit):
        ran = worker.run_pending()
        if not ran:
            return total
        total += ran
    raise AssertionError("jobs kept coming")


def pending_jobs(database: Database, kind: str = SYNC_JOB) -> list[Any]:
    with database.session() as session:
        return list(session.scalars(select(jobs.Job).where(jobs.Job.kind == kind,
                                                           jobs.Job.status == jobs.JobStatus.pending)))
