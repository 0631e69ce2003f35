"""Org isolation for QC with real results in org A: org B's staff see none of them, and nothing they post
changes org A's results, reviews, rules or sampling settings."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.db import Database
from edudesk.qc import ruleset
from edudesk.qc.models import QcHit, QcInspection, QcReview, QcRuleRevision, QcSettings
from tests.conftest import TwoOrgs, csrf_from, login
from tests.qc.conftest import Serve, run_jobs


def snapshot(db: Database, org_id: int) -> list[str]:
    with db.session() as session:
        out = []
        for model in (QcInspection, QcHit, QcReview, QcRuleRevision, QcSettings):
            for row in session.scalars(select(model).where(model.org_id == org_id).order_by(model.id)):
                out.append(repr(sorted((k, str(v)) for k, v in vars(row).items() if not k.startswith("_"))))
        return out


def test_org_b_sees_and_changes_nothing_of_org_a(app: FastAPI, client: TestClient, orgs: TwoOrgs,
                                                 served: Serve) -> None:
    db: Database = app.state.ctx.db
    conv_id = served([("a", "您好，甲机构保证提分"), ("c", "甲的家长投诉")])
    run_jobs(app)
    with db.session() as session:
        ruleset.settings(session, orgs.a.id)
        session.commit()
    before = snapshot(db, orgs.a.id)
    assert before
    for role in ("admin", "agent"):
        login(client, "beta", role)
        token = csrf_from(client.get("/console").text)
        for url in ("/admin/qc", "/admin/qc/reviews?state=reviewed", "/admin/qc/reports", "/console/qc",
                    "/admin/qc/reports.csv"):
            resp = client.get(url)
            assert "甲机构" not in resp.text and f"#{conv_id}<" not in resp.text
        for url in (f"/admin/qc/c/{conv_id}", f"/console/qc/{conv_id}"):
            assert client.get(url).status_code in (403, 404)
        for url, data in ((f"/admin/qc/c/{conv_id}/review", {"score": "0", "comment": "越权"}),
                          (f"/console/qc/{conv_id}/appeal", {"reason": "越权申诉"}),
                          (f"/admin/qc/c/{conv_id}/reinspect", {}),
                          ("/admin/qc/rules", {"action": "reset"}),
                          ("/admin/qc/sampling", {"random_percent": "100", "below_score": "101"}),
                          ("/admin/qc/reviews/sample", {"day": "2026-12-07"})):
            resp = client.post(url, data={**data, "csrf_token": token})
            assert resp.status_code in (200, 403, 404), url
        client.post("/logout", data={"csrf_token": token})
    assert snapshot(db, orgs.a.id) == before
