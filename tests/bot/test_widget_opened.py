"""A greeting script on opening the chat window: once, only before the visitor writes, only when the org has one."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from edudesk.audit.service import Actor
from edudesk.bot import scripts
from edudesk.bot import service as bot_service
from edudesk.channels.base import InboundMessage
from edudesk.contacts import service as contacts_service
from edudesk.conversations.models import Conversation, Message, SenderKind
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from tests.conftest import TwoOrgs

GREETING = {
    "schema_version": 1, "key": "welcome_script", "name": "打开窗口问候", "version": 1,
    "triggers": [{"kind": "widget_opened"}],
    "steps": [
        {"kind": "say", "id": "hi", "text": "您好～孩子今年几年级啦？我帮您推荐合适的课程。"},
        {"kind": "ask_field", "id": "grade", "field": "grade", "prompt": "请告诉我孩子的年级～"},
        {"kind": "end", "id": "bye", "text": "好的，已为您记下～"},
    ],
}


def opened(database: Database, org_id: int, visitor: str = "v1") -> list[str]:
    with database.session() as session:
        bots = bot_service.make_runtime(database)
        contact = contacts_service.find_or_create(session, org_id, "web", visitor)
        posted = inbound_service.widget_opened(session, org_id, contact, "web", bots=bots)
        session.commit()
        return [m.text for m in posted]


def conversations(database: Database, org_id: int) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(Conversation).where(
            Conversation.org_id == org_id)) or 0)


def test_no_greeting_script_costs_no_conversation(database: Database, orgs: TwoOrgs) -> None:
    assert opened(database, orgs.a.id) == []
    assert conversations(database, orgs.a.id) == 0


def test_greeting_runs_once_and_then_the_script_goes_on(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        scripts.save_flow(session, Actor(orgs.a.id, label="t"), json.dumps(GREETING, ensure_ascii=False))
        session.commit()
    texts = opened(database, orgs.a.id)
    assert texts and "几年级" in texts[0]
    assert opened(database, orgs.a.id) == []  # opening again while the script waits: nothing twice
    with database.session() as session:
        result = inbound_service.receive(session, InboundMessage(orgs.a.id, "web", "v1", "m1", text="三年级"),
                                         agents_online=True, bots=bot_service.make_runtime(database))
        session.commit()
        assert [m.text for m in result.replies][-1] == "好的，已为您记下～"
        bot_texts = session.scalars(select(Message.text).where(Message.conversation_id == result.conversation.id,
                                                               Message.sender == SenderKind.bot)).all()
    assert sum("几年级" in t for t in bot_texts) == 1
    assert opened(database, orgs.a.id) == []  # the visitor has written: message triggers take it from here
    assert opened(database, orgs.b.id) == []  # another org's script never runs here
