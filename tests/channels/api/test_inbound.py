"""POST /api/v1/channels/{inbox}/messages and the transcript: tokens, scopes and org isolation; idempotency on the
caller's message id; validation; images; rate limits."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from edudesk.apitokens.models import ApiToken
from edudesk.audit.service import Actor
from edudesk.channels.fake.adapter import FakeChannel
from edudesk.contacts.models import Contact, ContactIdentity
from edudesk.conversations.models import Attachment, ChannelDelivery, Conversation, Message, SenderKind
from edudesk.db import Database, utcnow
from edudesk.inboxes import service as inboxes_service
from edudesk.inboxes.models import Inbox
from edudesk.settings import Settings
from tests.channels.api.conftest import ApiInbox, make_inbox, make_token, seed_kb
from tests.conftest import TwoOrgs

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def inbox(app: FastAPI, database: Database, orgs: TwoOrgs) -> ApiInbox:
    seed_kb(database, orgs.a.id)
    return make_inbox(database, app, orgs.a.id)


@pytest.fixture
def auth(database: Database, orgs: TwoOrgs) -> dict[str, str]:
    return make_token(database, orgs.a.id)


def post(client: TestClient, inbox: ApiInbox | str, headers: dict[str, str], **body: Any) -> Any:
    public_id = inbox if isinstance(inbox, str) else inbox.public_id
    # json.dumps escapes what UTF-8 cannot carry (a lone surrogate arrives as the JSON escape a browser sends).
    return client.post(f"/api/v1/channels/{public_id}/messages", content=json.dumps(body),
                       headers={**headers, "content-type": "application/json"})


def counts(db: Database) -> dict[str, int]:
    with db.session() as session:
        return {name: int(session.scalar(select(func.count()).select_from(model)) or 0)
                for name, model in (("messages", Message), ("contacts", Contact), ("deliveries", ChannelDelivery),
                                    ("conversations", Conversation), ("attachments", Attachment))}


def test_a_message_is_answered_by_the_bot_on_the_inbox(client: TestClient, inbox: ApiInbox, auth: dict[str, str],
                                                       database: Database, orgs: TwoOrgs) -> None:
    resp = post(client, inbox, auth, user_id="wx-openid-1", message_id="m-1", text="学费多少",
                user={"name": "王妈妈"}, campaign="douyin-0601", attribution={"utm_source": "douyin"})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert set(body) == {"id", "conversation_id", "message_id"} and body["message_id"] == "m-1"
    with database.session() as session:
        conv = session.get(Conversation, body["conversation_id"])
        assert conv is not None and (conv.org_id, conv.channel, conv.inbox_id) == (orgs.a.id, "api", inbox.id)
        identity = session.scalars(select(ContactIdentity).where(ContactIdentity.contact_id == conv.contact_id)).one()
        assert (identity.channel, identity.external_id) == (f"api:{inbox.id}", "wx-openid-1")
        contact = session.get(Contact, conv.contact_id)
        assert contact is not None and contact.name == "王妈妈"
        assert contact.attributes["first_touch"]["campaign"] == "douyin-0601"
        msgs = list(session.scalars(select(Message).where(Message.conversation_id == conv.id).order_by(Message.id)))
        visitor = [m for m in msgs if m.sender == SenderKind.visitor]
        assert [(m.id, m.text, m.client_id) for m in visitor] == [(body["id"], "学费多少", "m-1")]
        bot = [m for m in msgs if m.sender == SenderKind.bot and m.id > body["id"]]
        assert bot and "3600" in bot[0].text
        # Every bot message of the conversation waits in the channel's outbox.
        queued = session.scalars(select(ChannelDelivery.message_id).where(
            ChannelDelivery.conversation_id == conv.id)).all()
        assert set(queued) == {m.id for m in msgs if m.sender != SenderKind.visitor}


def test_a_resent_message_id_is_stored_and_answered_once(client: TestClient, inbox: ApiInbox, auth: dict[str, str],
                                                         database: Database) -> None:
    first = post(client, inbox, auth, user_id="u1", message_id="m-1", text="学费多少")
    before = counts(database)
    again = post(client, inbox, auth, user_id="u1", message_id="m-1", text="学费多少")
    changed = post(client, inbox, auth, user_id="u1", message_id="m-1", text="另一句话")  # the stored one wins
    assert first.status_code == 201 and again.status_code == 200 and changed.status_code == 200
    assert again.json() == first.json() == changed.json()
    assert counts(database) == before
    # A long id (up to 128) is recognised too; the same id of another user is another message.
    long_id = "x" * 128
    assert post(client, inbox, auth, user_id="u1", message_id=long_id, text="有试听吗").status_code == 201
    assert post(client, inbox, auth, user_id="u1", message_id=long_id, text="有试听吗").status_code == 200
    other = post(client, inbox, auth, user_id="u2", message_id="m-1", text="学费多少")
    assert other.status_code == 201 and other.json()["conversation_id"] != first.json()["conversation_id"]


def test_tokens_scopes_and_orgs(client: TestClient, app: FastAPI, inbox: ApiInbox, database: Database,
                                orgs: TwoOrgs) -> None:
    before = counts(database)
    message = {"user_id": "u1", "message_id": "m-1", "text": "学费多少"}
    assert post(client, inbox, {}, **message).status_code == 401
    assert post(client, inbox, {"Authorization": "Bearer edk_nope"}, **message).status_code == 401
    wrong_scope = post(client, inbox, make_token(database, orgs.a.id, ["leads:read", "leads:write"]), **message)
    assert wrong_scope.status_code == 403 and wrong_scope.json()["error"]["code"] == "insufficient_scope"
    # Org B's token, aimed at org A's inbox: the same 404 as an inbox that does not exist; nothing stored.
    other_org = make_token(database, orgs.b.id)
    for target in (inbox.public_id, "no-such-inbox"):
        resp = post(client, target, other_org, **message)
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    transcript = client.get(f"/api/v1/channels/{inbox.public_id}/conversations/u1/messages", headers=other_org)
    assert transcript.status_code == 404
    # A revoked token, a disabled inbox, an inbox of another kind: refused too.
    revoked = make_token(database, orgs.a.id)
    with database.session() as session:
        for token in session.scalars(select(ApiToken).where(ApiToken.org_id == orgs.a.id)):
            token.revoked_at = utcnow()
        fake = inboxes_service.create(session, Actor(orgs.a.id, label="t"), FakeChannel,
                                      inboxes_service.secret_box(app.state.ctx.settings.secret_key), name="测试",
                                      data={})
        session.commit()
        fake_public = fake.public_id
    assert post(client, inbox, revoked, **message).status_code == 401
    fresh = make_token(database, orgs.a.id)
    assert post(client, fake_public, fresh, **message).status_code == 404
    with database.session() as session:
        row = session.get(Inbox, inbox.id)
        assert row is not None
        row.enabled = False
        session.commit()
    assert post(client, inbox, fresh, **message).status_code == 404
    assert counts(database) == before


# Every refusal in one test per database: each case stores nothing, so they share one app, org and inbox (a setup
# per case cost a second or two each, for checks that take milliseconds).
BAD_MESSAGES: list[tuple[dict[str, Any], int, str, str]] = [
    ({"user_id": "u1", "message_id": "m1", "text": "   "}, 400, "empty_message", "text"),
    ({"user_id": "u1", "message_id": "m1"}, 400, "empty_message", "text"),
    ({"user_id": "u1", "message_id": "m1", "text": "长" * 2001}, 400, "too_long", "text"),
    ({"user_id": "u1", "message_id": "m1", "text": "长" * 20001}, 422, "invalid_request", "text"),
    ({"user_id": "u1", "message_id": "m1", "text": "hi", "nickname": "x"}, 422, "invalid_request", "nickname"),
    ({"user_id": "u1", "message_id": "m1", "text": "hi", "user": {"phone": "13912345678"}}, 422,
     "invalid_request", "user.phone"),
    ({"user_id": "", "message_id": "m1", "text": "hi"}, 422, "invalid_request", "user_id"),
    ({"user_id": "u" * 129, "message_id": "m1", "text": "hi"}, 422, "invalid_request", "user_id"),
    ({"user_id": "u1", "message_id": "m" * 129, "text": "hi"}, 422, "invalid_request", "message_id"),
    ({"message_id": "m1", "text": "hi"}, 422, "invalid_request", "user_id"),
    ({"user_id": "u1", "message_id": "m1", "text": "a\x00b"}, 422, "invalid_text", "text"),
    ({"user_id": "u1", "message_id": "m1", "text": "a\ud800b"}, 422, "invalid_text", "text"),
    ({"user_id": "u\x07", "message_id": "m1", "text": "hi"}, 422, "invalid_text", "user_id"),
    ({"user_id": "u1", "message_id": "m1", "text": "hi", "attribution": {"Bad Key": "x"}}, 422, "invalid_request",
     "attribution.Bad Key.[key]"),
    ({"user_id": "u1", "message_id": "m1", "image": "bm90IGFuIGltYWdl"}, 415, "bad_type", "image"),
    ({"user_id": "u1", "message_id": "m1", "image": "QQ="}, 400, "bad_image", "image"),
    ({"user_id": "u1", "message_id": "m1", "text": 5}, 422, "invalid_request", "text"),
]


def test_bad_messages_are_refused_and_store_nothing(client: TestClient, inbox: ApiInbox, auth: dict[str, str],
                                                    database: Database) -> None:
    before = counts(database)
    for body, status, code, field in BAD_MESSAGES:
        resp = post(client, inbox, auth, **body)
        assert resp.status_code == status, (str(body)[:80], resp.text)
        error = resp.json()["error"]
        assert (error["code"], error["field"]) == (code, field), str(body)[:80]
        assert counts(database) == before, str(body)[:80]


def test_bad_json_and_oversized_bodies(client: TestClient, inbox: ApiInbox, auth: dict[str, str],
                                       database: Database) -> None:
    before = counts(database)
    url = f"/api/v1/channels/{inbox.public_id}/messages"
    broken = client.post(url, content=b'{"user_id": "u1", "message_id": ', headers={
        **auth, "content-type": "application/json"})
    assert broken.status_code == 422 and broken.json()["error"]["code"] == "invalid_request"
    huge = client.post(url, content=b'{"text": "' + b"a" * (3 * 1024 * 1024) + b'"}', headers={
        **auth, "content-type": "application/json"})
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "too_large"
    assert counts(database) == before


def test_an_image_is_stored_as_the_message_attachment(client: TestClient, inbox: ApiInbox, auth: dict[str, str],
                                                      database: Database) -> None:
    resp = post(client, inbox, auth, user_id="u1", message_id="img-1", image=base64.b64encode(PNG).decode())
    assert resp.status_code == 201, resp.text
    again = post(client, inbox, auth, user_id="u1", message_id="img-1", image=base64.b64encode(PNG).decode())
    assert again.status_code == 200
    with database.session() as session:
        msg = session.get(Message, resp.json()["id"])
        assert msg is not None and msg.attachment_id is not None
        att = session.get(Attachment, msg.attachment_id)
        assert att is not None and att.content_type == "image/png" and att.size == len(PNG)
        assert session.scalar(select(func.count()).select_from(Attachment)) == 1
    page = client.get(f"/api/v1/channels/{inbox.public_id}/conversations/u1/messages", headers=auth).json()
    url = next(m for m in page["messages"] if m["id"] == resp.json()["id"])["attachment_url"]
    assert url.startswith("http://127.0.0.1:8000/api/v1/attachments/")
    assert client.get(url.removeprefix("http://127.0.0.1:8000")).content == PNG


def test_an_image_over_the_upload_limit_is_413(settings: Settings, app: FastAPI, client: TestClient,
                                               inbox: ApiInbox, auth: dict[str, str]) -> None:
    app.state.ctx.settings = app.state.ctx.settings.model_copy(update={"max_upload_bytes": 1024})
    resp = post(client, inbox, auth, user_id="u1", message_id="big", image=base64.b64encode(PNG * 20).decode())
    assert resp.status_code == 413 and resp.json()["error"]["field"] == "image"


def test_the_transcript_reads_the_users_messages_back(client: TestClient, inbox: ApiInbox, auth: dict[str, str],
                                                      database: Database, app: FastAPI, orgs: TwoOrgs) -> None:
    first = post(client, inbox, auth, user_id="u/1", message_id="m-1", text="学费多少").json()
    post(client, inbox, auth, user_id="u/1", message_id="m-2", text="有试听吗")
    post(client, inbox, auth, user_id="u2", message_id="m-1", text="别人的问题")
    url = f"/api/v1/channels/{inbox.public_id}/conversations/u%2F1/messages"
    page = client.get(url, headers=auth).json()
    assert page["user_id"] == "u/1" and not page["has_more"]
    texts = [(m["sender"], m["text"]) for m in page["messages"]]
    assert ("visitor", "学费多少") in texts and ("visitor", "有试听吗") in texts and "别人的问题" not in str(texts)
    mine = [m for m in page["messages"] if m["sender"] == "visitor"]
    assert [m["message_id"] for m in mine] == ["m-1", "m-2"] and mine[0]["id"] == first["id"]
    answer = next(m for m in page["messages"] if "3600" in m["text"])
    assert answer["sender"] == "bot" and answer["images"] == ["http://127.0.0.1:8000/static/demo/price.png"]
    ids = [m["id"] for m in page["messages"]]
    assert ids == sorted(ids)
    # Paging: after_id and limit; staff notes never appear.
    two = client.get(url, headers=auth, params={"limit": 2}).json()
    assert [m["id"] for m in two["messages"]] == ids[:2] and two["has_more"]
    rest = client.get(url, headers=auth, params={"after_id": ids[1]}).json()
    assert [m["id"] for m in rest["messages"]] == ids[2:]
    with database.session() as session:
        session.add(Message(org_id=orgs.a.id, conversation_id=first["conversation_id"], sender=SenderKind.agent,
                            sender_name="王老师", text="内部备注", internal=True, extra={}, created_at=utcnow()))
        session.commit()
    assert "内部备注" not in client.get(url, headers=auth).text
    unknown = client.get(f"/api/v1/channels/{inbox.public_id}/conversations/nobody/messages", headers=auth)
    assert unknown.status_code == 200 and unknown.json() == {"user_id": "nobody", "messages": [], "has_more": False}
    for bad in ({"after_id": -1}, {"after_id": 2**31}, {"limit": 0}, {"limit": 201}):
        assert client.get(url, headers=auth, params=bad).status_code == 422


def test_rate_limits(settings: Settings, app: FastAPI, client: TestClient, inbox: ApiInbox,
                     auth: dict[str, str], database: Database) -> None:
    limiter = app.state.ctx.limiter
    week = type(limiter.rules[("api_message", "org")])(2, 7 * 86400)  # a minute's window may end mid-test
    limiter.rules = {**limiter.rules, ("api_message", "org"): week}
    assert post(client, inbox, auth, user_id="u1", message_id="a", text="你好").status_code == 201
    assert post(client, inbox, auth, user_id="u2", message_id="b", text="你好").status_code == 201
    before = counts(database)
    refused = post(client, inbox, auth, user_id="u3", message_id="c", text="你好")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert counts(database) == before


def test_one_users_burst_hits_the_per_user_limit(app: FastAPI, client: TestClient, inbox: ApiInbox,
                                                 auth: dict[str, str]) -> None:
    app.state.ctx.settings = app.state.ctx.settings.model_copy(update={"visitor_messages_per_minute": 2})
    statuses = [post(client, inbox, auth, user_id="u1", message_id=f"m{i}", text=f"第{i}条").status_code
                for i in range(3)]
    assert statuses == [201, 201, 429]
    # A resend of a stored message is still answered (before it is counted).
    assert post(client, inbox, auth, user_id="u1", message_id="m0", text="第0条").status_code == 200
