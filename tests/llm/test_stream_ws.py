"""A grounded answer streamed over the real visitor socket: the checked sentences arrive as ``bot_stream``
frames, then the stored reply (kind "llm", naming the stream); a stopped answer is withdrawn and the fallback is
what stays. Both databases."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from tests.channels.test_web_routes import new_visitor
from tests.conftest import TwoOrgs
from tests.llm.conftest import answering
from tests.llm.fake_openai import FakeOpenAI, Reply


def frames_until_reply(ws: WebSocketTestSession, limit: int = 30) -> list[dict[str, Any]]:
    """Frames up to the bot's stored reply."""
    seen = []
    for _ in range(limit):
        frame = ws.receive_json()
        seen.append(frame)
        if frame["type"] == "message" and frame["message"].get("kind") in ("llm", "fallback"):
            return seen
    raise AssertionError(f"no bot reply in {seen}")


def test_a_streamed_answer(client: TestClient, orgs: TwoOrgs, grounded_org: int, fake_openai: FakeOpenAI) -> None:
    fake_openai.respond_with(
        lambda r: Reply(answering("春季班每学期 3600 元。[{n}]共 16 次课。[{n}]")(r).text, chunk_chars=2)
    )
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        assert ws.receive_json()["type"] == "hello"
        ws.send_json({"type": "message", "client_id": "q1", "text": "春季班学费多少钱？"})
        seen = frames_until_reply(ws)
    streamed = [f for f in seen if f["type"] == "bot_stream"]
    assert [f["text"] for f in streamed if "text" in f] == ["春季班每学期 3600 元。", "共 16 次课。"]
    assert streamed[-1]["done"] is True and streamed[-1]["dropped"] is False
    assert {f["client_id"] for f in streamed} == {"q1"}
    reply = seen[-1]["message"]
    assert reply["kind"] == "llm" and reply["stream_id"] == streamed[0]["stream_id"]
    assert "3600 元" in reply["text"] and reply["sources"][0]["title"] == "简章"


def test_a_stopped_stream_is_withdrawn(
    client: TestClient, orgs: TwoOrgs, grounded_org: int, fake_openai: FakeOpenAI
) -> None:
    fake_openai.respond_with(
        lambda r: Reply(answering("春季班每学期 3600 元。[{n}]老师保证提分！[{n}]")(r).text, chunk_chars=2)
    )
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        assert ws.receive_json()["type"] == "hello"
        ws.send_json({"type": "message", "client_id": "q1", "text": "春季班学费多少钱？"})
        seen = frames_until_reply(ws)
    streamed = [f for f in seen if f["type"] == "bot_stream"]
    assert streamed[-1]["dropped"] is True
    assert "保证提分" not in str(seen)
    assert seen[-1]["message"]["kind"] == "fallback"
