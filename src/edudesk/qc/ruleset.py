"""An org's rule set (immutable revisions, the newest in force) and its sampling settings.

An org that never saved a rule set gets the default one as revision 1 the first time anything asks for it (a new
org, the demo, an org that existed before quality inspection): the areas below never call us, so there is no
“org created” hook to seed from, and a lazy first revision also covers every org that already exists.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.db import org_query
from edudesk.qc import rules as qc_rules
from edudesk.qc.models import QcRuleRevision, QcSettings
from edudesk.qc.rules import RuleError


def current(session: Session, org_id: int) -> QcRuleRevision:
    """The revision in force (created from the defaults when the org has none)."""
    row = session.scalars(org_query(QcRuleRevision, org_id).order_by(QcRuleRevision.revision.desc()).limit(1)).first()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = QcRuleRevision(org_id=org_id, revision=1, rules=qc_rules.default_rules(), created_by="默认规则")
            session.add(row)
    except IntegrityError:  # another transaction created it a moment ago
        row = session.scalars(org_query(QcRuleRevision, org_id).order_by(QcRuleRevision.revision.desc())
                              .limit(1)).one()
    return row


def revision(session: Session, org_id: int, number: int) -> QcRuleRevision | None:
    return session.scalars(org_query(QcRuleRevision, org_id).where(QcRuleRevision.revision == number)).first()


def save(session: Session, actor: audit_service.Actor, rules: list[dict[str, Any]], *, what: str) -> QcRuleRevision:
    """Validates ``rules`` and stores them as the next revision (two editors saving at once: the second one's
    unique revision number collides and the form asks them to reload)."""
    cleaned = qc_rules.clean_rules(rules)
    latest = session.scalar(select(func.max(QcRuleRevision.revision)).where(QcRuleRevision.org_id == actor.org_id))
    row = QcRuleRevision(org_id=actor.org_id, revision=int(latest or 0) + 1, rules=cleaned,
                         created_by=actor.label[:100])
    session.add(row)
    session.flush()
    audit_service.record(session, actor, "qc.rules.save", "qc_rule_set", row.revision, change=what)
    return row


def update_rule(session: Session, actor: audit_service.Actor, key: str, form: dict[str, Any]) -> QcRuleRevision:
    rules = [dict(r) for r in current(session, actor.org_id).rules]
    index = next((i for i, r in enumerate(rules) if r["key"] == key), None)
    if index is None:
        raise RuleError("no_rule", "规则不存在，请刷新页面", "form")
    params = {k[2:]: v for k, v in form.items() if k.startswith("p_")}
    rules[index] = {"key": key, "kind": rules[index]["kind"], "name": form.get("name", ""),
                    "severity": form.get("severity", ""), "points": form.get("points", ""),
                    "enabled": form.get("enabled", ""), "params": params}
    return save(session, actor, rules, what=f"update:{key}")


def add_rule(session: Session, actor: audit_service.Actor, kind: str) -> QcRuleRevision:
    rules = [dict(r) for r in current(session, actor.org_id).rules]
    rules.append(qc_rules.new_rule(kind, qc_rules.next_key(rules, kind)))
    return save(session, actor, rules, what=f"add:{kind}")


def delete_rule(session: Session, actor: audit_service.Actor, key: str) -> QcRuleRevision:
    rules = [dict(r) for r in current(session, actor.org_id).rules]
    kept = [r for r in rules if r["key"] != key]
    if len(kept) == len(rules):
        raise RuleError("no_rule", "规则不存在，请刷新页面", "form")
    return save(session, actor, kept, what=f"delete:{key}")


def reset(session: Session, actor: audit_service.Actor) -> QcRuleRevision:
    return save(session, actor, qc_rules.default_rules(), what="reset")


# --- sampling settings ---------------------------------------------------------------------------------------------

def settings(session: Session, org_id: int) -> QcSettings:
    row = session.scalars(org_query(QcSettings, org_id)).first()
    if row is None:
        try:
            with session.begin_nested():
                row = QcSettings(org_id=org_id, random_percent=5, below_score=60, all_severe=True,
                                 all_complaints=True)
                session.add(row)
        except IntegrityError:
            row = session.scalars(org_query(QcSettings, org_id)).one()
    return row


def _percent(raw: str, field: str, low: int, high: int) -> int:
    text = raw.strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise RuleError("out_of_range", f"请填写 {low}–{high} 的整数", field)
    return int(text)


def save_settings(session: Session, actor: audit_service.Actor, *, random_percent: str, below_score: str,
                  all_severe: bool, all_complaints: bool) -> QcSettings:
    row = settings(session, actor.org_id)
    row.random_percent = _percent(random_percent, "random_percent", 0, 100)
    row.below_score = _percent(below_score, "below_score", 0, 101)
    row.all_severe, row.all_complaints = all_severe, all_complaints
    audit_service.record(session, actor, "qc.sampling.save", "qc_settings", actor.org_id,
                         random_percent=row.random_percent, below_score=row.below_score,
                         all_severe=all_severe, all_complaints=all_complaints)
    return row
