"""The assist's routes: "AI 建议回复" (roles, org isolation, fills nothing by itself), "AI 起草词条" from misses
(a prefilled form, nothing saved) and "AI 生成相似问" (accept / reject, duplicates dropped with the reason)."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.conversations import service as conversations_service
from edudesk.db import Database
from edudesk.kb import service as kb_service
from edudesk.kb.models import KbEntry, KbMiss
from edudesk.kb.schemas import EntryInput
from tests.conftest import TwoOrgs, login
from tests.llm.assist.conftest import serve
from tests.llm.conftest import ConfigureLlm
from tests.llm.fake_openai import FakeOpenAI, Reply

FEE = "一对一每课时 200 元，小班课每学期 3600 元。"


def _kb(database: Database, org_id: int) -> dict[str, int]:
    with database.session() as session:
        actor = Actor(org_id, label="t")
        fee = kb_service.create_entry(
            session, actor, EntryInput(question="学费多少钱", answer=FEE, similar=["收费标准是什么"])
        )
        park = kb_service.create_entry(
            session, actor, EntryInput(question="校区能停车吗", answer="校区有地下停车场。", similar=["有停车位吗"])
        )
        session.commit()
        return {"fee": fee.id, "park": park.id}


def _similar(database: Database, entry_id: int) -> list[str]:
    with database.session() as session:
        entry = session.get(KbEntry, entry_id)
        assert entry is not None
        return kb_service.similar_of(session, entry.org_id, entry_id)


# --- suggested reply ---------------------------------------------------------------------------------------------


def test_suggest_reply_fills_nothing_and_warns_on_an_invented_price(
    app: FastAPI,
    client: TestClient,
    database: Database,
    orgs: TwoOrgs,
    configure_llm: ConfigureLlm,
    fake_openai: FakeOpenAI,
) -> None:
    configure_llm(orgs.a.id)
    _kb(database, orgs.a.id)
    conv = serve(app.state.ctx.db, orgs.a.id, orgs.a.users["agent"], [("v", "学费多少钱？")])
    csrf = login(client, "alpha", "agent")
    page = client.get(f"/console/c/{conv}", headers={"hx-request": "true"}).text
    assert "AI 建议回复" in page
    fake_openai.add("您好，一对一每课时 200 元，现在报名立减 500 元，保证提分！")
    resp = client.post(f"/console/c/{conv}/suggest", data={"csrf_token": csrf}, headers={"hx-request": "true"})
    assert resp.status_code == 200, resp.text
    assert "一对一每课时 200 元" in resp.text and "data-fill-reply" in resp.text
    assert 'data-testid="ai-warnings"' in resp.text and "500" in resp.text.split('data-testid="ai-warnings"')[1]
    (sent,) = fake_openai.completions()
    assert FEE in sent.messages[1]["content"]  # the KB answer went in as a passage
    with database.session() as session:  # nothing was sent to the visitor
        texts = [m["text"] for m in conversations_service.messages_as_dicts(session, orgs.a.id, conv)]
    assert not any("立减" in t for t in texts)


def test_suggest_reply_roles_and_faults(
    app: FastAPI,
    client: TestClient,
    database: Database,
    orgs: TwoOrgs,
    configure_llm: ConfigureLlm,
    fake_openai: FakeOpenAI,
) -> None:
    configure_llm(orgs.a.id)
    theirs = serve(app.state.ctx.db, orgs.a.id, orgs.a.users["agent2"], [("v", "学费多少钱？")], visitor="v1")
    queued = serve(app.state.ctx.db, orgs.a.id, None, [("v", "能停车吗")], visitor="v2")
    csrf = login(client, "alpha", "agent")
    # Another agent's conversation: 409 with the reason; no call made.
    resp = client.post(f"/console/c/{theirs}/suggest", data={"csrf_token": csrf})
    assert resp.status_code == 409 and "其他老师" in resp.text
    assert fake_openai.completions() == []
    # A queued one: allowed. Endpoint down → the message, not an error page.
    fake_openai.add(Reply(status=500))
    resp = client.post(f"/console/c/{queued}/suggest", data={"csrf_token": csrf})
    assert resp.status_code == 200 and "AI 暂时不可用" in resp.text
    # No CSRF token: refused before anything runs.
    assert client.post(f"/console/c/{queued}/suggest", data={}).status_code == 400
    # A supervisor may ask on anyone's conversation.
    csrf = login(client, "alpha", "supervisor")
    fake_openai.add("您好，学费请看这里。")
    resp = client.post(f"/console/c/{theirs}/suggest", data={"csrf_token": csrf})
    assert resp.status_code == 200 and "学费请看这里" in resp.text


def test_suggest_reply_is_org_isolated_and_hidden_without_endpoint(
    app: FastAPI,
    client: TestClient,
    database: Database,
    orgs: TwoOrgs,
    configure_llm: ConfigureLlm,
    fake_openai: FakeOpenAI,
) -> None:
    configure_llm(orgs.a.id)
    conv_a = serve(app.state.ctx.db, orgs.a.id, orgs.a.users["agent"], [("v", "学费多少钱？")])
    conv_b = serve(app.state.ctx.db, orgs.b.id, orgs.b.users["agent"], [("v", "学费多少钱？")])
    csrf = login(client, "beta", "agent")
    assert client.post(f"/console/c/{conv_a}/suggest", data={"csrf_token": csrf}).status_code == 404
    page = client.get(f"/console/c/{conv_b}", headers={"hx-request": "true"}).text
    assert "AI 建议回复" not in page  # org B configured no endpoint: no button
    resp = client.post(f"/console/c/{conv_b}/suggest", data={"csrf_token": csrf})
    assert resp.status_code == 200 and "AI 暂时不可用" in resp.text
    assert fake_openai.completions() == []


# --- KB draft from misses ----------------------------------------------------------------------------------------


def test_draft_from_misses_prefills_the_form_and_saves_nothing(
    client: TestClient, database: Database, orgs: TwoOrgs, configure_llm: ConfigureLlm, fake_openai: FakeOpenAI
) -> None:
    configure_llm(orgs.a.id)
    ids = _kb(database, orgs.a.id)
    with database.session() as session:
        misses = [
            kb_service.record_miss(session, orgs.a.id, text, "unanswered")
            for text in ("寒假班什么时候开课", "寒假班几号开始", "有停车位吗")
        ]
        session.commit()
        miss_ids = [m.id for m in misses if m is not None]
    csrf = login(client, "alpha", "supervisor")
    assert "AI 起草词条" in client.get("/admin/kb/misses").text
    fake_openai.add(
        '好的：```json\n{"question": "寒假班什么时候开课", "answer": "寒假班【请填写】开课。",'
        ' "similar": ["寒假班几号开学", "有停车位吗", "<b>寒假</b>班开课时间"]}\n```'
    )
    resp = client.post("/admin/kb/misses/draft", data={"csrf_token": csrf, "miss_ids": ",".join(map(str, miss_ids))})
    assert resp.status_code == 200, resp.text
    form = resp.text
    assert 'action="/admin/kb/new"' in form and 'value="寒假班什么时候开课"' in form
    similar = re.search(r'<textarea name="similar"[^>]*>([^<]*)</textarea>', form)
    assert similar is not None
    lines = similar.group(1).splitlines()
    assert "寒假班几号开学" in lines and "寒假班几号开始" in lines  # the model's and the visitors' wordings
    assert "有停车位吗" not in lines  # another entry's similar question is left out
    assert "寒假班开课时间" in lines  # markup stripped
    assert "【请填写】" in form
    with database.session() as session:
        assert session.scalar(select(KbEntry.id).where(KbEntry.question == "寒假班什么时候开课")) is None
        assert all(m.resolved_at is None for m in session.scalars(select(KbMiss)))
    assert ids


def test_draft_bad_model_output_and_other_orgs_misses(
    client: TestClient, database: Database, orgs: TwoOrgs, configure_llm: ConfigureLlm, fake_openai: FakeOpenAI
) -> None:
    configure_llm(orgs.a.id)
    configure_llm(orgs.b.id)
    with database.session() as session:
        miss_a = kb_service.record_miss(session, orgs.a.id, "甲的问题", "unanswered")
        miss_b = kb_service.record_miss(session, orgs.b.id, "乙的问题", "unanswered")
        session.commit()
        assert miss_a is not None and miss_b is not None
        a_id, b_id = miss_a.id, miss_b.id
    csrf = login(client, "beta", "supervisor")
    assert client.post("/admin/kb/misses/draft", data={"csrf_token": csrf, "miss_ids": str(a_id)}).status_code == 404
    assert client.post("/admin/kb/misses/draft", data={"csrf_token": csrf, "miss_ids": ""}).status_code == 422
    fake_openai.add("这不是 JSON")
    resp = client.post("/admin/kb/misses/draft", data={"csrf_token": csrf, "miss_ids": str(b_id)})
    assert resp.status_code == 200 and "AI 暂时不可用" in resp.text
    assert all("甲的问题" not in r.prompt for r in fake_openai.completions())
    csrf = login(client, "beta", "agent")
    assert client.post("/admin/kb/misses/draft", data={"csrf_token": csrf, "miss_ids": str(b_id)}).status_code == 403


# --- similar questions -------------------------------------------------------------------------------------------


def test_similar_questions_accept_reject_and_duplicates(
    client: TestClient, database: Database, orgs: TwoOrgs, configure_llm: ConfigureLlm, fake_openai: FakeOpenAI
) -> None:
    configure_llm(orgs.a.id)
    ids = _kb(database, orgs.a.id)
    csrf = login(client, "alpha", "supervisor")
    assert "AI 生成相似问" in client.get(f"/admin/kb/{ids['fee']}").text
    fake_openai.add(
        '["一节课多少钱", "学费多少钱？", "收费标准是什么", "有停车位吗", "一节课多少钱？", '
        '"报名要交多少钱", "上课贵不贵"]'
    )
    resp = client.post(f"/admin/kb/{ids['fee']}/similar/generate", data={"csrf_token": csrf})
    assert resp.status_code == 200, resp.text
    text = resp.text
    for usable in ("一节课多少钱", "报名要交多少钱", "上课贵不贵"):
        assert f'name="accepted" value="{usable}"' in text
    assert "和本词条已有的问法只差标点或空格" in text  # 学费多少钱？
    assert "本词条已有这个问法" in text  # 收费标准是什么
    assert f"已是词条 #{ids['park']}" in text  # 有停车位吗
    assert "和前面的候选重复" in text
    shown = ["一节课多少钱", "报名要交多少钱", "上课贵不贵"]
    resp = client.post(
        f"/admin/kb/{ids['fee']}/similar/accept",
        data={
            "csrf_token": csrf,
            "candidate": shown,
            "accepted": ["一节课多少钱", "报名要交多少钱", "不在候选里的问法"],
        },
    )
    assert resp.status_code == 200 and "已加入 2 个相似问，拒绝 1 个" in resp.text
    assert _similar(database, ids["fee"]) == ["收费标准是什么", "一节课多少钱", "报名要交多少钱"]
    with database.session() as session:
        (log,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "kb.similar.generated"))
        assert log.detail["accepted"] == ["一节课多少钱", "报名要交多少钱"] and log.detail["rejected"] == ["上课贵不贵"]
    # Accepting again (a double click, or the KB changed meanwhile): dropped with the reason, nothing added.
    resp = client.post(
        f"/admin/kb/{ids['fee']}/similar/accept",
        data={"csrf_token": csrf, "candidate": ["一节课多少钱"], "accepted": ["一节课多少钱"]},
    )
    assert resp.status_code == 200 and "本词条已有这个问法" in resp.text
    assert _similar(database, ids["fee"]) == ["收费标准是什么", "一节课多少钱", "报名要交多少钱"]


def test_similar_questions_isolation_roles_and_faults(
    client: TestClient, database: Database, orgs: TwoOrgs, configure_llm: ConfigureLlm, fake_openai: FakeOpenAI
) -> None:
    configure_llm(orgs.a.id)
    configure_llm(orgs.b.id)
    ids = _kb(database, orgs.a.id)
    csrf = login(client, "beta", "admin")
    assert client.post(f"/admin/kb/{ids['fee']}/similar/generate", data={"csrf_token": csrf}).status_code == 404
    assert (
        client.post(
            f"/admin/kb/{ids['fee']}/similar/accept",
            data={"csrf_token": csrf, "candidate": ["越权问法"], "accepted": ["越权问法"]},
        ).status_code
        == 404
    )
    assert fake_openai.completions() == []
    assert _similar(database, ids["fee"]) == ["收费标准是什么"]
    csrf = login(client, "alpha", "agent")
    assert client.post(f"/admin/kb/{ids['fee']}/similar/generate", data={"csrf_token": csrf}).status_code == 403
    csrf = login(client, "alpha", "admin")
    fake_openai.add(Reply("不是列表"), Reply(status=429))
    for _ in range(2):
        resp = client.post(f"/admin/kb/{ids['fee']}/similar/generate", data={"csrf_token": csrf})
        assert resp.status_code == 200 and "AI 暂时不可用" in resp.text
