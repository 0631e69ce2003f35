"""The callback URL: WeCom's URL verification, kf_msg_or_event notices, and everything a stranger might send."""

from __future__ import annotations

import base64
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from edudesk import jobs
from edudesk.audit.service import Actor
from edudesk.channels.wecom.adapter import WeComChannel
from edudesk.db import Database
from edudesk.inboxes import service as inboxes_service
from edudesk.inboxes.models import InboxReceipt
from tests.channels.wecom.conftest import (
    AES_KEY,
    CORP_ID,
    OPEN_KFID,
    TOKEN,
    Account,
    Platform,
    Recorder,
    callback_event,
    connect,
    pending_jobs,
)
from tests.conftest import TwoOrgs, login

OTHER_AES_KEY = base64.b64encode(b"another-aes-key-for-wrong-tests!").decode().rstrip("=")


def stored(database: Database) -> tuple[int, int]:
    """Jobs and receipts: what a callback leaves behind."""
    with database.session() as session:
        return (session.scalar(select(func.count()).select_from(jobs.Job)) or 0,
                session.scalar(select(func.count()).select_from(InboxReceipt)) or 0)


class TestUrlVerification:
    def test_answers_the_decrypted_echostr(self, platform: Platform) -> None:
        resp = platform.verify("6817263726715253561")
        assert resp.status_code == 200
        assert resp.text == "6817263726715253561"
        assert resp.headers["content-type"].startswith("text/plain")

    def test_a_wrong_token_is_refused(self, client: TestClient, account: Account, logs: Recorder) -> None:
        resp = Platform(client, account, token="not-the-token").verify("123")
        assert resp.status_code == 403 and "123" not in resp.text
        assert resp.json()["error"]["code"] == "bad_signature"
        assert logs.named("wecom_callback_refused")

    def test_an_echostr_for_another_corp_is_refused(self, client: TestClient, account: Account) -> None:
        resp = Platform(client, account, corp_id="wwSomeoneElse").verify("123")
        assert resp.status_code == 400 and "123" not in resp.text

    def test_unknown_or_disabled_account_is_not_found(self, client: TestClient, account: Account,
                                                      database: Database, orgs: TwoOrgs) -> None:
        assert client.get("/channels/wecom/nope", params={"echostr": "x"}).status_code == 404
        with database.session() as session:
            inboxes_service.set_enabled(session, Actor(orgs.a.id, label="t"),
                                        inboxes_service.get(session, orgs.a.id, account.id), False)
            session.commit()
        assert Platform(client, account).verify("123").status_code == 404


class TestNotice:
    def test_a_notice_queues_one_pull_and_is_answered_success(self, platform: Platform, database: Database,
                                                               account: Account) -> None:
        resp = platform.notify(token="tok-from-callback")
        assert resp.status_code == 200 and resp.text == "success"
        [job] = pending_jobs(database)
        assert job.payload == {"inbox_id": account.id, "token": "tok-from-callback"}
        assert job.org_id == account.org_id

    def test_the_same_callback_three_times_queues_one_pull(self, platform: Platform, database: Database) -> None:
        body, params = platform.sealed(callback_event(token="same-token"))
        answers = [platform.post(body, params) for _ in range(3)]
        assert [(r.status_code, r.text) for r in answers] == [(200, "success")] * 3
        # WeCom's resend is encrypted afresh (a new random prefix): still the same notice.
        assert platform.notify(token="same-token").text == "success"
        assert len(pending_jobs(database)) == 1
        platform.notify(token="next-token")
        assert len(pending_jobs(database)) == 2

    def test_other_events_are_acknowledged_and_ignored(self, platform: Platform, database: Database) -> None:
        plain = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><CreateTime>{int(time.time())}</CreateTime>"
                 "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_contact]]></Event></xml>")
        assert platform.post(*platform.sealed(plain)).text == "success"
        assert stored(database) == (0, 0)

    def test_a_sibling_account_of_the_same_corp_gets_its_own_pull(self, platform: Platform, database: Database,
                                                                  orgs: TwoOrgs) -> None:
        """WeCom calls one URL per corp: a notice about the org's second 客服账号 reaches the first one's URL."""
        second = connect(database, orgs.a.id, open_kfid="wkSecondAccount", name="小红书客服")
        platform.notify(open_kfid="wkSecondAccount", token="t2")
        [job] = pending_jobs(database)
        assert job.payload["inbox_id"] == second.id

    def test_another_orgs_account_is_never_reached(self, platform: Platform, database: Database, orgs: TwoOrgs,
                                                   client: TestClient, logs: Recorder) -> None:
        """Org B connected an account of the same corp: a notice naming it at org A's URL pulls nothing of B's,
        and org A's credentials do not open org B's URL."""
        theirs = connect(database, orgs.b.id, open_kfid="wkOrgB", token="org-b-token", aes_key=OTHER_AES_KEY)
        assert platform.notify(open_kfid="wkOrgB").text == "success"
        assert pending_jobs(database) == []
        assert logs.named("wecom_callback_for_unknown_account")
        resp = Platform(client, theirs).notify(open_kfid="wkOrgB")  # signed with org A's token and key
        assert resp.status_code == 403
        assert stored(database) == (0, 0)


def xxe(inner: str) -> str:
    return ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            f"<xml><Encrypt>{inner}</Encrypt></xml>")


BAD = {
    "wrong signature": (403, "bad_signature"),
    "wrong AES key": (400, "bad_request"),
    "encrypted for another corp": (400, "bad_request"),
    "XXE outside": (400, "bad_request"),
    "XXE inside": (400, "bad_request"),
    "billion laughs inside": (400, "bad_request"),
    "malformed outside": (400, "bad_request"),
    "malformed inside": (400, "bad_request"),
    "no Encrypt": (400, "bad_request"),
    "empty": (400, "bad_request"),
    "oversized": (413, "too_large"),
}


def test_bad_callbacks_are_refused_with_a_clear_status_and_nothing_stored(
        client: TestClient, account: Account, database: Database, logs: Recorder) -> None:
    # One app and account for every case (each stores nothing): a setup per case cost more than all the checks.
    for case in BAD:
        refused_once(case, client, account, database, logs)


def refused_once(case: str, client: TestClient, account: Account, database: Database, logs: Recorder) -> None:
    platform = Platform(client, account)
    body: str | bytes
    seen = len(logs.named("wecom_callback_refused"))
    if case == "wrong signature":
        body, params = Platform(client, account, token="forged").sealed(callback_event())
    elif case == "wrong AES key":
        body, params = Platform(client, account, aes_key=OTHER_AES_KEY).sealed(callback_event())
    elif case == "encrypted for another corp":
        body, params = Platform(client, account, corp_id="wwAnotherCorp").sealed(callback_event())
    elif case == "XXE outside":
        body, params = xxe("&xxe;"), {"msg_signature": "x", "timestamp": "1", "nonce": "n"}
    elif case == "XXE inside":
        body, params = platform.sealed(xxe("&xxe;"))
    elif case == "billion laughs inside":
        body, params = platform.sealed('<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
                                       "<xml><Event>&b;</Event></xml>")
    elif case == "malformed outside":
        body, params = "<xml><Encrypt>abc</Encrypt", {"msg_signature": "x", "timestamp": "1", "nonce": "n"}
    elif case == "malformed inside":
        body, params = platform.sealed("<xml><MsgType>event</MsgType>")
    elif case == "no Encrypt":
        body, params = "<xml><ToUserName>ww</ToUserName></xml>", {"msg_signature": "x", "timestamp": "1"}
    elif case == "empty":
        body, params = b"", {}
    else:
        body, params = platform.sealed(callback_event())
        body = body.replace("<AgentID>", "<Pad>" + "x" * 100_000 + "</Pad><AgentID>")
    resp = platform.post(body, params)
    status, code = BAD[case]
    assert resp.status_code == status, (case, resp.text)
    assert resp.json()["error"]["code"] == code, case
    assert "passwd" not in resp.text and "root:" not in resp.text, case
    assert stored(database) == (0, 0), case
    assert [e["log_level"] for e in logs.named("wecom_callback_refused")[seen:]] == ["warning"], case


def test_settings_refuse_a_bad_aes_key(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session, pytest.raises(inboxes_service.InboxError) as exc:
        inboxes_service.create(session, Actor(orgs.a.id, label="t"), WeComChannel,
                               inboxes_service.secret_box("k" * 32), name="x",
                               data={"corp_id": CORP_ID, "secret": "s", "token": TOKEN,
                                     "encoding_aes_key": AES_KEY[:-1], "open_kfid": OPEN_KFID})
    assert "43" in exc.value.message



def test_an_admin_connects_an_account_from_the_generic_page(client: TestClient, database: Database,
                                                            orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "admin")
    form = client.get("/admin/channels/new/wecom")
    assert form.status_code == 200
    assert "企业ID（CorpID）" in form.text and 'type="password" name="encoding_aes_key"' in form.text
    fields = {"name": "抖音主页客服", "corp_id": CORP_ID, "secret": "s3cret", "token": TOKEN,
              "encoding_aes_key": AES_KEY[:40], "open_kfid": OPEN_KFID, "csrf_token": csrf}
    refused = client.post("/admin/channels/new/wecom", data=fields)
    assert refused.status_code == 422 and "43" in refused.text
    with database.session() as session:
        assert inboxes_service.list_for_org(session, orgs.a.id, "wecom") == []
    created = client.post("/admin/channels/new/wecom", data={**fields, "encoding_aes_key": AES_KEY},
                          follow_redirects=True)
    assert created.status_code == 200
    with database.session() as session:
        [inbox] = inboxes_service.list_for_org(session, orgs.a.id, "wecom")
        assert AES_KEY not in inbox.secrets_encrypted and "s3cret" not in str(inbox.settings)
    assert f"/channels/wecom/{inbox.public_id}" in created.text
    assert AES_KEY not in created.text and "s3cret" not in created.text
    assert Platform(client, Account(inbox.id, orgs.a.id, inbox.public_id)).verify("hello").text == "hello"
