"""The FAQ bot through the widget: hot questions and 猜你所想, answers with related questions, did-you-mean,
解决了吗 👍/👎, misses logged for the knowledge base, and admin edits reaching the bot at once."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.testclient import WebSocketTestSession

from edudesk.audit.service import Actor
from edudesk.bot import runtime as runtime_mod
from edudesk.bot import service as bot_service
from edudesk.conversations.models import Message
from edudesk.db import Database
from edudesk.kb import service as kb_service
from edudesk.kb.models import AnswerFeedback, KbEntry, KbMiss
from edudesk.kb.schemas import EntryInput
from tests.channels.test_web_routes import new_visitor, recv_until
from tests.conftest import TwoOrgs

ENTRIES = (
    ("一年级数学一期多少钱？", ["数学课学费多少", "数学班怎么收费", "小学数学价格"],
     "一年级数学每期 3600 元，共 16 课时。"),
    ("可以免费试听吗？", ["有试听课吗", "怎么预约试听", "能先体验一节课吗"],
     "每位新学员可以免费试听一次，详见 https://school.example/trial"),
    ("报名后可以退费吗？", ["能退钱吗", "退费政策是什么", "不想上了怎么退"], "开课 2 课时内可全额退费。"),
    ("校区在哪里？", ["地址在哪", "你们的校区地址", "离地铁近吗"], "西湖区文三路 88 号。"),
)


def seed(database: Database, org_id: int, *, pinned: str | None = None) -> dict[str, int]:
    ids = {}
    with database.session() as session:
        actor = Actor(org_id, label="test")
        for question, similar, answer in ENTRIES:
            entry = kb_service.create_entry(session, actor, EntryInput(
                question=question, similar=list(similar), answer=answer, hot_pinned=question == pinned,
                images=["/static/demo/price.png"] if "数学" in question else []))
            ids[question] = entry.id
        session.flush()
        trial, refund = ids["可以免费试听吗？"], ids["报名后可以退费吗？"]
        math = session.get(KbEntry, ids["一年级数学一期多少钱？"])
        assert math is not None
        math.related_ids = [trial, refund]
        session.commit()
    return ids


def frames_until_bot(ws: WebSocketTestSession, limit: int = 12) -> list[dict[str, Any]]:
    """Reads frames until a bot message that is not the welcome arrives."""
    out = []
    for _ in range(limit):
        frame = ws.receive_json()
        out.append(frame)
        msg = frame.get("message") or {}
        if frame["type"] == "message" and msg.get("sender") == "bot" and msg.get("kind"):
            return out
    raise AssertionError(f"no bot reply in {out}")


def ask(ws: WebSocketTestSession, client_id: str, text: str) -> dict[str, Any]:
    ws.send_json({"type": "message", "client_id": client_id, "text": text})
    return dict(frames_until_bot(ws)[-1]["message"])


def test_session_offers_hot_questions_and_guesses_from_the_page(client: TestClient, database: Database,
                                                                 orgs: TwoOrgs) -> None:
    seed(database, orgs.a.id, pinned="校区在哪里？")
    info = new_visitor(client, orgs.a.public_key, page_title="免费试听课预约 - 启明星教育")
    assert info["hot"][0] == "校区在哪里？"
    assert "可以免费试听吗？" in info["guess"]
    assert "校区在哪里？" not in info["guess"]  # already among the hot questions
    other = new_visitor(client, orgs.b.public_key, page_title="免费试听课预约")
    assert other["hot"] == [] and other["guess"] == []  # org b has no knowledge base


def test_answer_related_buttons_feedback_and_a_downvote(client: TestClient, database: Database,
                                                       orgs: TwoOrgs) -> None:
    ids = seed(database, orgs.a.id)
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        ws.receive_json()
        answer = ask(ws, "c1", "一年级的数学课学费多少")
        assert answer["kind"] == "answer" and answer["text"].startswith("一年级数学每期 3600 元")
        assert answer["feedback"] is True and answer["images"] == ["/static/demo/price.png"]
        assert [b["label"] for b in answer["buttons"]] == ["可以免费试听吗？", "报名后可以退费吗？"]
        clicked = ask(ws, "c2", answer["buttons"][0]["payload"])
        assert clicked["kind"] == "answer" and clicked["text"].startswith("每位新学员可以免费试听一次")

        ws.send_json({"type": "feedback", "message_id": answer["id"], "helpful": False})
        frames = frames_until_bot(ws)
        updated = next(f for f in frames if f["type"] == "message_updated")
        assert updated["message"]["helpful"] is False
        sorry = frames[-1]["message"]
        assert sorry["kind"] == "sorry" and [b["label"] for b in sorry["buttons"]] == ["转人工", "留下联系方式"]
        ws.send_json({"type": "feedback", "message_id": answer["id"], "helpful": True})  # changes the vote
        assert recv_until(ws, "message_updated")["message"]["helpful"] is True
    with database.session() as session:
        vote = session.scalars(select(AnswerFeedback)).one()
        assert vote.helpful is True and vote.entry_id == ids["一年级数学一期多少钱？"]
        entry = session.get(KbEntry, ids["一年级数学一期多少钱？"])
        assert entry is not None and entry.ask_count == 1


@pytest.mark.parametrize("frame", [
    {"type": "feedback", "message_id": "1", "helpful": True},
    {"type": "feedback", "message_id": 1, "helpful": "yes"},
    {"type": "feedback", "message_id": True, "helpful": True},
    {"type": "feedback"},
])
def test_malformed_feedback_is_refused(client: TestClient, orgs: TwoOrgs, frame: dict[str, Any]) -> None:
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        ws.receive_json()
        ws.send_json(frame)
        assert ws.receive_json()["code"] == "bad_frame"


def test_feedback_on_someone_elses_or_a_non_answer_message(client: TestClient, database: Database,
                                                          orgs: TwoOrgs) -> None:
    seed(database, orgs.a.id)
    first = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect(f"/ws/visitor?token={first['token']}") as ws:
        ws.receive_json()
        answer = ask(ws, "c1", "一年级数学一期多少钱")
        fallback = ask(ws, "c2", "食堂伙食怎么样")
        assert fallback["kind"] == "fallback"
        ws.send_json({"type": "feedback", "message_id": fallback["id"], "helpful": False})
        assert recv_until(ws, "error")["code"] == "not_votable"
    second = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect(f"/ws/visitor?token={second['token']}") as ws:
        ws.receive_json()
        ws.send_json({"type": "feedback", "message_id": answer["id"], "helpful": False})
        assert recv_until(ws, "error")["code"] == "not_found"
    with database.session() as session:
        assert session.scalars(select(AnswerFeedback)).first() is None
        stored = session.get(Message, answer["id"])
        assert stored is not None and "helpful" not in stored.extra


def test_misses_are_logged_and_did_you_mean_offers_questions(client: TestClient, database: Database,
                                                            orgs: TwoOrgs) -> None:
    seed(database, orgs.a.id)
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        ws.receive_json()
        reply = ask(ws, "c1", "你们的食堂伙食怎么样")
        assert reply["kind"] == "fallback"
    with database.session() as session:
        misses = session.scalars(select(KbMiss)).all()
        assert [(m.query, m.reason.value) for m in misses] == [("你们的食堂伙食怎么样", "unanswered")]
        assert misses[0].org_id == orgs.a.id


WINTER = EntryInput(question="寒假班什么时候开课？", similar=["寒假班几号开始", "寒假有课吗"],
                    answer="寒假班 1 月 20 日开课。")


@pytest.fixture
def synchronous_rebuilds(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about how an edit reaches the bot, not about build times: on a slow or busy machine the first
    build (embeddings included) can pass the limit above which rebuilds move to the background
    (tests/bot/test_runtime.py covers that path), and the next turn would still be answered by the old bot."""
    monkeypatch.setattr(runtime_mod, "SYNC_BUILD_LIMIT", float("inf"))


@pytest.mark.usefixtures("synchronous_rebuilds")
def test_an_edit_reaches_the_bot_at_once_through_the_event(client: TestClient, database: Database,
                                                          orgs: TwoOrgs) -> None:
    seed(database, orgs.a.id)
    app_db = client.app.state.ctx.db  # type: ignore[attr-defined]  # the app's sessions publish to its bus
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        ws.receive_json()
        assert ask(ws, "c1", "寒假班几号开课")["kind"] != "answer"
        with app_db.session() as session:
            kb_service.create_entry(session, Actor(orgs.a.id, label="test"), WINTER)
            session.commit()
        reply = ask(ws, "c2", "寒假班几号开课")
        assert reply["kind"] == "answer" and reply["text"] == "寒假班 1 月 20 日开课。"


@pytest.mark.usefixtures("synchronous_rebuilds")
def test_an_edit_made_by_another_process_is_noticed_from_the_version(client: TestClient, database: Database,
                                                                     orgs: TwoOrgs) -> None:
    """``database`` is another engine with no bus: like ``edudesk kb import`` run beside the server."""
    seed(database, orgs.a.id)
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    ctx.bots = bot_service.make_runtime(ctx.db, poll_seconds=0)
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        ws.receive_json()
        assert ask(ws, "c1", "寒假班几号开课")["kind"] != "answer"
        with database.session() as session:
            kb_service.create_entry(session, Actor(orgs.a.id, label="test"), WINTER)
            session.commit()
        assert ask(ws, "c2", "寒假班几号开课")["kind"] == "answer"


def test_abuse_is_masked_before_it_is_stored(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        ws.receive_json()
        reply = ask(ws, "c1", "你们是傻逼吗")
        assert reply["kind"] == "abuse"
    with database.session() as session:
        texts = session.scalars(select(Message.text).where(Message.client_id == "c1")).all()
        assert texts == ["你们是**吗"]


def test_a_button_click_stores_its_label_and_the_bot_acts_on_its_payload(client: TestClient, database: Database,
                                                                       orgs: TwoOrgs) -> None:
    seed(database, orgs.a.id)
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        ws.receive_json()
        ws.send_json({"type": "message", "client_id": "c1", "text": "预约免费试听", "payload": "可以免费试听吗？"})
        reply = frames_until_bot(ws)[-1]["message"]
        assert reply["kind"] == "answer" and reply["text"].startswith("每位新学员可以免费试听一次")
        for bad in (5, "", "x" * 201):
            ws.send_json({"type": "message", "client_id": f"bad{bad!s:.3}", "text": "x", "payload": bad})
            assert recv_until(ws, "error")["code"] == "bad_frame"
    with database.session() as session:
        assert session.scalars(select(Message.text).where(Message.client_id == "c1")).all() == ["预约免费试听"]
