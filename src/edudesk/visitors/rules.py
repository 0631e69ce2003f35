"""Classification rules (admin → 访客 → 分类规则) and running them for a contact.

A contact is classified again, in a durable job, whenever their trail or their conversation changes: callers call
``trail_changed`` in the transaction of the change, which enqueues one job per contact unless one is already
waiting (``ContactClassification.queued``), a few seconds ahead so a burst of page views costs one run. The job
sets the tags of rules that hold and removes those of rules that stopped holding — only tags a rule set, never
one staff added by hand, and not again a rule's tag staff removed by hand while the rule still holds — then tells
the lead its tag points (``leads_service.set_tag_points``), which grades it again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.audit import service as audit_service
from edudesk.contacts import service as contacts_service
from edudesk.db import get_in_org, org_query, utcnow
from edudesk.leads import service as leads_service
from edudesk.visitors import classify
from edudesk.visitors.classify import RuleError, RuleSpec
from edudesk.visitors.profile_models import ClassifyRule, ContactClassification, ProfileState

CLASSIFY_JOB = "visitors.classify"
DEBOUNCE = dt.timedelta(seconds=5)
MAX_RULES = 100
MAX_TAG = 32
MAX_LABEL = 30
SIGNALS = tuple(s for s in leads_service.KNOWN_SIGNALS if s not in ("has_phone", "has_wechat", "trial_booked",
                                                                     "return_visit"))
# (tag, conditions, points, label): the rules every org starts with (editable, deletable for good).
DEFAULT_RULES: tuple[tuple[str, str, int, str], ...] = (
    ("价格敏感", "page *price* >= 3", 15, "价格敏感"),
    ("高意向", "signal asked_trial", 15, "高意向：问过试听课"),
    ("职业教育", "campaign exam-prep", 0, "职业教育"),
)


def clean_tag(raw: str) -> str:
    tag = raw.strip()
    if not tag:
        raise RuleError("empty_tag", "请填写标签名称", "tag")
    if len(tag) > MAX_TAG:
        raise RuleError("too_long", f"标签不超过 {MAX_TAG} 个字符", "tag")
    if any(ch in tag for ch in "<>\"'&,，|\\") or any(ord(ch) < 32 for ch in tag):
        raise RuleError("bad_tag", "标签不能包含引号、尖括号、逗号或竖线", "tag")
    return tag


def list_rules(session: Session, org_id: int) -> list[ClassifyRule]:
    """The org's rules in order; the default ones are added the first time an org's rules are asked for."""
    rows = list(session.scalars(org_query(ClassifyRule, org_id).order_by(ClassifyRule.position, ClassifyRule.id)))
    if not rows:
        settings = session.scalars(org_query(ProfileState, org_id)).first()
        if settings is None or not settings.rules_seeded:
            rows = seed_defaults(session, org_id)
    return rows


def seed_defaults(session: Session, org_id: int) -> list[ClassifyRule]:
    """Adds the default rules once per org (the demo calls it; other orgs get them on first use)."""
    settings = session.scalars(org_query(ProfileState, org_id)).first()
    if settings is None:
        settings = ProfileState(org_id=org_id)
        session.add(settings)
    if settings.rules_seeded:
        return list(session.scalars(org_query(ClassifyRule, org_id).order_by(ClassifyRule.position)))
    settings.rules_seeded = True
    rows = []
    for position, (tag, text, points, label) in enumerate(DEFAULT_RULES):
        conditions = classify.parse_conditions(text, signals=SIGNALS)
        row = ClassifyRule(org_id=org_id, tag=tag, conditions=[c.as_dict() for c in conditions], points=points,
                           label=label, enabled=True, position=position)
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def save_rule(session: Session, actor: audit_service.Actor, rule_id: int | None, *, tag: str, conditions: str,
              points: str | int, label: str, enabled: bool) -> ClassifyRule:
    """Creates (``rule_id`` None) or updates a rule; errors name the field they belong beside."""
    org_id = actor.org_id
    clean = clean_tag(tag)
    parsed = classify.parse_conditions(conditions, signals=SIGNALS)
    try:
        value = int(str(points).strip() or "0")
    except ValueError:
        raise RuleError("bad_points", "加分须为整数", "points") from None
    if not -100 <= value <= 100:
        raise RuleError("bad_points", "加分在 -100 到 100 之间", "points")
    text = label.strip()
    if len(text) > MAX_LABEL or any(ch in text for ch in "<>|") or any(ord(ch) < 32 for ch in text):
        raise RuleError("bad_label", f"评分说明不超过 {MAX_LABEL} 个字符，不能包含尖括号或竖线", "label")
    rows = list_rules(session, org_id)
    if any(r.tag == clean and r.id != rule_id for r in rows):
        raise RuleError("duplicate", f"标签「{clean}」已有规则", "tag")
    if rule_id is None:
        if len(rows) >= MAX_RULES:
            raise RuleError("too_many", f"分类规则不超过 {MAX_RULES} 条", "tag")
        row = ClassifyRule(org_id=org_id, position=max((r.position for r in rows), default=-1) + 1)
        session.add(row)
    else:
        row = get_in_org(session, ClassifyRule, rule_id, org_id)
    row.tag, row.conditions, row.points = clean, [c.as_dict() for c in parsed], value
    row.label, row.enabled = text, enabled
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise RuleError("duplicate", f"标签「{clean}」已有规则", "tag") from None
    audit_service.record(session, actor, "visitors.rule.save", "classify_rule", row.id, tag=clean,
                         conditions=row.conditions, points=value)
    return row


def delete_rule(session: Session, actor: audit_service.Actor, rule_id: int) -> None:
    """Deletes a rule; the tags it set stay until each contact is classified again (then they go)."""
    row = get_in_org(session, ClassifyRule, rule_id, actor.org_id)
    audit_service.record(session, actor, "visitors.rule.delete", "classify_rule", row.id, tag=row.tag)
    session.delete(row)
    session.flush()


def specs(rows: list[ClassifyRule]) -> list[RuleSpec]:
    return [RuleSpec(r.id, r.tag, tuple(classify.Condition.from_dict(c) for c in r.conditions or ()), r.points,
                     r.label) for r in rows if r.enabled]


# --- running the rules ------------------------------------------------------------------------------------------

def state_of(session: Session, org_id: int, contact_id: int) -> ContactClassification | None:
    return session.scalars(org_query(ContactClassification, org_id)
                           .where(ContactClassification.contact_id == contact_id)).first()


def _state_for_update(session: Session, org_id: int, contact_id: int) -> ContactClassification:
    row = state_of(session, org_id, contact_id)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = ContactClassification(org_id=org_id, contact_id=contact_id, rule_tags={}, queued=False)
            session.add(row)
            session.flush()
    except IntegrityError:  # created by a concurrent transaction
        row = state_of(session, org_id, contact_id)
        assert row is not None
    return row


def trail_changed(session: Session, org_id: int, contact_ids: list[int] | set[int]) -> int:
    """The contacts' trail or conversation changed: classify them again soon. Call it in the transaction of the
    change; enqueues at most one job per contact at a time (debounced). Returns how many jobs were enqueued.

    Cheap for the trail writer's batches: one query reads the contacts' states whatever their number (a contact
    seen for the first time costs one insert more), and a contact whose job is still waiting costs nothing more."""
    wanted = sorted(set(contact_ids))
    if not wanted:
        return 0
    states: dict[int, ContactClassification] = {}
    for start in range(0, len(wanted), 500):
        for row in session.scalars(org_query(ContactClassification, org_id)
                                   .where(ContactClassification.contact_id.in_(wanted[start:start + 500]))):
            states[row.contact_id] = row
    enqueued = 0
    for contact_id in wanted:
        row = states.get(contact_id) or _state_for_update(session, org_id, contact_id)
        if row.queued:
            continue
        row.queued = True
        jobs.enqueue(session, CLASSIFY_JOB, {"org_id": org_id, "contact_id": contact_id}, org_id=org_id,
                     run_at=utcnow() + DEBOUNCE, max_attempts=5)
        enqueued += 1
    session.flush()
    return enqueued


def apply(session: Session, org_id: int, contact_id: int, holding: dict[str, tuple[RuleSpec, str]],
          rules: list[RuleSpec]) -> tuple[list[str], list[str]]:
    """Sets the tags of the rules that hold and removes those of rules that stopped holding; returns (added,
    removed). ``holding`` is ``classify.evaluate``'s answer."""
    contact = contacts_service.get(session, org_id, contact_id)
    state = _state_for_update(session, org_id, contact_id)
    tags = list(contact.tags or [])
    remembered: dict[str, Any] = {k: dict(v) for k, v in (state.rule_tags or {}).items()}
    added, removed = [], []
    for tag, meta in list(remembered.items()):
        if tag in tags or meta.get("staff_removed"):
            continue
        meta["staff_removed"] = True  # the rule set it, staff took it off: not put back while the rule holds
    for tag, (rule, reason) in holding.items():
        meta = remembered.get(tag)
        if meta is None:
            if tag in tags:
                continue  # staff (or the CRM) added it: theirs, never the rule's to remove
            tags.append(tag)
            added.append(tag)
            remembered[tag] = {"rule_id": rule.id, "reason": reason}
        elif not meta.get("staff_removed"):
            meta.update(rule_id=rule.id, reason=reason)
    for tag in [t for t in remembered if t not in holding]:
        if tag in tags and not remembered[tag].get("staff_removed"):
            tags.remove(tag)
            removed.append(tag)
        del remembered[tag]
    contacts_service.set_tags(session, contact, tags)
    state.rule_tags, state.classified_at, state.queued = remembered, utcnow(), False
    points = {f"{leads_service.TAG_PREFIX}{r.tag}": (r.points, r.label or r.tag) for r in rules if r.points}
    leads_service.set_tag_points(session, contact, points)
    session.flush()
    return added, removed


# --- privacy (for privacy.service: a contact's export and erasure) -----------------------------------------------

def export_classification(session: Session, org_id: int, contact_id: int) -> dict[str, Any]:
    """What the rules remember about one person: each tag a rule set, with the rule and the reason."""
    state = state_of(session, org_id, contact_id)
    return {"rule_tags": dict(state.rule_tags or {}) if state is not None else {},
            "classified_at": state.classified_at.isoformat() if state is not None and state.classified_at else None}


def erase_classification(session: Session, org_id: int, contact_id: int) -> int:
    """Forgets what the rules remember about one person (the reasons may quote their search keywords)."""
    state = state_of(session, org_id, contact_id)
    if state is None:
        return 0
    session.delete(state)
    session.flush()
    return 1
