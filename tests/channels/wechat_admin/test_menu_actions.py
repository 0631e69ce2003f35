"""A click on a published menu button becomes a message the bot understands: a script starts, an FAQ entry is
answered, a human is asked for, a fixed text is replied — through the same orchestrator as every message."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.bot import scripts
from edudesk.bot import service as bot_service
from edudesk.bot.flows.templates import K12_FLOW
from edudesk.channels.base import InboundMessage
from edudesk.channels.wechat import menu_actions, menu_editor
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from edudesk.inboxes import service as inboxes_service
from edudesk.kb import service as kb_service
from edudesk.kb.models import KbMiss
from edudesk.kb.schemas import EntryInput
from tests.channels.wechat_admin.conftest import make_inbox
from tests.conftest import TwoOrgs

BUTTONS: list[dict[str, Any]] = [
    {"key": "m1", "name": "预约试听", "kind": "flow", "flow": "k12_trial"},
    {"key": "m2", "name": "常见问题", "kind": "sub", "sub": [
        {"key": "m2_1", "name": "上课地址", "kind": "faq", "entry_id": 0, "question": "上课地址在哪里？"},
        {"key": "m2_2", "name": "联系老师", "kind": "human"},
        {"key": "m2_3", "name": "优惠活动", "kind": "text", "text": "本月报名立减 300 元"}]},
    {"key": "m3", "name": "官网", "kind": "view", "url": "https://www.example.edu/"},
]


def published(buttons: list[dict[str, Any]]) -> dict[str, Any]:
    return {menu_editor.STATE_KEY: {"draft": buttons, "published": buttons},
            menu_editor.REPLIES_KEY: menu_editor.replies_of(buttons)}


def test_each_action_has_its_payload() -> None:
    state = published(BUTTONS)
    assert menu_actions.payload_for_key(state, "m1") == "flow:k12_trial"
    assert menu_actions.payload_for_key(state, "m2_1") == "上课地址在哪里？"
    assert menu_actions.payload_for_key(state, "m2_2") == "转人工"
    assert menu_actions.payload_for_key(state, "m2_3") == "inboxtext:m2_3"
    assert state[menu_editor.REPLIES_KEY] == {"m2_3": "本月报名立减 300 元"}
    # A link, a sub-menu's own key, a key of no button: nothing to do.
    for key in ("m3", "m2", "m9", ""):
        assert menu_actions.payload_for_key(state, key) is None
    assert menu_actions.label_for_key(state, "m2_2") == "联系老师"
    # Only the published menu counts: a draft's new button does nothing until it is published.
    draft_only = {menu_editor.STATE_KEY: {"draft": BUTTONS, "published": BUTTONS[:1]}}
    assert menu_actions.payload_for_key(draft_only, "m2_2") is None
    assert menu_actions.payload_for_key({}, "m1") is None and menu_actions.payload_for_key(None, "m1") is None


@pytest.fixture
def setup(database: Database, app: FastAPI, orgs: TwoOrgs) -> tuple[int, int]:
    """Org A's script and FAQ entry, and a WeChat inbox whose published menu uses them: (inbox id, entry id)."""
    inbox_id = make_inbox(database, app, orgs.a.id)
    with database.session() as session:
        actor = Actor(orgs.a.id, label="test")
        scripts.save_flow(session, actor, json.dumps(K12_FLOW, ensure_ascii=False))
        entry = kb_service.create_entry(session, actor, EntryInput(
            question="上课地址在哪里？", answer="西湖区文三路 100 号", similar=["你们在哪", "校区地址"]))
        buttons = json.loads(json.dumps(BUTTONS))
        buttons[1]["sub"][0]["entry_id"] = entry.id
        inbox = inboxes_service.get(session, orgs.a.id, inbox_id)
        inboxes_service.set_state(session, inbox, **published(buttons))
        session.commit()
        return inbox_id, entry.id


def click(database: Database, org_id: int, inbox_id: int, key: str, n: int, openid: str = "o-parent") -> list[str]:
    """What the adapter's CLICK handler does: resolve the key, then hand the click to the orchestrator."""
    with database.session() as session:
        resolved = menu_actions.resolve_menu_click(session, inbox_id, key)
        assert resolved is not None
        result = inbound_service.receive(session, InboundMessage(
            org_id, "wechat", openid, f"click-{n}", text=resolved.label, payload=resolved.payload, inbox_id=inbox_id,
            capabilities=frozenset()), agents_online=False)
        session.commit()
        return [m.text for m in result.replies]


def test_a_button_starts_the_script(database: Database, orgs: TwoOrgs, setup: tuple[int, int]) -> None:
    replies = click(database, orgs.a.id, setup[0], "m1", 1)
    assert replies and "课程顾问小安" in replies[0]
    with database.session() as session:
        assert not session.scalars(select(KbMiss)).all()


def test_a_button_answers_the_faq_entry_as_worded_today(database: Database, orgs: TwoOrgs,
                                                        setup: tuple[int, int]) -> None:
    inbox_id, entry_id = setup
    assert click(database, orgs.a.id, inbox_id, "m2_1", 1)[0].startswith("西湖区文三路 100 号")
    with database.session() as session:
        entry = kb_service.get_entry(session, orgs.a.id, entry_id)
        data = kb_service.entry_input(session, entry)
        kb_service.update_entry(session, Actor(orgs.a.id, label="test"), entry_id,
                                dataclasses.replace(data, question="校区地址在哪？", similar=["你们在哪"]))
        session.commit()
        assert menu_actions.resolve_menu_payload(session, inbox_id, "m2_1") == "校区地址在哪？"


def test_a_button_asks_for_a_human(database: Database, orgs: TwoOrgs, setup: tuple[int, int]) -> None:
    click(database, orgs.a.id, setup[0], "m2_2", 1)
    with database.session() as session:
        conv = session.scalars(select(Conversation)).one()
        assert conv.state != ConversationState.bot
        assert conv.inbox_id == setup[0]


def test_a_button_replies_its_fixed_text(database: Database, orgs: TwoOrgs, setup: tuple[int, int]) -> None:
    assert click(database, orgs.a.id, setup[0], "m2_3", 1) == ["本月报名立减 300 元"]
    assert click(database, orgs.a.id, setup[0], "m2_3", 2) == ["本月报名立减 300 元"]


def test_an_unknown_fixed_text_key_falls_back_to_the_bot(database: Database, orgs: TwoOrgs,
                                                         setup: tuple[int, int]) -> None:
    """A payload naming no fixed text (another account's key, a key taken down) is not answered as text."""
    with database.session() as session:
        result = inbound_service.receive(session, InboundMessage(
            orgs.a.id, "wechat", "o-x", "x1", text="优惠活动", payload="inboxtext:nope", inbox_id=setup[0]),
            agents_online=False)
        session.commit()
        assert [m.text for m in result.replies] != ["本月报名立减 300 元"] and result.replies
        # The bot read the words, not the dead payload (a miss is logged as the visitor's words).
        assert all("inboxtext" not in m.query for m in session.scalars(select(KbMiss)))
        assert any(m.query == "优惠活动" for m in session.scalars(select(KbMiss)))
        # The widget has no inbox: the prefix means nothing there.
        web = inbound_service.receive(session, InboundMessage(
            orgs.a.id, "web", "v-1", "w1", text="优惠活动", payload="inboxtext:m2_3"), agents_online=False)
        assert [m.text for m in web.replies] != ["本月报名立减 300 元"]


def test_another_orgs_inbox_state_is_not_read(database: Database, app: FastAPI, orgs: TwoOrgs,
                                               setup: tuple[int, int]) -> None:
    """A message of org B naming org A's inbox (a broken adapter) cannot read A's fixed texts."""
    with database.session() as session, pytest.raises(LookupError):
        inbound_service.receive(session, InboundMessage(
            orgs.b.id, "wechat", "o-b", "b1", text="优惠活动", payload="inboxtext:m2_3", inbox_id=setup[0]),
            agents_online=False)


def test_keys_of_a_missing_inbox_resolve_to_nothing(database: Database, setup: tuple[int, int]) -> None:
    with database.session() as session:
        assert menu_actions.resolve_menu_click(session, setup[0] + 1000, "m1") is None
        assert menu_actions.resolve_menu_click(session, setup[0], "m3") is None


def test_runtime_bots_answer_clicks_too(database: Database, orgs: TwoOrgs, setup: tuple[int, int]) -> None:
    """The adapter passes the app's bot runtime; a click is answered the same way."""
    bots = bot_service.make_runtime(database)
    with database.session() as session:
        resolved = menu_actions.resolve_menu_click(session, setup[0], "m1")
        assert resolved is not None
        result = inbound_service.receive(session, InboundMessage(
            orgs.a.id, "wechat", "o-rt", "rt1", text=resolved.label, payload=resolved.payload, inbox_id=setup[0]),
            agents_online=False, bots=bots)
        assert "课程顾问小安" in result.replies[0].text
