"""A bot script running inside real conversations: triggered, answered, interrupted by a question and resumed,
its answers written to the lead card, and finished once."""

from __future__ import annotations

import json

from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.bot import scripts
from edudesk.bot.flows.templates import K12_FLOW
from edudesk.bot.models import BotConversationState, BotFlowVersion
from edudesk.channels.base import InboundMessage
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from edudesk.kb import service as kb_service
from edudesk.kb.schemas import EntryInput
from edudesk.leads.models import Lead, LeadStatus, LeadValue
from edudesk.trials.models import TrialBooking
from tests.conftest import TwoOrgs
from tests.trials import factories


def say(database: Database, org_id: int, text: str, n: int) -> list[str]:
    with database.session() as session:
        result = inbound_service.receive(session, InboundMessage(
            org_id=org_id, channel="web", external_user_id="parent", client_message_id=f"m{n}", text=text),
            agents_online=False)
        session.commit()
        return [m.text for m in result.replies]


def setup(database: Database, org_id: int) -> None:
    with database.session() as session:
        actor = Actor(org_id, label="test")
        kb_service.create_entry(session, actor, EntryInput(
            question="学费多少？", similar=["一期多少钱", "价格是多少", "怎么收费"],
            answer="每期 3600 元，共 16 课时。"))
        scripts.save_flow(session, actor, json.dumps(K12_FLOW, ensure_ascii=False))
        session.commit()


def test_a_k12_script_from_trigger_to_lead(database: Database, orgs: TwoOrgs) -> None:
    setup(database, orgs.a.id)
    first = say(database, orgs.a.id, "学费多少？", 1)
    assert first[0] == "每期 3600 元，共 16 课时。"  # the question is answered before the script speaks
    assert any("几年级" in t for t in first)
    assert any("哪门课程" in t for t in say(database, orgs.a.id, "三年级", 2))
    # A question in the middle: answered, then the pending question again.
    detour = say(database, orgs.a.id, "怎么收费的？", 3)
    assert detour[0] == "每期 3600 元，共 16 课时。" and any("哪门课程" in t for t in detour[1:])
    assert any("称呼" in t for t in say(database, orgs.a.id, "数学思维", 4))
    assert any("手机号" in t for t in say(database, orgs.a.id, "王妈妈", 5))
    last = say(database, orgs.a.id, "13800138000", 6)
    assert any("课程老师" in t for t in last)
    with database.session() as session:
        state = session.scalars(select(BotConversationState)).one()
        assert state.flow_state is None and state.flows_done == ["k12_trial"]
        values = {v.key: (v.value, v.source.value) for v in session.scalars(select(LeadValue))}
        assert values["grade"][0] == "三年级"
        assert values["subject"][0] in ("数学", ["数学"])
        assert values["phone"][0] == "13800138000"
    again = say(database, orgs.a.id, "学费多少？", 7)
    assert again == ["每期 3600 元，共 16 课时。"]  # a finished script does not start again


def test_asking_for_a_human_drops_the_script(database: Database, orgs: TwoOrgs) -> None:
    setup(database, orgs.a.id)
    say(database, orgs.a.id, "想报名", 1)
    say(database, orgs.a.id, "转人工", 2)
    with database.session() as session:
        assert session.scalars(select(BotConversationState)).one().flow_state is None


def test_saving_validates_versions_and_isolates(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        actor = Actor(orgs.a.id, label="test")
        row = scripts.save_flow(session, actor, json.dumps(K12_FLOW, ensure_ascii=False))
        again = scripts.save_flow(session, actor, json.dumps({**K12_FLOW, "name": "改名"}, ensure_ascii=False))
        assert again.id == row.id and again.version == 2 and again.name == "改名"
        versions = session.scalars(select(BotFlowVersion.version).where(BotFlowVersion.flow_id == row.id)).all()
        assert sorted(versions) == [1, 2]
        broken = {**K12_FLOW, "steps": [{"kind": "say", "id": "a", "text": "x", "next": "nowhere"}]}
        for raw, code in (("", "empty"), ("{", "bad_json"), (json.dumps(broken), "invalid_flow")):
            try:
                scripts.save_flow(session, actor, raw)
            except scripts.ScriptError as exc:
                assert exc.code == code
            else:
                raise AssertionError(f"accepted {raw[:20]!r}")
        assert scripts.list_flows(session, orgs.b.id) == []
        session.commit()


def test_the_script_offers_trial_sessions_and_books_a_click(database: Database, orgs: TwoOrgs) -> None:
    setup(database, orgs.a.id)
    course_id, campus_id = factories.catalog(database, orgs.a.id, course="小学数学思维提高班", subject="数学")
    session_id = factories.trial(database, orgs.a.id, course_id, campus_id, capacity=1)
    say(database, orgs.a.id, "想预约试听", 1)
    say(database, orgs.a.id, "三年级", 2)
    say(database, orgs.a.id, "数学思维", 3)
    say(database, orgs.a.id, "王妈妈", 4)
    with database.session() as session:
        say_result = inbound_service.receive(session, InboundMessage(
            org_id=orgs.a.id, channel="web", external_user_id="parent", client_message_id="m5",
            text="13800138000"), agents_online=False)
        session.commit()
        offer = say_result.replies[-1]
        buttons = offer.extra.get("buttons", [])
        assert any(b["payload"] == f"trial:{session_id}" for b in buttons), offer.text
    booked = say(database, orgs.a.id, f"trial:{session_id}", 6)
    assert booked[0].startswith("已为您预约") and any("预约成功" in t for t in booked)
    with database.session() as session:
        lead = session.scalars(select(Lead).where(Lead.org_id == orgs.a.id)).one()
        assert lead.status == LeadStatus.trial_booked
        assert session.scalars(select(TrialBooking)).one().lead_id == lead.id
        assert session.scalars(select(BotConversationState)).one().flow_state is None
