"""Staff marking a bot answer wrong from the console: a flagged miss with the visitor's question, once per answer,
for any staff role of the org only; the editor's resolution then labels it for the quality report."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.channels.base import InboundMessage
from edudesk.conversations.models import Message
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from edudesk.kb import flags, misses, quality
from edudesk.kb.models import KbMiss, MissReason
from tests.conftest import TwoOrgs, login
from tests.kb.conftest import SchoolKb, actor

PRICE = "一对一辅导怎么收费？"


def bot_answer(database: Database, org_id: int, text: str) -> tuple[int, int]:
    """A visitor asks on the web widget; returns (conversation id, the bot's answer message id)."""
    with database.session() as session:
        inbound_service.receive(session, InboundMessage(org_id, "web", "visitor-1", f"c-{text}", text=text),
                                agents_online=False)
        session.commit()
        answers = [m for m in session.scalars(select(Message).where(Message.org_id == org_id).order_by(Message.id))
                   if (m.extra or {}).get("kind") == "answer"]
        assert answers, "the bot did not answer"
        return answers[-1].conversation_id, answers[-1].id


def test_flag_from_the_console(client: TestClient, database: Database, orgs: TwoOrgs, school: SchoolKb) -> None:
    conv_id, answer_id = bot_answer(database, orgs.a.id, "一对一多少钱")
    csrf = login(client, "alpha", "agent")
    chat = client.get(f"/console/c/{conv_id}", headers={"hx-request": "true"}).text
    assert f'hx-post="/console/messages/{answer_id}/wrong-answer"' in chat  # the button sits on the answer
    assert len(re.findall(r"/wrong-answer", chat)) == 1  # ... and only there (not on the visitor's message)

    url = f"/console/messages/{answer_id}/wrong-answer"
    assert client.post(url, data={}).status_code == 400  # CSRF
    first = client.post(url, data={"csrf_token": csrf})
    assert first.status_code == 200 and "已标记答错" in first.text
    assert "已经标记过了" in client.post(url, data={"csrf_token": csrf}).text
    with database.session() as session:
        [miss] = session.scalars(select(KbMiss).where(KbMiss.org_id == orgs.a.id)).all()
        assert (miss.query, miss.reason, miss.entry_id, miss.message_id) == (
            "一对一多少钱", MissReason.flagged, school.entries[PRICE], answer_id)
    # Not a bot answer (the visitor's own message): refused beside nothing stored.
    with database.session() as session:
        visitor_msg = session.scalars(select(Message.id).where(Message.org_id == orgs.a.id,
                                                               Message.sender == "visitor")).first()
    refused = client.post(f"/console/messages/{visitor_msg}/wrong-answer", data={"csrf_token": csrf})
    assert refused.status_code == 422 and "只能标记机器人" in refused.text

    # The misses page shows it as flagged and does not propose the wrong entry as where it belongs.
    client.cookies.clear()
    login(client, "alpha", "supervisor")
    page = client.get("/admin/kb/misses").text
    assert "客服标记答错" in page and 'name="entry_id" list="kb-entry-choices" value=""' in page


def test_the_resolution_labels_the_flagged_question(database: Database, orgs: TwoOrgs, school: SchoolKb) -> None:
    _, answer_id = bot_answer(database, orgs.a.id, "一对一一节课多少钱")
    with database.session() as session:
        assert flags.flag_wrong_answer(session, actor(orgs.a.id), answer_id) is True
        [miss] = session.scalars(select(KbMiss).where(KbMiss.org_id == orgs.a.id)).all()
        trial = school.entries["可以免费试听吗？"]
        misses.resolve_misses_as_similar(session, actor(orgs.a.id), [miss.id], trial)  # the editor's call
        session.commit()
        assert [(text, label) for _, text, label in quality.labelled_misses(session, orgs.a.id)] == [
            ("一对一一节课多少钱", trial)]


def test_other_orgs_cannot_flag(client: TestClient, database: Database, orgs: TwoOrgs, school: SchoolKb) -> None:
    _, answer_id = bot_answer(database, orgs.a.id, "一对一多少钱")
    csrf = login(client, "beta", "admin")
    resp = client.post(f"/console/messages/{answer_id}/wrong-answer", data={"csrf_token": csrf})
    assert resp.status_code == 404
    with database.session() as session:
        assert session.scalars(select(KbMiss)).all() == []
