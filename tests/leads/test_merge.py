"""The same parent on two channels (or two devices) is one lead: merged on phone or WeChat, the older lead kept."""

from __future__ import annotations

from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.channels.base import InboundMessage
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from edudesk.leads import service as leads_service
from edudesk.leads.models import Lead
from tests.conftest import TwoOrgs


def say(database: Database, org_id: int, text: str, visitor: str, channel: str = "web") -> None:
    with database.session() as session:
        inbound_service.receive(session, InboundMessage(org_id=org_id, channel=channel, external_user_id=visitor,
                                                        client_message_id=f"{visitor}-{text[:8]}", text=text),
                                agents_online=False)
        session.commit()


def test_same_phone_on_another_channel_merges_into_the_older_lead(database: Database, orgs: TwoOrgs) -> None:
    say(database, orgs.a.id, "孩子三年级，电话 13800138000", "site-visitor")
    say(database, orgs.a.id, "想学英语", "wechat-openid", channel="fake")
    say(database, orgs.a.id, "我是王妈妈，手机 138-0013-8000", "wechat-openid", channel="fake")
    with database.session() as session:
        leads = session.scalars(select(Lead).where(Lead.org_id == orgs.a.id).order_by(Lead.id)).all()
        assert len(leads) == 2 and leads[1].merged_into_id == leads[0].id
        primary = leads[0]
        values = {k: v.value for k, v in leads_service.values_of(session, primary).items()}
        assert values["grade"] == "三年级" and values["subject"] == ["英语"] and values["name"] == "王妈妈"
        # The second channel's contact now finds the merged lead, and the list shows one lead.
        assert leads_service.lead_for_contact(session, orgs.a.id, leads[1].contact_id).id == primary.id
        page = leads_service.search(session, orgs.a.id, leads_service.LeadFilters(), show_phone=True)
        assert page.total == 1
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "lead.merge")).one().org_id == orgs.a.id
    say(database, orgs.a.id, "孩子其实是四年级", "wechat-openid", channel="fake")
    with database.session() as session:
        primary = session.get(Lead, primary.id)
        assert primary is not None
        assert leads_service.values_of(session, primary)["grade"].value == "四年级"


def test_same_wechat_merges_and_other_orgs_never_do(database: Database, orgs: TwoOrgs) -> None:
    say(database, orgs.a.id, "加我微信 wang_mama2020，孩子五岁", "v1")
    say(database, orgs.a.id, "我的vx是wang_mama2020", "v2")
    say(database, orgs.b.id, "加我微信 wang_mama2020", "v3")
    with database.session() as session:
        a = session.scalars(select(Lead).where(Lead.org_id == orgs.a.id).order_by(Lead.id)).all()
        b = session.scalars(select(Lead).where(Lead.org_id == orgs.b.id)).all()
        assert [x.merged_into_id for x in a] == [None, a[0].id]
        assert [x.merged_into_id for x in b] == [None]
