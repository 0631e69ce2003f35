"""A payload "flow:<key>" (a menu button, any button) starts that bot script now, whatever its triggers."""

from __future__ import annotations

import json

from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.bot import flow_host, scripts
from edudesk.bot.flows.templates import K12_FLOW
from edudesk.bot.models import BotConversationState, BotFlow
from edudesk.channels.base import InboundMessage
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from edudesk.kb.models import KbMiss
from tests.conftest import TwoOrgs

HELLO = "课程顾问小安"  # the K12 script's first words
CALLBACK_FLOW: dict[str, object] = {
    "schema_version": 1, "key": "callback", "name": "预约回电", "version": 1,
    "triggers": [{"kind": "keywords", "keywords": ["回电"]}],
    "steps": [{"kind": "ask_field", "id": "phone", "field": "phone", "prompt": "请留下手机号，老师给您回电～"}],
}


def press(database: Database, org_id: int, payload: str, n: int, *, text: str = "菜单", visitor: str = "parent"
          ) -> list[str]:
    with database.session() as session:
        result = inbound_service.receive(session, InboundMessage(
            org_id=org_id, channel="web", external_user_id=visitor, client_message_id=f"p{n}", text=text,
            payload=payload), agents_online=False)
        session.commit()
        return [m.text for m in result.replies]


def save(database: Database, org_id: int, *flows: dict[str, object]) -> None:
    with database.session() as session:
        for flow in flows:
            scripts.save_flow(session, Actor(org_id, label="test"), json.dumps(flow, ensure_ascii=False))
        session.commit()


def state(database: Database) -> BotConversationState:
    with database.session() as session:
        row = session.scalars(select(BotConversationState)).one()
        session.expunge(row)
        return row


def test_the_payload_parses() -> None:
    assert flow_host.flow_key_of("flow:k12_trial") == "k12_trial"
    assert flow_host.flow_key_of("flow: k12_trial ") == "k12_trial"
    assert flow_host.flow_key_of("flow:") is None
    assert flow_host.flow_key_of("学费多少") is None and flow_host.flow_key_of("menu:售后") is None


def test_a_payload_starts_a_script_its_triggers_would_not(database: Database, orgs: TwoOrgs) -> None:
    save(database, orgs.a.id, K12_FLOW)
    replies = press(database, orgs.a.id, "flow:k12_trial", 1, text="你好")  # no keyword of its triggers
    assert replies and HELLO in replies[0] and any("几年级" in t for t in replies)
    running = state(database)
    assert running.flow_state is not None and running.flow_state["flow_key"] == "k12_trial"
    with database.session() as session:
        assert not session.scalars(select(KbMiss)).all()  # "flow:…" is not a question the KB failed


def test_a_payload_restarts_a_finished_script_and_replaces_a_running_one(database: Database, orgs: TwoOrgs) -> None:
    save(database, orgs.a.id, K12_FLOW, CALLBACK_FLOW)
    press(database, orgs.a.id, "flow:k12_trial", 1)
    replies = press(database, orgs.a.id, f"flow:{CALLBACK_FLOW['key']}", 2)
    assert replies == ["请留下手机号，老师给您回电～"]
    assert state(database).flow_state["flow_key"] == CALLBACK_FLOW["key"]  # type: ignore[index]
    with database.session() as session:
        row = session.scalars(select(BotConversationState)).one()
        row.flow_state, row.flows_done = None, ["k12_trial"]
        session.commit()
    again = press(database, orgs.a.id, "flow:k12_trial", 3)
    assert again and HELLO in again[0]  # the visitor asked for it: a script done before starts again


def test_a_disabled_or_unknown_script_is_said_plainly(database: Database, orgs: TwoOrgs) -> None:
    save(database, orgs.a.id, K12_FLOW)
    with database.session() as session:
        flow = session.scalars(select(BotFlow)).one()
        scripts.set_enabled(session, Actor(orgs.a.id, label="test"), flow.id, False)
        session.commit()
    assert press(database, orgs.a.id, "flow:k12_trial", 1) == [flow_host.FLOW_UNAVAILABLE_TEXT]
    assert state(database).flow_state is None
    # No script at all in the org: the same answer, not the FAQ's fallback.
    assert press(database, orgs.b.id, "flow:k12_trial", 1, visitor="b") == [flow_host.FLOW_UNAVAILABLE_TEXT]
    with database.session() as session:
        assert not session.scalars(select(KbMiss)).all()


def test_a_payload_names_only_the_orgs_own_scripts(database: Database, orgs: TwoOrgs) -> None:
    save(database, orgs.a.id, K12_FLOW)
    assert press(database, orgs.b.id, "flow:k12_trial", 1, visitor="b") == [flow_host.FLOW_UNAVAILABLE_TEXT]
    save(database, orgs.b.id, CALLBACK_FLOW)
    # Still not available; said in other words, since the bot never says a sentence twice in a row (bot.manners).
    again = press(database, orgs.b.id, "flow:k12_trial", 2, visitor="b")
    assert len(again) == 1 and again != [flow_host.FLOW_UNAVAILABLE_TEXT] and "暂时用不了" in again[0]


def test_an_unknown_key_keeps_the_running_script(database: Database, orgs: TwoOrgs) -> None:
    save(database, orgs.a.id, K12_FLOW)
    press(database, orgs.a.id, "flow:k12_trial", 1)
    assert press(database, orgs.a.id, "flow:nope", 2) == [flow_host.FLOW_UNAVAILABLE_TEXT]
    running = state(database).flow_state
    assert running is not None and running["flow_key"] == "k12_trial"
    assert any("哪门课程" in t for t in press(database, orgs.a.id, "", 3, text="三年级"))
