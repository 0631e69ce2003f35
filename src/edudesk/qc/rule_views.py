"""The rule-set editor (``/admin/qc/rules``): supervisors and admins change a rule, add one of a kind, delete one
or go back to the defaults — each save a new revision — and set how the daily review sample is drawn."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from edudesk.auth.deps import actor_of, supervisor
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.forms import Rejected, submit
from edudesk.qc import rules as qc_rules
from edudesk.qc import ruleset
from edudesk.qc.models import QcRuleRevision
from edudesk.web import page

router = APIRouter(prefix="/admin/qc", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
CONFLICT = Rejected("规则刚被其他人修改，请刷新页面后重试", "conflict", 409, "form")
# Form fields a rule posts besides its parameters (``p_<name>``).
RULE_FIELDS = ("name", "severity", "points", "enabled")


def rules_page(request: Request, user: User, *, errors: dict[str, str] | None = None,
               forms: dict[str, dict[str, str]] | None = None, notice: str | None = None,
               status_code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        current = ruleset.current(session, user.org_id)
        settings = ruleset.settings(session, user.org_id)
        session.commit()
    shown = []
    for rule in current.rules:
        kind = qc_rules.KINDS[rule["kind"]]
        values = {"name": rule["name"], "severity": rule["severity"], "points": str(rule["points"]),
                  "enabled": "1" if rule["enabled"] else ""}
        values |= {f"p_{p.name}": qc_rules.param_text(p, rule["params"].get(p.name)) for p in kind.params}
        values |= (forms or {}).get(rule["key"], {})
        shown.append({"key": rule["key"], "kind": kind, "fields": values})
    return page(request, "qc/rules.html", status_code=status_code, user=user, revision=current, rules=shown,
                errors=errors or {}, notice=notice, kinds=qc_rules.KINDS, severities=qc_rules.SEVERITY_LABELS,
                settings=(forms or {}).get("_sampling") or {
                    "random_percent": str(settings.random_percent), "below_score": str(settings.below_score),
                    "all_severe": "1" if settings.all_severe else "", "all_complaints": "1" if settings.all_complaints
                    else ""})


@router.get("/rules", response_class=HTMLResponse)
def rules(request: Request, user: Supervisor) -> Response:
    return rules_page(request, user)


async def _form(request: Request) -> dict[str, str]:
    data = await request.form()
    return {k: v[:20000] for k, v in data.items() if isinstance(v, str) and len(k) <= 64}


@router.post("/rules", response_class=HTMLResponse)
def save_rules(request: Request, user: Supervisor, form: Annotated[dict[str, Any], Depends(_form)]) -> Response:
    action = form.get("action", "")
    key = form.get("key", "")
    actor = actor_of(request, user)

    def write(session: Session) -> QcRuleRevision:
        expected = form.get("revision", "")
        if expected and expected != str(ruleset.current(session, user.org_id).revision):
            raise qc_rules.RuleError("stale", "规则刚被其他人修改，请刷新页面后重试", "form")
        if action == "save":
            fields = {k: form.get(k, "") for k in RULE_FIELDS} | {k: v for k, v in form.items() if k.startswith("p_")}
            return ruleset.update_rule(session, actor, key, fields)
        if action == "add":
            return ruleset.add_rule(session, actor, form.get("kind", ""))
        if action == "delete":
            return ruleset.delete_rule(session, actor, key)
        if action == "reset":
            return ruleset.reset(session, actor)
        raise qc_rules.RuleError("bad_action", "未知的操作", "form")

    done = submit(request, form.get("csrf_token"), write, conflict=CONFLICT)
    if isinstance(done, Rejected):
        forms = {key: {k: v for k, v in form.items() if k in RULE_FIELDS or k.startswith("p_")}} if key else {}
        if action == "save" and "enabled" not in form:
            forms.setdefault(key, {})["enabled"] = ""
        field = done.field or "form"
        if action == "add" and field == "kind":
            field = "add_kind"
        return rules_page(request, user, errors={field: done.message}, forms=forms, status_code=done.status)
    return rules_page(request, user, notice=f"已保存为第 {done.revision} 版规则")


@router.post("/sampling", response_class=HTMLResponse)
def save_sampling(request: Request, user: Supervisor, random_percent: Annotated[str, Form(max_length=10)] = "",
                  below_score: Annotated[str, Form(max_length=10)] = "",
                  all_severe: Annotated[str, Form(max_length=5)] = "",
                  all_complaints: Annotated[str, Form(max_length=5)] = "",
                  csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    form = {"random_percent": random_percent, "below_score": below_score, "all_severe": all_severe,
            "all_complaints": all_complaints}
    done = submit(request, csrf_token, lambda s: ruleset.save_settings(
        s, actor_of(request, user), random_percent=random_percent, below_score=below_score,
        all_severe=bool(all_severe), all_complaints=bool(all_complaints)))
    if isinstance(done, Rejected):
        return rules_page(request, user, errors=done.beside("sampling"), forms={"_sampling": form},
                          status_code=done.status)
    return rules_page(request, user, notice="抽检设置已保存")
