"""A ticket reply that cannot reach the visitor through their channel says so beside the reply, whatever the
channel (here the fake channel): failed with the channel's reason, retrying, or delivered as a template message."""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from edudesk import jobs
from edudesk.audit.service import Actor
from edudesk.channels.base import InboundMessage
from edudesk.channels.fake.adapter import FakeChannel
from edudesk.conversations.models import Conversation
from edudesk.db import Database, utcnow
from edudesk.inbound import service as inbound_service
from edudesk.inboxes import service as inboxes_service
from tests.conftest import TwoOrgs, login
from tests.tickets.helpers import make_ticket


def reply_page(app: FastAPI, client: TestClient, database: Database, orgs: TwoOrgs, visitor: str,
               config: dict[str, bool], *, silent_hours: int = 0) -> str:
    with database.session() as session:
        inbox = inboxes_service.create(session, Actor(orgs.a.id, label="t"), FakeChannel,
                                       inboxes_service.secret_box("test-secret-" + "x" * 20), name=visitor,
                                       data=config)
        session.flush()
        chat = inbound_service.receive(session, InboundMessage(
            org_id=orgs.a.id, channel="fake", external_user_id=visitor, client_message_id=f"{visitor}-1",
            text="请问周六有课吗", inbox_id=inbox.id), agents_online=False)
        session.execute(update(Conversation).where(Conversation.id == chat.conversation.id).values(
            last_visitor_message_at=utcnow() - dt.timedelta(hours=silent_hours)))
        session.commit()
        conversation_id, contact_id = chat.conversation.id, chat.conversation.contact_id
    ticket_id = make_ticket(database, orgs.a.id, contact_id=contact_id, conversation_id=conversation_id,
                            channel="fake")
    csrf = login(client, "alpha", "agent")
    resp = client.post(f"/tickets/{ticket_id}/comments", data={"kind": "reply", "text": f"周六上午有课 {visitor}",
                                                               "csrf_token": csrf})
    assert resp.status_code == 200, resp.text
    worker = jobs.Worker(database, app.state.ctx.jobs, worker_id="t")
    while worker.run_pending():
        pass
    page = client.get(f"/tickets/{ticket_id}").text
    reply = page[page.index(f"周六上午有课 {visitor}"):]
    return reply[:reply.index("</article>")]


def test_the_ticket_page_says_beside_a_reply_whether_it_reached_the_visitor(
        app: FastAPI, client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    refused = reply_page(app, client, database, orgs, "blocked-parent", {"refuse_sends": True})
    assert "未送达：对方已拒收消息" in refused and "请改用电话等其他方式联系访客" in refused
    outage = reply_page(app, client, database, orgs, "parent-in-outage", {"fail_sends": True})
    # The channel is down: the bot's earlier answer is being retried, and the reply waits behind it, in order.
    assert "等待发送" in outage and "未送达" not in outage
    late = reply_page(app, client, database, orgs, "silent-parent", {}, silent_hours=49)
    assert "未送达：超出平台允许的回复时间，无法送达" in late
    template = reply_page(app, client, database, orgs, "template-parent", {"template_fallback": True},
                          silent_hours=49)
    assert "已改用模板消息送达" in template and "未送达" not in template
    fine = reply_page(app, client, database, orgs, "happy-parent", {})
    assert "delivery" not in fine
