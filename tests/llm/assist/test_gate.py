"""The per-org evaluation of the grounded path and the gate: labelled questions of the org's own, the verdicts
against the fake endpoint, the stored run, and ``grounded_gate`` refusing above 2 % (and without enough
questions, or when the endpoint did not answer)."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.db import Database, utcnow
from edudesk.kb import service as kb_service
from edudesk.kb.schemas import EntryInput
from edudesk.llm import gate as llm_gate
from edudesk.llm.assist import gate, grounding
from edudesk.llm.models import LlmEvaluation
from tests.conftest import TwoOrgs, login
from tests.llm.assist.conftest import run_jobs
from tests.llm.conftest import ConfigureLlm
from tests.llm.fake_openai import FakeOpenAI, Reply, Request

ENTRIES = [
    ("学费多少钱", "一对一每课时 200 元。", ["一节课多少钱", "收费标准", "怎么收费的", "课时费多少", "贵不贵"]),
    ("可以试听吗", "新学员可免费试听 1 次。", ["有试听课吗", "能先体验吗", "试听要钱吗", "怎么约试听", "体验课"]),
    ("校区在哪里", "城东、城西 2 个校区。", ["地址在哪", "有几个校区", "离地铁近吗", "在哪上课", "校区地址"]),
    ("几点上课", "周一至周五 18:30 上课。", ["上课时间", "晚上几点", "周末有课吗", "什么时候上课", "几点下课"]),
]
PASSAGE_ONE = re.compile(r"\[1\] 《[^》]*》\n(.*?)(?:\n\n\[2\]|\n</资料>)", re.S)


def _seed(database: Database, org_id: int) -> None:
    with database.session() as session:
        for question, answer, similar in ENTRIES:
            kb_service.create_entry(
                session, Actor(org_id, label="t"), EntryInput(question=question, answer=answer, similar=similar)
            )
        miss = kb_service.record_miss(session, org_id, "你们卖手机吗", "unanswered")
        assert miss is not None
        miss.resolved_at, miss.resolution = utcnow(), "忽略"
        session.commit()


def _from_first(extra: str = "") -> object:
    def reply(request: Request) -> Reply:
        found = PASSAGE_ONE.search(request.messages[-1]["content"])
        text = found.group(1).split("：", 1)[-1].strip().rstrip("。") if found else "无法回答"
        return Reply(f"{text}{extra}。[1]")

    return reply


def _evaluate(app: FastAPI, org_id: int) -> LlmEvaluation:
    with app.state.ctx.db.session() as session:
        row = gate.evaluate_org(session, org_id, grounding.live_answerer(app.state.ctx.llm, session, org_id), None)
        session.commit()
        session.refresh(row)
        session.expunge(row)
        return row


def test_evaluation_scores_the_orgs_own_questions(
    app: FastAPI, database: Database, orgs: TwoOrgs, configure_llm: ConfigureLlm, fake_openai: FakeOpenAI
) -> None:
    configure_llm(orgs.a.id)
    _seed(database, orgs.a.id)
    fake_openai.respond_with(_from_first())  # type: ignore[arg-type]
    row = _evaluate(app, orgs.a.id)
    data = row.report
    assert row.queries == data["labelled"] - data["skipped"] == 21  # 20 similar questions + 1 dismissed miss
    assert data["sent"] == len(fake_openai.completions()) > 0
    assert all(r.body["model"] == "fake-model" for r in fake_openai.completions())
    # The dismissed question was answered from the first passage: wrong, and counted in the gate's rate.
    assert data["combined"]["refused"] == 0.0 and row.wrong_rate > 0
    assert data["complete"] is True
    allowed, why = llm_gate.decision(row)
    assert not allowed and "至少需要 50" in why  # 21 questions are too few to trust 2 %


def test_invented_prices_are_blocked_not_answered(
    app: FastAPI, database: Database, orgs: TwoOrgs, configure_llm: ConfigureLlm, fake_openai: FakeOpenAI
) -> None:
    configure_llm(orgs.a.id)
    _seed(database, orgs.a.id)
    fake_openai.respond_with(_from_first("，本周报名立减 300 元"))  # type: ignore[arg-type]
    data = _evaluate(app, orgs.a.id).report
    assert data["grounded"]["blocked"] == 1.0 and data["blocked_reasons"] == {"numbers": data["sent"]}
    assert data["combined"]["answered"] == data["faq_only"]["answered"]


def test_dead_endpoint_makes_an_incomplete_run(
    app: FastAPI, database: Database, orgs: TwoOrgs, configure_llm: ConfigureLlm, fake_openai: FakeOpenAI
) -> None:
    configure_llm(orgs.a.id)
    _seed(database, orgs.a.id)
    fake_openai.respond_with(lambda r: Reply(status=502))
    row = _evaluate(app, orgs.a.id)
    assert row.report["complete"] is False
    row.queries = 500  # enough questions: still refused, the run measured nothing
    assert llm_gate.decision(row) == (False, llm_gate.decision(row)[1]) and "不完整" in llm_gate.decision(row)[1]


def test_gate_threshold() -> None:
    def run(wrong: float, queries: int = 400) -> tuple[bool, str]:
        return llm_gate.decision(LlmEvaluation(org_id=1, queries=queries, wrong_rate=wrong, report={"complete": True}))

    assert run(0.02)[0] and run(0.0)[0]
    allowed, why = run(0.0201)
    assert not allowed and "2.0％" in why and "高于 2.0％" in why
    assert not run(0.0, queries=49)[0]
    assert llm_gate.decision(None) == (False, "请先运行问答评估")


def test_admin_page_runs_the_job_and_shows_why(
    app: FastAPI,
    client: TestClient,
    database: Database,
    orgs: TwoOrgs,
    configure_llm: ConfigureLlm,
    fake_openai: FakeOpenAI,
) -> None:
    _seed(database, orgs.a.id)
    csrf = login(client, "alpha", "admin")
    page = client.get("/admin/llm/evaluation").text
    assert 'data-allowed="false"' in page and "请先运行问答评估" in page
    resp = client.post("/admin/llm/evaluation", data={"csrf_token": csrf})
    assert resp.status_code == 422 and "请先配置并启用大模型接口" in resp.text
    configure_llm(orgs.a.id)
    fake_openai.respond_with(_from_first())  # type: ignore[arg-type]
    assert "已开始评估" in client.post("/admin/llm/evaluation", data={"csrf_token": csrf}).text
    assert "评估正在进行中" in client.post("/admin/llm/evaluation", data={"csrf_token": csrf}).text
    run_jobs(app)
    page = client.get("/admin/llm/evaluation").text
    assert 'id="evaluation-figures"' in page and "至少需要 50" in page
    with database.session() as session:
        assert session.scalars(select(LlmEvaluation.org_id)).all() == [orgs.a.id]
    csrf = login(client, "alpha", "supervisor")
    assert client.get("/admin/llm/evaluation").status_code == 403
