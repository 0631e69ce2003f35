"""The rule-set editor and the sampling settings: each save is a new revision, bad input is said beside its field
and changes nothing, the defaults come back on request; validation of stored rules."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.db import Database
from edudesk.qc import rules as qc_rules
from edudesk.qc import ruleset
from edudesk.qc.models import QcRuleRevision
from tests.conftest import TwoOrgs, csrf_from, login


def revisions(db: Database, org_id: int) -> list[QcRuleRevision]:
    with db.session() as session:
        return list(session.scalars(select(QcRuleRevision).where(QcRuleRevision.org_id == org_id)
                                    .order_by(QcRuleRevision.revision)))


def save(client: TestClient, data: dict[str, str]) -> tuple[int, str]:
    page = client.get("/admin/qc/rules").text
    resp = client.post("/admin/qc/rules", data={"csrf_token": csrf_from(page), **data})
    return resp.status_code, resp.text


PROMISE = {"action": "save", "key": "promise", "name": "违规承诺", "severity": "severe", "points": "25",
           "enabled": "1", "p_words": "保证提分\n包过\n稳拿证书", "p_negation": "1"}


def test_editing_rules_makes_revisions(app: FastAPI, client: TestClient, orgs: TwoOrgs) -> None:
    db: Database = app.state.ctx.db
    login(client, "alpha", "supervisor")
    page = client.get("/admin/qc/rules")
    assert page.status_code == 200 and "第 1 版" in page.text
    # Every rule's stored values are in its form.
    assert 'name="name" value="违规承诺"' in page.text and "保证提分\n保证提高" in page.text
    assert 'name="points" min="0" max="100" value="20"' in page.text
    status, text = save(client, PROMISE)
    assert status == 200 and "第 2 版" in text and "稳拿证书" in text
    promise = next(r for r in revisions(db, orgs.a.id)[-1].rules if r["key"] == "promise")
    assert promise["points"] == 25 and promise["params"]["words"] == ["保证提分", "包过", "稳拿证书"]

    # Bad input: beside the field, nothing saved, what was typed stays in the form.
    for change, message in (({"points": "200"}, "须在 0–100 之间"), ({"p_words": "  \n "}, "至少填写一个词"),
                            ({"name": ""}, "名称不能为空"), ({"p_words": "x" * 31}, "每个词不能超过 30 个字"),
                            ({"p_words": "100%通过" + "%s" * 20}, "100%通过%s"),  # echoed, never formatted
                            ({"p_words": "<script>x</script>" * 2}, "&lt;script&gt;")):
        status, text = save(client, {**PROMISE, **change})
        assert status == 422 and message in text, change
    assert len(revisions(db, orgs.a.id)) == 2

    status, text = save(client, {"action": "add", "kind": "forbidden"})
    assert status == 200 and "forbidden_1" in text
    status, text = save(client, {"action": "add", "kind": "nonsense"})
    assert status == 422 and "请选择规则类型" in text
    status, _ = save(client, {"action": "delete", "key": "forbidden_1"})
    assert status == 200 and "forbidden_1" not in {r["key"] for r in revisions(db, orgs.a.id)[-1].rules}
    status, _ = save(client, {"action": "reset"})
    assert revisions(db, orgs.a.id)[-1].rules == qc_rules.default_rules()
    # A form from an older revision does not overwrite a newer one.
    status, text = save(client, {**PROMISE, "revision": "1"})
    assert status == 422 and "刷新页面" in text
    with db.session() as session:
        actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.org_id == orgs.a.id,
                                                                         AuditEntry.action == "qc.rules.save")))
    assert len(actions) == len(revisions(db, orgs.a.id)) - 1
    assert revisions(db, orgs.b.id) == []  # org B untouched


def test_agents_cannot_edit_rules(client: TestClient, orgs: TwoOrgs) -> None:
    login(client, "alpha", "agent")
    assert client.get("/admin/qc/rules").status_code == 403
    token = csrf_from(client.get("/console").text)
    assert client.post("/admin/qc/rules", data={**PROMISE, "csrf_token": token}).status_code == 403


def test_a_stale_csrf_token_is_refused(client: TestClient, orgs: TwoOrgs) -> None:
    login(client, "alpha", "admin")
    assert client.post("/admin/qc/rules", data={**PROMISE, "csrf_token": "forged"}).status_code == 400


def test_sampling_settings(app: FastAPI, client: TestClient, orgs: TwoOrgs) -> None:
    db: Database = app.state.ctx.db
    login(client, "alpha", "supervisor")
    token = csrf_from(client.get("/admin/qc/rules").text)
    resp = client.post("/admin/qc/sampling", data={"random_percent": "150", "below_score": "60",
                                                   "csrf_token": token})
    assert resp.status_code == 422 and "请填写 0–100 的整数" in resp.text
    resp = client.post("/admin/qc/sampling", data={"random_percent": "10", "below_score": "70", "all_severe": "1",
                                                   "csrf_token": token})
    assert resp.status_code == 200
    with db.session() as session:
        row = ruleset.settings(session, orgs.a.id)
        assert (row.random_percent, row.below_score, row.all_severe, row.all_complaints) == (10, 70, True, False)


@pytest.mark.parametrize(("change", "field"), [
    ({"kind": "nope"}, "x.kind"), ({"severity": "huge"}, "x.severity"), ({"points": True}, "x.points"),
    ({"params": {"words": ["a"], "negation": True, "extra": 1}}, None),
])
def test_clean_rule(change: dict[str, object], field: str | None) -> None:
    rule = {"key": "x", "kind": "forbidden", "name": "n", "severity": "minor", "points": 5, "enabled": True,
            "params": {"words": ["a"], "negation": True}} | change
    if field is None:
        assert qc_rules.clean_rule(rule)["params"] == {"words": ["a"], "negation": True}  # unknown params dropped
        return
    with pytest.raises(qc_rules.RuleError) as err:
        qc_rules.clean_rule(rule)
    assert err.value.field == field


def test_every_default_rule_is_valid_and_every_kind_has_an_editor() -> None:
    assert qc_rules.clean_rules(qc_rules.default_rules()) == qc_rules.default_rules()
    for kind in qc_rules.KINDS:
        assert qc_rules.clean_rule(qc_rules.new_rule(kind, "k"))["kind"] == kind
    aliases = qc_rules.clean_params("price_mismatch", {"min_amount": "100", "tolerance": "0",
                                                       "aliases": "小学数学思维提高班=思维班，数学思维课"})
    assert aliases["aliases"] == {"小学数学思维提高班": ["思维班", "数学思维课"]}
    with pytest.raises(qc_rules.RuleError):
        qc_rules.clean_params("price_mismatch", {"min_amount": "1", "tolerance": "0", "aliases": "没有等号"})
    words = qc_rules.clean_params("forbidden", {"words": "包过\n 包过 \n\n保过", "negation": ""})
    assert words == {"words": ["包过", "保过"], "negation": False}  # duplicates and blanks dropped
    with pytest.raises(qc_rules.RuleError, match="最多 300 个词"):
        qc_rules.clean_params("forbidden", {"words": "\n".join(f"词{i}" for i in range(301))})
    with pytest.raises(qc_rules.RuleError, match="请填写整数"):
        qc_rules.clean_params("reply_time", {"seconds": "1e9", "business_hours": "1"})
