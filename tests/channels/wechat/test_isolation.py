"""Org isolation of the Official Account channel: a callback URL's public id reaches one inbox of one org, a
signature of another org's Token opens nothing, the same openid in two orgs is two people, and an org that types
another org's (public) AppID never sends with that org's access token."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from edudesk.contacts.models import Contact, ContactIdentity
from edudesk.conversations.models import ChannelDelivery, Conversation, DeliveryState, Message
from edudesk.db import Database
from edudesk.inboxes.models import InboxReceipt
from tests.channels.wechat.conftest import PARENT, Platform, deliver_all, deliveries, make_inbox, xml_text
from tests.channels.wechat.fake_api import FakeWeChat
from tests.conftest import TwoOrgs

TOKEN_B = "betaToken2027"


def rows_of(database: Database, org_id: int) -> dict[str, int]:
    with database.session() as session:
        return {m.__tablename__: int(session.scalar(select(func.count()).select_from(m).where(
            m.org_id == org_id)) or 0)
            for m in (Contact, ContactIdentity, Conversation, Message, ChannelDelivery, InboxReceipt)}


def test_a_callback_reaches_only_its_own_orgs_data(app: FastAPI, client: TestClient, database: Database,
                                                   orgs: TwoOrgs, fake_wechat: FakeWeChat) -> None:
    a = make_inbox(database, orgs.a.id)
    b = make_inbox(database, orgs.b.id, token=TOKEN_B, name="贝塔公众号")
    # Org B's Token on org A's URL (and the other way round) opens nothing.
    assert Platform(client, a.public_id, token=TOKEN_B).post(xml_text(PARENT, "你好", 1)).status_code == 403
    assert Platform(client, b.public_id).post(xml_text(PARENT, "你好", 2)).status_code == 403
    assert rows_of(database, orgs.a.id)["messages"] == 0 and rows_of(database, orgs.b.id)["messages"] == 0
    # Org A's parent writes: everything lands in org A.
    Platform(client, a.public_id).say("学费多少", 3)
    assert rows_of(database, orgs.b.id) == dict.fromkeys(rows_of(database, orgs.b.id), 0)
    assert rows_of(database, orgs.a.id)["messages"] >= 1
    # The same openid writes to org B's account (another Official Account would give another openid, but even the
    # same string is a different person there): a contact of org B's own.
    Platform(client, b.public_id, token=TOKEN_B).say("学费多少", 3)
    with database.session() as session:
        owners = {(i.org_id, i.channel) for i in session.scalars(select(ContactIdentity).where(
            ContactIdentity.external_id == PARENT))}
        contacts = set(session.scalars(select(ContactIdentity.contact_id).where(
            ContactIdentity.external_id == PARENT)))
    assert owners == {(orgs.a.id, f"wechat:{a.id}"), (orgs.b.id, f"wechat:{b.id}")}
    assert len(contacts) == 2
    deliver_all(app, database)
    assert {d.inbox_id for d in deliveries(database) if d.org_id == orgs.b.id} == {b.id}
    assert {d.inbox_id for d in deliveries(database) if d.org_id == orgs.a.id} == {a.id}


def test_an_org_typing_another_orgs_appid_never_sends_with_its_token(
        app: FastAPI, client: TestClient, database: Database, orgs: TwoOrgs, fake_wechat: FakeWeChat) -> None:
    a = make_inbox(database, orgs.a.id)
    Platform(client, a.public_id).say("你好", 1)
    deliver_all(app, database)
    assert fake_wechat.tokens_issued == ["TOKEN-1"] and fake_wechat.texts(PARENT)
    # Org B enters org A's AppID (it is public) with a secret it guessed, and a Token of its own so that it can
    # sign callbacks to its own URL.
    b = make_inbox(database, orgs.b.id, token=TOKEN_B, app_secret="guessed-secret", name="冒用")
    Platform(client, b.public_id, token=TOKEN_B).say("你好", 1, openid="oVICTIM_of_org_a_00000000001")
    deliver_all(app, database)
    assert fake_wechat.texts("oVICTIM_of_org_a_00000000001") == []
    assert fake_wechat.tokens_issued == ["TOKEN-1"]
    waiting = [d for d in deliveries(database) if d.org_id == orgs.b.id]
    assert waiting and waiting[0].state == DeliveryState.pending
    assert "AppSecret" in (waiting[0].last_error or "")
