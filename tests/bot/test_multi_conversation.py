"""Several questions in one message through the whole inbound path (stored messages, the lead card, the misses
log, 解决了吗 feedback, a running bot script), with the demo knowledge base, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.bot import scripts
from edudesk.bot.flows.runner import RESUME_PREFIX
from edudesk.bot.flows.templates import K12_FLOW
from edudesk.channels.base import InboundMessage
from edudesk.conversations.models import Message, SenderKind
from edudesk.db import Database
from edudesk.demo.kb import DEMO_KB
from edudesk.inbound import service as inbound_service
from edudesk.kb import categories as kb_categories
from edudesk.kb import service as kb_service
from edudesk.kb.models import AnswerFeedback, KbEntry, KbMiss, MissReason
from edudesk.kb.schemas import EntryInput
from edudesk.leads import service as leads_service
from tests.conftest import TwoOrgs

GRADE_PROMPT = next(s for s in K12_FLOW["steps"] if s["id"] == "grade")["prompt"]
SUBJECT_QUESTION = next(s for s in K12_FLOW["steps"] if s["id"] == "subject_primary")["question"]


def setup(database: Database, org_id: int, flows: tuple[dict[str, object], ...] = ()) -> dict[str, int]:
    """The demo knowledge base (and scripts) for ``org_id``; the entry ids by standard question."""
    with database.session() as session:
        actor = Actor(org_id, label="test")
        known = kb_categories.known_paths(session, org_id)
        ids = {}
        for path, question, similar, answer in DEMO_KB:
            category_id = kb_categories.ensure_path(session, org_id, path.split("/"), known)
            ids[question] = kb_service.create_entry(session, actor, EntryInput(
                question=question, similar=list(similar), answer=answer, category_id=category_id)).id
        for flow in flows:
            scripts.save_flow(session, actor, json.dumps(flow, ensure_ascii=False))
        session.commit()
    return ids


class Parent:
    def __init__(self, database: Database, org_id: int) -> None:
        self.database, self.org_id, self.n = database, org_id, 0
        self.contact_id = 0

    def says(self, text: str) -> list[Message]:
        self.n += 1
        with self.database.session() as session:
            result = inbound_service.receive(session, InboundMessage(
                org_id=self.org_id, channel="web", external_user_id="parent", client_message_id=f"m{self.n}",
                text=text), agents_online=True)
            session.commit()
            self.contact_id = result.conversation.contact_id
            for reply in result.replies:
                session.expunge(reply)
            return list(result.replies)

    def votes(self, message: Message, helpful: bool) -> None:
        with self.database.session() as session:
            inbound_service.feedback(session, self.org_id, self.contact_id, message.id, helpful)
            session.commit()


def _misses(database: Database, org_id: int) -> list[tuple[str, str, int | None]]:
    with database.session() as session:
        rows = session.scalars(select(KbMiss).where(KbMiss.org_id == org_id).order_by(KbMiss.id))
        return [(m.query, m.reason.value, m.entry_id) for m in rows]


def test_two_questions_one_reply_counted_logged_and_voted(database: Database, orgs: TwoOrgs) -> None:
    ids = setup(database, orgs.a.id)
    campus, parking, price = ids["你们的校区在哪里？"], ids["有停车位吗？"], ids["各个课程的学费是多少？"]
    parent = Parent(database, orgs.a.id)

    (reply,) = parent.says("校区在哪里，停车方便吗")
    assert reply.sender == SenderKind.bot
    assert reply.text.startswith("【你们的校区在哪里？】\n我们有两个校区")
    assert "\n\n【有停车位吗？】\n两个校区所在的商场" in reply.text
    assert reply.extra["kb_entry_id"] == campus and reply.extra["feedback"] is True
    assert [a["kb_entry_id"] for a in reply.extra["answers"]] == [campus, parking]
    with database.session() as session:
        counts = dict(session.execute(select(KbEntry.id, KbEntry.ask_count).where(KbEntry.org_id == orgs.a.id)).all())
    assert counts[campus] == counts[parking] == 1 and counts[price] == 0
    assert _misses(database, orgs.a.id) == []

    # A 👎 on a reply of several answers: one vote (stored on its first entry), a miss per answer with its part.
    parent.votes(reply, helpful=False)
    assert _misses(database, orgs.a.id) == [("校区在哪里", "downvoted", campus), ("停车方便吗", "downvoted", parking)]
    parent.votes(reply, helpful=False)  # the same vote again changes nothing
    assert len(_misses(database, orgs.a.id)) == 2
    parent.votes(reply, helpful=True)  # taken back: the misses go
    assert _misses(database, orgs.a.id) == []
    with database.session() as session:
        (vote,) = session.scalars(select(AnswerFeedback).where(AnswerFeedback.org_id == orgs.a.id))
        assert vote.entry_id == campus and vote.helpful is True

    # The unanswered part is logged as a miss in its own words; the answered one is not.
    (reply,) = parent.says("你们食堂伙食怎么样，学费多少")
    assert reply.text.endswith("“你们食堂伙食怎么样”我暂时答不上来，可以点“转人工”问问老师～")
    assert reply.extra["buttons"] == [{"label": "转人工", "payload": "转人工"}]
    assert _misses(database, orgs.a.id) == [("你们食堂伙食怎么样", MissReason.unanswered.value, None)]
    assert _misses(database, orgs.b.id) == []


def test_contact_details_in_a_message_of_questions_fill_the_card(database: Database, orgs: TwoOrgs) -> None:
    setup(database, orgs.a.id)
    parent = Parent(database, orgs.a.id)
    (reply,) = parent.says("我电话 138 0013 8000，学费多少？停车方便吗？")
    assert "【各个课程的学费是多少？】" in reply.text and "【有停车位吗？】" in reply.text
    with database.session() as session:
        assert leads_service.known_values(session, orgs.a.id, parent.contact_id)["phone"] == "13800138000"


def test_a_script_answers_first_then_asks_and_comes_back_once(database: Database, orgs: TwoOrgs) -> None:
    setup(database, orgs.a.id, flows=(K12_FLOW,))
    parent = Parent(database, orgs.a.id)
    # Starts the K12 script (学费): both answers first, then the script's greeting and first question.
    first = [m.text for m in parent.says("学费多少，停车方便吗")]
    assert first[0].startswith("【各个课程的学费是多少？】") and "【有停车位吗？】" in first[0]
    assert first[-1] == GRADE_PROMPT
    # Answers the script and asks two things: the grade is taken, both answered, the script goes on.
    second = [m.text for m in parent.says("三年级，校区在哪里，有优惠吗")]
    assert second[0].startswith("【你们的校区在哪里？】") and "【有没有优惠活动？】" in second[0]
    assert second[-1] == SUBJECT_QUESTION
    with database.session() as session:
        assert leads_service.known_values(session, orgs.a.id, parent.contact_id)["grade"] == "三年级"
        counts = dict(session.execute(select(KbEntry.question, KbEntry.ask_count)
                                      .where(KbEntry.org_id == orgs.a.id)).all())
    assert counts["你们的校区在哪里？"] == counts["有没有优惠活动？"] == counts["有停车位吗？"] == 1
    # Two questions instead of an answer: both answered, and the script comes back to its question once.
    third = [m.text for m in parent.says("老师怎么样？一个班多少人？")]
    assert third[0].startswith("【老师的资质怎么样？】") and "【一个班有多少学生？】" in third[0]
    assert third[-1].startswith(RESUME_PREFIX) and len(third) == 2
