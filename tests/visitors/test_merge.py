"""A web visitor and a WeChat follower who give the same phone number become one contact: identities, trail,
conversations and tags move, and the merge is in the audit log."""

from __future__ import annotations

from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.channels.base import InboundMessage
from edudesk.contacts import service as contacts_service
from edudesk.contacts.models import ContactIdentity
from edudesk.conversations.models import Conversation
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from edudesk.visitors.models import Visit
from tests.conftest import TwoOrgs
from tests.visitors.factories import add_visit


def test_same_phone_on_web_and_wechat_merges_the_contacts(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        wx = inbound_service.receive(session, InboundMessage(orgs.a.id, "wechat", "openid-1", "w1",
                                                             text="我想了解美术课，电话 13912345678"),
                                     agents_online=True)
        follower = wx.conversation.contact_id
        contacts_service.get(session, orgs.a.id, follower).tags = ["公众号粉丝"]
        # Org B has the same number: never merged across orgs.
        inbound_service.receive(session, InboundMessage(orgs.b.id, "web", "v-b", "b1", text="电话 13912345678"),
                                agents_online=True)
        web = inbound_service.receive(session, InboundMessage(orgs.a.id, "web", "v-web", "m1", text="你好"),
                                      agents_online=True)
        visitor = web.conversation.contact_id
        add_visit(session, orgs.a.id, visitor_key="v-web", contact_id=visitor, pages=["https://s.example/art"])
        add_visit(session, orgs.a.id, visitor_key="v-old", contact_id=follower, pages=["https://s.example/x"])
        session.commit()
        assert follower != visitor

        inbound_service.receive(session, InboundMessage(orgs.a.id, "web", "v-web", "m2",
                                                        text="我的手机 13912345678"), agents_online=True)
        session.commit()

        kept = contacts_service.get(session, orgs.a.id, visitor)
        gone = contacts_service.get(session, orgs.a.id, follower)
        assert gone.attributes == {"merged_into": visitor}
        assert "公众号粉丝" in kept.tags and kept.phone
        idents = {(i.channel, i.external_id) for i in session.scalars(select(ContactIdentity).where(
            ContactIdentity.org_id == orgs.a.id, ContactIdentity.contact_id == visitor))}
        assert {("web", "v-web"), ("wechat", "openid-1")} <= idents
        convs = set(session.scalars(select(Conversation.contact_id).where(Conversation.org_id == orgs.a.id)))
        assert convs == {visitor}
        visits = set(session.scalars(select(Visit.contact_id).where(Visit.org_id == orgs.a.id)))
        assert visits == {visitor}
        audit = session.scalars(select(AuditEntry).where(AuditEntry.org_id == orgs.a.id,
                                                         AuditEntry.action == "contact.merge")).one()
        assert audit.target_id == str(visitor)
        assert audit.detail["merged"] == follower and audit.detail["conversations"] == 1

        # The follower writes again on WeChat: the same contact now.
        again = inbound_service.receive(session, InboundMessage(orgs.a.id, "wechat", "openid-1", "w2", text="在吗"),
                                        agents_online=True)
        assert again.conversation.contact_id == visitor
        # Org B's contact with the same number is untouched.
        assert session.scalars(select(AuditEntry).where(AuditEntry.org_id == orgs.b.id,
                                                        AuditEntry.action == "contact.merge")).first() is None
