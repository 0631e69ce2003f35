"""A new parent against the demo: the demo knowledge base and K12 script, through the whole inbound path (bot
service, stored messages), on SQLite and PostgreSQL. Five questions off the script in a row get the resume line at
most once; a question let pass twice is not asked again in its words; no sentence comes twice in a row; and the
off-hours script names the opening time from the business calendar (frozen clock)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.bot import manners, scripts
from edudesk.bot import service as bot_service
from edudesk.bot.flows.runner import MOMENT_PREFIX, RESUME_PREFIX
from edudesk.bot.flows.templates import K12_FLOW, OFF_HOURS_FLOW
from edudesk.channels.base import InboundMessage
from edudesk.conversations.models import Message, SenderKind
from edudesk.db import Database
from edudesk.demo.human_service import DEMO_HOURS
from edudesk.demo.kb import DEMO_KB
from edudesk.hours import service as hours_service
from edudesk.inbound import service as inbound_service
from edudesk.kb import categories as kb_categories
from edudesk.kb import service as kb_service
from edudesk.kb.schemas import EntryInput
from tests.conftest import TwoOrgs

GRADE_STEP = next(s for s in K12_FLOW["steps"] if s["id"] == "grade")
GRADE_WORDS = (GRADE_STEP["prompt"], GRADE_STEP["reprompt"])
SUBJECT_QUESTION = next(s for s in K12_FLOW["steps"] if s["id"] == "subject_primary")["question"]
# Questions a parent asks instead of answering, none of them with a buying signal.
OFF_SCRIPT = ("你们的校区在哪里？", "有停车位吗？", "一个班有多少学生？", "老师的资质怎么样？", "孩子上课安全吗？")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def setup(database: Database, org_id: int, flows: tuple[dict[str, object], ...] = (K12_FLOW,),
          hours: bool = False) -> None:
    with database.session() as session:
        actor = Actor(org_id, label="test")
        known = kb_categories.known_paths(session, org_id)
        for path, question, similar, answer in DEMO_KB:
            category_id = kb_categories.ensure_path(session, org_id, path.split("/"), known)
            kb_service.create_entry(session, actor, EntryInput(question=question, similar=list(similar),
                                                               answer=answer, category_id=category_id))
        for flow in flows:
            scripts.save_flow(session, actor, json.dumps(flow, ensure_ascii=False))
        if hours:
            hours_service.save(session, actor, group_id=None, spec=DEMO_HOURS, enabled=True, closed_message="")
        session.commit()


class Parent:
    def __init__(self, database: Database, org_id: int) -> None:
        self.database, self.org_id, self.n = database, org_id, 0
        self.turns: list[list[str]] = []

    def says(self, text: str) -> list[str]:
        self.n += 1
        with self.database.session() as session:
            result = inbound_service.receive(session, InboundMessage(
                org_id=self.org_id, channel="web", external_user_id="new-parent", client_message_id=f"m{self.n}",
                text=text), agents_online=True)
            session.commit()
            said = [m.text for m in result.replies]
        self.turns.append(said)
        return said

    def bot_messages(self) -> list[str]:
        with self.database.session() as session:
            return list(session.scalars(select(Message.text).where(
                Message.org_id == self.org_id, Message.sender == SenderKind.bot).order_by(Message.id)))


def test_a_new_parent_asking_away_is_not_nagged(database: Database, orgs: TwoOrgs) -> None:
    setup(database, orgs.a.id)
    parent = Parent(database, orgs.a.id)
    first = parent.says("你们学费怎么收？")
    assert first[0].startswith("我们按期收费") and first[-1] == GRADE_STEP["prompt"]

    for question in OFF_SCRIPT:
        parent.says(question)
    off_script = parent.turns[1:]
    assert all(len(turn) >= 1 for turn in off_script)  # every question is answered
    lines = [t for turn in off_script for t in turn]
    assert sum(t.startswith(RESUME_PREFIX) for t in lines) <= 1
    assert sum(t.startswith(RESUME_PREFIX) for t in lines) == 1  # and it does come back, once
    # Let pass twice (after the resume line): the grade question is not put again in its own words.
    assert not any(words in t for turn in off_script[2:] for t in turn for words in GRADE_WORDS)

    # A price question is the better moment: the question once more, rephrased.
    moment = parent.says("可以分期付款吗？")
    assert moment[0].startswith("可以。支持微信") and moment[-1].startswith(MOMENT_PREFIX)
    assert moment[-1] not in lines and not any(moment[-1] == t for t in first)
    # Let pass again: dropped for good; the next question waits for a pause.
    dropped = parent.says("可以开发票吗？")
    assert len(dropped) == 1 and dropped[0].startswith("可以开具")
    # The same question twice at once: a pointer to the answer above, not the answer pasted again.
    parent.says("有停车位吗？")
    assert parent.says("有停车位吗？") == [manners.ANSWER_AGAIN]
    # A pause: the script goes on with its next question.
    assert parent.says("好的") == [SUBJECT_QUESTION]
    assert parent.says("数学思维")[-1].startswith("好的～怎么称呼您")

    # No sentence twice in a row, in the stored transcript and between consecutive turns.
    stored = parent.bot_messages()
    assert all(a != b for a, b in itertools.pairwise(stored)), stored
    assert all(not set(a) & set(b) for a, b in itertools.pairwise(parent.turns))
    # The grade question came three times in all, each in other words: asked, resumed once, at the price question.
    asked = [t for turn in parent.turns for t in turn if any(words in t for words in GRADE_WORDS)]
    assert asked == [GRADE_STEP["prompt"], RESUME_PREFIX + GRADE_STEP["reprompt"], moment[-1]]


def test_the_fallback_is_not_said_twice_in_a_row(database: Database, orgs: TwoOrgs) -> None:
    setup(database, orgs.a.id, flows=())
    parent = Parent(database, orgs.a.id)
    first, second = parent.says("阿巴阿巴"), parent.says("呜啦啦啦")
    assert first and second and first != second
    assert first[0] == bot_service.DEFAULT_FALLBACK


@pytest.mark.parametrize(("local", "when"), [
    ("2026-12-08 07:25", "今天上午 8:00"),  # before opening: not "明天一早"
    ("2026-12-08 22:30", "明天上午 8:00"),  # after closing
])
def test_the_off_hours_script_names_the_opening_time(database: Database, orgs: TwoOrgs,
                                                     monkeypatch: pytest.MonkeyPatch, local: str, when: str) -> None:
    now = dt.datetime.fromisoformat(local).replace(tzinfo=SHANGHAI).astimezone(dt.UTC)
    monkeypatch.setattr(bot_service, "utcnow", lambda: now)
    setup(database, orgs.a.id, flows=(OFF_HOURS_FLOW,), hours=True)
    parent = Parent(database, orgs.a.id)
    greeting = parent.says("你好")
    assert any(f"（{when}上班）" in t for t in greeting), greeting
    parent.says("三年级")
    parent.says("王妈妈")
    thanks = parent.says("13800138000")
    assert any(f"老师{when}上班后会联系您" in t for t in thanks), thanks
    assert not any("明天一早" in t or "今晚" in t or "{" in t for turn in parent.turns for t in turn)
