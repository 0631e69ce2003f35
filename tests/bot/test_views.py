"""The bot admin page: the FAQ settings (sensitive words, thresholds) and what a saved change does to the bot."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from edudesk.bot import service as bot_service
from edudesk.db import Database
from tests.conftest import TwoOrgs, login

BASE = {"welcome_text": "您好！", "fallback_text": "抱歉，我还没学会。", "handoff_keywords": "转人工",
        "max_misses": "3"}


def save(client: TestClient, token: str, **fields: Any) -> Any:
    return client.post("/admin/bot/settings", data={**BASE, "csrf_token": token, **fields})


def test_sensitive_words_and_thresholds_are_saved_and_shown(client: TestClient, database: Database,
                                                           orgs: TwoOrgs) -> None:
    token = login(client, "alpha", "supervisor")
    page = client.get("/admin/bot").text
    assert 'id="matcher-status"' in page and "语义模型" in page
    resp = save(client, token, sensitive_words="竞品甲\n竞品乙，竞品丙", answer_threshold="0.7",
                suggest_threshold="0.4")
    assert resp.status_code == 200 and "机器人设置已保存" in resp.text
    with database.session() as session:
        settings = bot_service.get_settings(session, orgs.a.id)
        assert settings.sensitive_words == ["竞品甲", "竞品乙", "竞品丙"]
        assert (settings.answer_threshold, settings.suggest_threshold) == (0.7, 0.4)
        other = bot_service.get_settings(session, orgs.b.id)
        assert other.sensitive_words == [] and other.answer_threshold is None
        session.commit()
    resp = save(client, token, answer_threshold="", suggest_threshold="")  # back to the calibrated defaults
    assert resp.status_code == 200
    with database.session() as session:
        assert bot_service.get_settings(session, orgs.a.id).answer_threshold is None


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"answer_threshold": "abc"}, "answer_threshold", "请输入 0 到 1 之间的小数"),
    ({"answer_threshold": "1.5"}, "answer_threshold", "阈值须在 0 和 1 之间"),
    ({"suggest_threshold": "nan"}, "suggest_threshold", "阈值须在 0 和 1 之间"),
    ({"answer_threshold": "0.5", "suggest_threshold": "0.6"}, "suggest_threshold", "须低于直接回答阈值"),
    ({"sensitive_words": "\n".join(f"词{i}" for i in range(501))}, "sensitive_words", "敏感词最多 500 个"),
])
def test_bad_settings_are_refused_beside_the_field(client: TestClient, database: Database, orgs: TwoOrgs,
                                                  fields: dict[str, str], field: str, message: str) -> None:
    token = login(client, "alpha", "admin")
    resp = save(client, token, **fields)
    assert resp.status_code == 422
    html = resp.text
    start = html.index(f'name="{field}"')
    end = html.index("</textarea>", start) if field == "sensitive_words" else html.index(">", start)
    error = html.index('<p class="field-error">', end)
    assert error - end < 120 and message in html[error:error + 200]  # right after its own field
    with database.session() as session:
        settings = bot_service.get_settings(session, orgs.a.id)
        assert settings.answer_threshold is None and settings.sensitive_words == []
        session.commit()


def test_org_sensitive_words_mask_what_visitors_send(client: TestClient, orgs: TwoOrgs) -> None:
    token = login(client, "alpha", "admin")
    assert save(client, token, sensitive_words="竞品甲").status_code == 200
    info = client.post("/api/v1/widget/session", json={"org_key": orgs.a.public_key}).json()
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        ws.receive_json()
        ws.send_json({"type": "message", "client_id": "c1", "text": "竞品甲更便宜"})
        for _ in range(10):
            frame = ws.receive_json()
            if frame["type"] == "ack":
                assert frame["message"]["text"] == "***更便宜"
                break
        else:
            raise AssertionError("no ack")


def test_matcher_config_uses_the_org_thresholds() -> None:
    settings = bot_service.BotSettings(answer_threshold=0.8, suggest_threshold=None)
    config = bot_service.matcher_config(settings, embeddings=True)
    answer, suggest = config.thresholds(True)
    assert answer == 0.8 and suggest == bot_service.matcher_defaults(embeddings=True)["suggest_threshold"]
    low = bot_service.matcher_config(bot_service.BotSettings(answer_threshold=0.1), embeddings=False)
    assert low.thresholds(False) == (0.1, 0.1)  # "did you mean" never starts above "answer"
