"""The API channel journey, end to end over real HTTP, driven by the documented example client
(docs/examples/api_channel_client.py): its ``EdudeskChannel`` posts to a real server, and its ``Receiver`` on
127.0.0.1 verifies every ``X-Edudesk-Signature`` with the secret the admin page showed once.

An admin connects an API inbox and creates a ``channels:write`` token on the admin pages; a parent on the
integrator's app asks 学费多少 and the bot's answer arrives signed; a resend is answered once; the parent's phone
number makes a lead whose source is the API channel; while the receiver is down the replies wait and then arrive
in order; the parent asks for a human, an agent answers in the console and the reply reaches the receiver; the
transcript reads it all back.
"""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from edudesk.conversations.models import Conversation, Message, SenderKind
from edudesk.db import Database
from edudesk.leads.models import Lead
from edudesk.webhooks import signing
from edudesk.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from tests.channels.api.conftest import TOKEN_RE, connect_inbox, example, make_inbox, make_token, run_jobs, seed_kb
from tests.conftest import LiveServer, TwoOrgs, csrf_from, login
from tests.ports import free_port


def texts(events: list[dict[str, Any]]) -> list[str]:
    return [e["data"]["text"] for e in events]


def test_api_channel_journey(live_server: LiveServer, app: FastAPI, database: Database, orgs: TwoOrgs) -> None:
    ex = example()
    seed_kb(database, orgs.a.id)
    seed_kb(database, orgs.b.id, answer="贝塔培训的学费是另一个价")
    events: list[dict[str, Any]] = []
    port = free_port()
    receiver = ex.Receiver("not-yet-known", events.append, port=port).start()

    def settle() -> None:
        run_jobs(database, app, retries=True)

    try:
        # The admin connects the inbox (the signing secret is shown this once) and makes the integrator a token.
        with httpx.Client(base_url=live_server.url, timeout=30) as admin:
            inbox = connect_inbox(admin, receiver.url)
            csrf = csrf_from(admin.get("/admin/api-tokens").text)
            made = admin.post("/admin/api-tokens", data={"name": "小程序后端", "scopes": "channels:write",
                                                         "csrf_token": csrf})
            found = TOKEN_RE.search(made.text)
            assert found is not None, made.text
        receiver.secret = inbox.secret
        channel = ex.EdudeskChannel(live_server.url, found.group(1), inbox.public_id)

        # 学费多少: the bot's answer arrives signed (the receiver refuses anything it cannot verify).
        first = channel.send("parent-1", "学费多少", message_id="m-1", name="王妈妈")
        assert not first["duplicate"]
        settle()
        assert receiver.refused == 0
        assert any("3600" in t for t in texts(events)) and not any("贝塔" in t for t in texts(events))
        answer = next(e for e in events if "3600" in e["data"]["text"])
        assert answer["type"] == "message.outbound" and answer["data"]["user_id"] == "parent-1"
        assert answer["data"]["conversation_id"] == first["conversation_id"]

        # The app retries the same message: stored once, answered once.
        seen = len(events)
        again = channel.send("parent-1", "学费多少", message_id="m-1")
        assert again["duplicate"] and (again["id"], again["conversation_id"]) == (first["id"],
                                                                                 first["conversation_id"])
        settle()
        assert len(events) == seen

        # A phone number in the chat makes a lead whose source is the API channel.
        channel.send("parent-1", "我的手机号是 13912345678，想给孩子报数学", message_id="m-2")
        settle()
        with database.session() as session:
            lead = session.scalars(select(Lead).where(Lead.org_id == orgs.a.id)).one()
            assert lead.source_channel == "api" and lead.phone_e164 and lead.phone_e164.endswith("13912345678")
            assert session.scalars(select(Lead).where(Lead.org_id == orgs.b.id)).first() is None
        assert len(events) > seen  # the bot said something back

        # The receiver goes down: replies wait in the outbox (failed attempts, logged) …
        receiver.stop()
        before_outage = len(events)
        channel.send("parent-1", "可以免费试听吗", message_id="m-3")
        channel.send("parent-1", "今天天气怎么样", message_id="m-4")
        run_jobs(database, app)
        with database.session() as session:
            waiting = list(session.scalars(select(WebhookDelivery).where(
                WebhookDelivery.status.in_((DeliveryStatus.failed, DeliveryStatus.pending)))))
            assert waiting and any(d.status == DeliveryStatus.failed for d in waiting)
            assert session.scalars(select(WebhookAttempt).where(WebhookAttempt.response_code.is_(None))).first()
        assert len(events) == before_outage
        # … and arrive once it is back, in order.
        receiver = ex.Receiver(inbox.secret, events.append, port=port).start()
        settle()
        after = events[before_outage:]
        assert len(after) == len(waiting) and "今天天气怎么样" not in texts(after)
        assert any(e["data"]["kind"] == "fallback" for e in after)

        # 转人工: the hand-over is announced; an agent takes the conversation and answers in the console.
        handed = channel.send("parent-1", "转人工", message_id="m-5")
        settle()
        with httpx.Client(base_url=live_server.url, timeout=30) as agent:
            csrf = login(agent, "alpha", "agent")
            conv = handed["conversation_id"]
            assert agent.post(f"/console/c/{conv}/accept", data={"csrf_token": csrf}).status_code == 200
            reply = agent.post(f"/console/c/{conv}/send", data={"csrf_token": csrf, "client_id": "agent-1",
                                                               "text": "王妈妈您好，我是王老师，数学班周六上午有课～"})
            assert reply.status_code == 200
        settle()
        from_agent = [e["data"] for e in events if e["data"]["sender"]["kind"] == "agent"]
        assert [(d["sender"]["name"], d["text"]) for d in from_agent] == [
            ("王老师", "王妈妈您好，我是王老师，数学班周六上午有课～")]
        assert any(e["data"]["sender"]["kind"] == "system" and "王老师" in e["data"]["text"] for e in events)
        system_kinds = [e["data"]["kind"] for e in events if e["data"]["sender"]["kind"] == "system"]
        assert system_kinds[0] == "queue" and "queue_timeout" not in system_kinds  # answered while waiting

        # Every message reached the app exactly once, numbered 1, 2, 3 … in the conversation, signed by the inbox.
        assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
        assert len({e["id"] for e in receiver.received}) == len(receiver.received)
        assert {e["data"]["inbox_id"] for e in events} == {inbox.public_id}
        ids = [e["data"]["message_id"] for e in events]
        assert ids == sorted(ids)

        # A client that polls reads the same conversation back.
        transcript = channel.transcript("parent-1")
        mine = [m["message_id"] for m in transcript["messages"] if m["sender"] == "visitor"]
        assert mine == ["m-1", "m-2", "m-3", "m-4", "m-5"]
        others = {m["id"] for m in transcript["messages"] if m["sender"] != "visitor"}
        assert others == set(ids)
    finally:
        receiver.stop()


def test_the_example_refuses_forged_and_stale_requests() -> None:
    ex = example()
    got: list[dict[str, Any]] = []
    receiver = ex.Receiver("whsec_test", got.append).start()
    try:
        body = b'{"id":"evt_1","type":"message.outbound","data":{}}'
        now = str(int(time.time()))
        good = {"x-edudesk-timestamp": now, "x-edudesk-signature": signing.sign("whsec_test", int(now), body)}
        assert httpx.post(receiver.url, content=body, headers=good).status_code == 200
        assert httpx.post(receiver.url, content=body, headers=good).status_code == 200  # a resend: once
        forged = {**good, "x-edudesk-signature": signing.sign("whsec_other", int(now), body)}
        stale_ts = int(now) - 3600
        stale = {"x-edudesk-timestamp": str(stale_ts),
                 "x-edudesk-signature": signing.sign("whsec_test", stale_ts, body)}
        for headers in (forged, stale, {}):
            assert httpx.post(receiver.url, content=body, headers=headers).status_code == 401
        assert httpx.post(re.sub(r"/edudesk$", "/other", receiver.url), content=body, headers=good).status_code == 404
        assert len(got) == 1 and len(receiver.received) == 2 and receiver.refused == 3
    finally:
        receiver.stop()


def test_racing_resends_are_stored_and_answered_once(live_server: LiveServer, app: FastAPI, database: Database,
                                                     orgs: TwoOrgs) -> None:
    """An app that times out and retries while the first post is still running: the same message of a new user
    arrives four times at once. One is stored (201), the others get its answer (200); one conversation, one
    reply."""
    seed_kb(database, orgs.a.id)
    inbox = make_inbox(database, app, orgs.a.id)
    headers = make_token(database, orgs.a.id)
    url = f"{live_server.url}/api/v1/channels/{inbox.public_id}/messages"
    body = {"user_id": "racer", "message_id": "same-1", "text": "学费多少"}
    start = threading.Barrier(4)

    def post_once(_: int) -> tuple[int, dict[str, Any]]:
        start.wait(timeout=30)
        resp = httpx.post(url, json=body, headers=headers, timeout=60)
        return resp.status_code, resp.json()

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(post_once, range(4)))
    assert sorted(code for code, _ in answers) == [200, 200, 200, 201], answers
    assert len({json.dumps(b, sort_keys=True) for _, b in answers}) == 1
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Conversation)) == 1
        visitor = session.scalars(select(Message).where(Message.sender == SenderKind.visitor)).all()
        assert [m.text for m in visitor] == ["学费多少"]
        answered = session.scalars(select(Message).where(Message.sender == SenderKind.bot,
                                                         Message.text.contains("3600"))).all()
        assert len(answered) == 1
