"""The review workflow end to end through the pages: review → appeal → decision, who may do each step, the audit
trail, and what the agent sees (only their own, phone numbers masked). SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.db import Database
from edudesk.localtime import local_today
from edudesk.qc.models import QcReview, ReviewState
from tests.conftest import TwoOrgs, csrf_from, login
from tests.qc.conftest import Serve, run_jobs


def audit(db: Database, org_id: int, prefix: str = "qc.") -> list[tuple[str, str]]:
    with db.session() as session:
        return [(e.action, e.actor_label) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.org_id == org_id, AuditEntry.action.startswith(prefix))
            .order_by(AuditEntry.id))]


def case(db: Database, conv_id: int) -> QcReview | None:
    with db.session() as session:
        return session.scalars(select(QcReview).where(QcReview.conversation_id == conv_id)).first()


def post(client: TestClient, url: str, data: dict[str, str]) -> tuple[int, str]:
    token = csrf_from(client.get("/console").text)
    resp = client.post(url, data={**data, "csrf_token": token})
    return resp.status_code, resp.text


def test_review_appeal_decision_end_to_end(app: FastAPI, client: TestClient, orgs: TwoOrgs, served: Serve) -> None:
    db: Database = app.state.ctx.db
    conv_id = served([("a", "您好，放心，保证提分"), ("c", "我手机 13912345678，可以试听吗"), ("a", "好的，再见")])
    run_jobs(app)

    # The agent sees their result, with the number masked, and no review or decision form.
    login(client, "alpha", "agent")
    mine = client.get("/console/qc")
    assert mine.status_code == 200 and f"#{conv_id}" in mine.text
    detail = client.get(f"/console/qc/{conv_id}").text
    assert "139****5678" in detail and "13912345678" not in detail
    assert 'id="qc-appeal-form"' in detail and "qc-review-form" not in detail and "qc-decide-form" not in detail
    # … but may not review or decide (supervisors' pages), nor see the admin list.
    assert client.get("/admin/qc").status_code == 403
    assert post(client, f"/admin/qc/c/{conv_id}/review", {"score": "100", "comment": ""})[0] == 403
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/console").text)})

    # Another agent neither sees nor appeals it.
    login(client, "alpha", "agent2")
    assert client.get(f"/console/qc/{conv_id}").status_code == 404
    assert f"#{conv_id}" not in client.get("/console/qc").text
    assert post(client, f"/console/qc/{conv_id}/appeal", {"reason": "不是我的"})[0] == 404
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/console").text)})

    # The supervisor reviews: a score below 100 needs a comment, said beside the field.
    login(client, "alpha", "supervisor")
    status, text = post(client, f"/admin/qc/c/{conv_id}/review", {"score": "70", "comment": ""})
    assert status == 422 and "请填写复核意见" in text
    status, text = post(client, f"/admin/qc/c/{conv_id}/review", {"score": "abc", "comment": "x"})
    assert status == 422 and "分数须为 0–100 的整数" in text
    status, text = post(client, f"/admin/qc/c/{conv_id}/review", {"score": "70", "comment": "承诺提分，扣分"})
    assert status == 200 and "复核已保存" in text
    row = case(db, conv_id)
    assert row is not None and row.state == ReviewState.reviewed and row.review_score == 70
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/console").text)})

    # The agent appeals once; a second appeal is refused.
    login(client, "alpha", "agent")
    status, text = post(client, f"/console/qc/{conv_id}/appeal", {"reason": ""})
    assert status == 422 and "请填写申诉理由" in text
    status, text = post(client, f"/console/qc/{conv_id}/appeal", {"reason": "家长问的是能否保证，我说的是不保证"})
    assert status == 200 and "申诉已提交" in text and 'data-state="appealed"' in text
    status, text = post(client, f"/console/qc/{conv_id}/appeal", {"reason": "再申诉一次"})
    assert status == 409 and "只能申诉一次" in text
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/console").text)})

    # The reviewer (a supervisor) may not judge the appeal against their own review …
    login(client, "alpha", "supervisor")
    assert "qc-decide-form" not in client.get(f"/admin/qc/c/{conv_id}").text
    status, text = post(client, f"/admin/qc/c/{conv_id}/decide",
                        {"outcome": "overturn", "decision_score": "95", "decision_comment": "同意"})
    assert status == 403 and "复核人不能处理" in text
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/console").text)})

    # … the admin does: overturned, with the score it should have been.
    login(client, "alpha", "admin")
    status, text = post(client, f"/admin/qc/c/{conv_id}/decide",
                        {"outcome": "overturn", "decision_score": "", "decision_comment": "核实属实"})
    assert status == 422 and "分数须为 0–100 的整数" in text
    status, text = post(client, f"/admin/qc/c/{conv_id}/decide",
                        {"outcome": "overturn", "decision_score": "95", "decision_comment": "核实属实，改判"})
    assert status == 200 and "申诉已处理" in text and 'id="qc-final-score">95<' in text
    status, _ = post(client, f"/admin/qc/c/{conv_id}/decide",
                     {"outcome": "uphold", "decision_score": "", "decision_comment": "再处理"})
    assert status == 409
    row = case(db, conv_id)
    assert row is not None and row.state == ReviewState.overturned and row.decision_score == 95

    assert audit(db, orgs.a.id) == [("qc.review", "supervisor"), ("qc.appeal", "agent"), ("qc.decide", "admin")]
    # The agent now sees the outcome and no appeal form.
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/console").text)})
    login(client, "alpha", "agent")
    detail = client.get(f"/console/qc/{conv_id}").text
    assert "申诉成立（改判）" in detail and "qc-appeal-form" not in detail


def test_an_unreviewed_result_can_be_appealed_and_upheld(app: FastAPI, client: TestClient, served: Serve,
                                                         orgs: TwoOrgs) -> None:
    db: Database = app.state.ctx.db
    conv_id = served([("a", "在的"), ("c", "好")])
    run_jobs(app)
    login(client, "alpha", "agent")
    assert post(client, f"/console/qc/{conv_id}/appeal", {"reason": "开场问候在机器人那里说过了"})[0] == 200
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/console").text)})
    login(client, "alpha", "supervisor")
    status, text = post(client, f"/admin/qc/c/{conv_id}/decide",
                        {"outcome": "uphold", "decision_score": "", "decision_comment": "机器人不能代替客服问候"})
    assert status == 200 and "申诉驳回（维持）" in text
    row = case(db, conv_id)
    assert row is not None and row.reason == "appeal" and row.state == ReviewState.upheld


def test_a_sampled_case_waits_for_its_review_before_an_appeal(app: FastAPI, client: TestClient, served: Serve,
                                                             orgs: TwoOrgs) -> None:
    conv_id = served([("a", "您好，包过"), ("c", "好")])
    run_jobs(app)
    login(client, "alpha", "supervisor")
    token = csrf_from(client.get("/admin/qc/reviews").text)
    resp = client.post("/admin/qc/reviews/sample", data={"day": local_today().isoformat(), "csrf_token": token})
    assert resp.status_code == 200 and "新加入复核队列 1 条" in resp.text
    assert f'data-conversation="{conv_id}" data-state="pending"' in resp.text
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/console").text)})
    login(client, "alpha", "agent")
    status, text = post(client, f"/console/qc/{conv_id}/appeal", {"reason": "我要申诉"})
    assert status == 409 and "复核后才能申诉" in text


def test_hostile_text_is_shown_as_text(app: FastAPI, client: TestClient, served: Serve) -> None:
    conv_id = served([("a", "您好"), ("c", "<script>alert(1)</script>我要投诉<img src=x onerror=alert(2)>"),
                      ("a", "保证提分<b>!</b>")])
    run_jobs(app)
    login(client, "alpha", "supervisor")
    html = client.get(f"/admin/qc/c/{conv_id}").text
    assert "<script>alert(1)" not in html and "<img src=x" not in html and "<b>!</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<mark class="qc-mark"' in html and ">投诉</mark>" in html and ">保证提分</mark>" in html


def test_reports_and_the_audited_export(app: FastAPI, client: TestClient, served: Serve, orgs: TwoOrgs) -> None:
    db: Database = app.state.ctx.db
    served([("a", "您好，保证提分"), ("c", "好")])
    served([("a", "您好"), ("c", "好的"), ("a", "再见")], agent="agent2", visitor="v2")
    run_jobs(app)
    login(client, "alpha", "supervisor")
    page = client.get("/admin/qc/reports")
    assert page.status_code == 200 and "王老师" in page.text and "李老师" in page.text
    assert client.get("/admin/qc/reports?since=2026-13-01").status_code == 422
    csv = client.get("/admin/qc/reports.csv?by=agent")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    body = csv.content.decode("utf-8-sig")
    assert body.splitlines()[0].startswith("客服,质检会话数") and "命中：违规承诺" in body
    assert ("qc.export", "supervisor") in audit(db, orgs.a.id)
    assert client.get("/admin/qc/reports.csv?by=group").content.decode("utf-8-sig").startswith("技能组")


def test_results_list_and_its_filters(app: FastAPI, client: TestClient, served: Serve, orgs: TwoOrgs) -> None:
    promised = served([("a", "您好，保证提分"), ("c", "好的"), ("a", "再见")])
    clean = served([("a", "您好"), ("c", "好的"), ("a", "再见")], agent="agent2", visitor="v2")
    run_jobs(app)
    login(client, "alpha", "supervisor")
    every = client.get("/admin/qc").text
    assert f'data-conversation="{promised}"' in every and f'data-conversation="{clean}"' in every
    only = client.get("/admin/qc?rule=promise").text
    assert f'data-conversation="{promised}"' in only and f'data-conversation="{clean}"' not in only
    agent2 = orgs.a.users["agent2"].id
    mine = client.get(f"/admin/qc?agent_id={agent2}&min_score=90&max_score=100").text
    assert f'data-conversation="{clean}"' in mine and f'data-conversation="{promised}"' not in mine
    bad = client.get("/admin/qc?since=yesterday&min_score=500&until=2020-01-01&state=nope")
    assert bad.status_code == 422
    assert "日期格式应为 YYYY-MM-DD" in bad.text and "请填写 0–100 的整数" in bad.text and "请选择复核状态" in bad.text
    assert client.get("/admin/qc?page=999999999999").status_code == 200
    injected = client.get("/admin/qc", params={"rule": "' OR 1=1 --", "agent_id": "1 OR 1=1"})
    assert injected.status_code == 422 and f'data-conversation="{promised}"' not in injected.text
