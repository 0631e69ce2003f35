"""Classification rules (admin → 访客 → 分类规则) and running them for a contact.

A contact is classified again, in a durable job, whenever their trail or their conversation changes: callers call
``trail_changed`` in the transaction of the change, which enqueues one job per contact unless one is already
waiting (``ContactClassification.queued``), a few seconds ahead so a burst of page views costs one run. The job
sets the tags of rules that hold and removes those of rules that stopped holding — only tags a rule set, never
one staff added by hand, and not again a rule's tag staff removed by hand while the rule still holds — then tells
the lead its tag points (``leads_service.set_tag_points``), which grades it again.

Cheap under load (issue 17): each process keeps the org's parsed rules (``rules_of``) keyed by
``ProfileState.rules_version``, a fresh number written in the transaction of every change to the rules or the
course pages, so one small query tells whether the cached rules are still the org's, on every instance. A caller
that knows what changed (``changed``: a new signal, a new FAQ category, page views) lets ``trail_changed`` skip a
contact whose last run used these very rules when no rule looks at that change: running them again could not
change a tag or a point.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
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
    """Adds the default rules once per org (the demo calls it; other orgs get them on first use). Two first uses
    at once (two instances' jobs): the one that loses the race reads what the other stored."""
    try:
        with session.begin_nested():
            return _seed_defaults(session, org_id)
    except IntegrityError:
        return list(session.scalars(org_query(ClassifyRule, org_id).order_by(ClassifyRule.position)))


def _seed_defaults(session: Session, org_id: int) -> list[ClassifyRule]:
    settings = session.scalars(org_query(ProfileState, org_id)).first()
    if settings is None:
        settings = ProfileState(org_id=org_id)
        session.add(settings)
    if settings.rules_seeded:
        return list(session.scalars(org_query(ClassifyRule, org_id).order_by(ClassifyRule.position)))
    settings.rules_seeded = True
    settings.rules_version = _new_version()
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
    rules_changed(session, org_id)
    return row


def delete_rule(session: Session, actor: audit_service.Actor, rule_id: int) -> None:
    """Deletes a rule; the tags it set stay until each contact is classified again (then they go)."""
    row = get_in_org(session, ClassifyRule, rule_id, actor.org_id)
    audit_service.record(session, actor, "visitors.rule.delete", "classify_rule", row.id, tag=row.tag)
    session.delete(row)
    session.flush()
    rules_changed(session, actor.org_id)


def specs(rows: list[ClassifyRule]) -> list[RuleSpec]:
    return [RuleSpec(r.id, r.tag, tuple(classify.Condition.from_dict(c) for c in r.conditions or ()), r.points,
                     r.label) for r in rows if r.enabled]


# --- the per-process cache of each org's rules ----------------------------------------------------------------

@dataclass(frozen=True)
class OrgRules:
    """An org's enabled rules, parsed, with the ``rules_version`` they were read under (None: not cacheable)."""

    version: int | None
    specs: tuple[RuleSpec, ...]

    @property
    def kinds(self) -> frozenset[str]:
        """The condition kinds the rules read: the facts ``facts_of`` has to gather, and no other."""
        return frozenset(c.kind for r in self.specs for c in r.conditions)


_CACHE: dict[int, OrgRules] = {}
_CACHE_MAX = 10_000  # orgs; a process serving more starts over (one query each to fill it again)


def _new_version() -> int:
    # Random, not a counter: a change rolled back may have filled a process's cache under its number, which then
    # must not come back as a later change's (a counter would repeat it).
    return secrets.randbelow(_VERSIONS)


_VERSIONS = 2**30  # version + step stays below 2**31: the column is an INTEGER


def rules_changed(session: Session, org_id: int) -> None:
    """Call in the transaction of any change to what classification reads from the org's settings (its rules, its
    course pages): every process's cached rules for the org become stale at commit, and every contact is run again
    on their next change (``trail_changed`` skips nothing for a contact last run under another version). The new
    version is the old one plus a random step, never the old one itself, and written by one UPDATE, so two admins
    saving at once both change it."""
    step = 1 + secrets.randbelow(_VERSIONS - 1)
    result = session.execute(update(ProfileState).where(ProfileState.org_id == org_id)
                             .values(rules_version=(ProfileState.rules_version + step) % _VERSIONS)
                             .execution_options(synchronize_session="fetch"))
    if not getattr(result, "rowcount", 0):  # an org that never asked for its rules: seeding will come
        session.add(ProfileState(org_id=org_id, rules_seeded=False, rules_version=_new_version()))
        session.flush()


def rules_of(session: Session, org_id: int, *, seed: bool = True) -> OrgRules:
    """The org's enabled rules, parsed: from this process's cache while ``rules_version`` is unchanged (one small
    query), else read (and the defaults seeded, as ``list_rules`` does). ``seed=False`` (a visitor's message): an
    org whose rules were never seeded gets no version and no rules instead — its first job seeds them, so
    concurrent first messages do not all try to."""
    version = session.scalar(select(ProfileState.rules_version).where(ProfileState.org_id == org_id,
                                                                      ProfileState.rules_seeded.is_(True)))
    if version is not None:
        cached = _CACHE.get(org_id)
        if cached is not None and cached.version == version:
            return cached
    elif not seed:
        return OrgRules(None, ())
    rows = list_rules(session, org_id)
    if version is None:  # just seeded (or an org seeded before the rules kept a version)
        version = session.scalar(select(ProfileState.rules_version).where(ProfileState.org_id == org_id))
    made = OrgRules(version, tuple(specs(rows)))
    if version is not None:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[org_id] = made
    return made


# --- running the rules ------------------------------------------------------------------------------------------

def state_of(session: Session, org_id: int, contact_id: int) -> ContactClassification | None:
    return session.scalars(org_query(ContactClassification, org_id)
                           .where(ContactClassification.contact_id == contact_id)).first()


def _state_for_update(session: Session, org_id: int, contact_id: int, *, read: bool = True
                      ) -> ContactClassification:
    """The contact's classification state, created when it has none. ``read=False``: the caller has just read it
    in this transaction and found none (one SELECT less on every new visitor's first signal); a concurrent
    creation is still caught by the unique key."""
    row = state_of(session, org_id, contact_id) if read else None
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


def trail_changed(session: Session, org_id: int, contact_ids: list[int] | set[int], *,
                  changed: Mapping[str, Collection[str]] | None = None) -> int:
    """The contacts' trail or conversation changed: classify them again soon. Call it in the transaction of the
    change; enqueues at most one job per contact at a time (debounced). Returns how many jobs were enqueued.

    ``changed`` says what changed when the caller knows (``classify.could_change``: condition kind → the new
    values, empty for "any"); None is "anything". A contact last run under the org's current rules is then skipped
    when no rule looks at that change. Cheap for the trail writer's batches: one query reads the contacts' states
    whatever their number (a contact seen for the first time costs one insert more), and a contact whose job is
    still waiting costs nothing more."""
    wanted = sorted(set(contact_ids))
    if not wanted:
        return 0
    current: int | None = None
    if changed is not None:
        rules = rules_of(session, org_id, seed=False)
        if not classify.could_change(rules.specs, changed):
            current = rules.version  # None (not known): nothing is skipped
    states: dict[int, ContactClassification] = {}
    for start in range(0, len(wanted), 500):
        for row in session.scalars(org_query(ContactClassification, org_id)
                                   .where(ContactClassification.contact_id.in_(wanted[start:start + 500]))):
            states[row.contact_id] = row
    enqueued = 0
    for contact_id in wanted:
        row = states.get(contact_id) or _state_for_update(session, org_id, contact_id, read=False)
        if row.queued or (current is not None and row.rules_version == current):
            continue
        row.queued = True
        jobs.enqueue(session, CLASSIFY_JOB, {"org_id": org_id, "contact_id": contact_id}, org_id=org_id,
                     run_at=utcnow() + DEBOUNCE, max_attempts=5)
        enqueued += 1
    session.flush()
    return enqueued


def apply(session: Session, org_id: int, contact_id: int, holding: dict[str, tuple[RuleSpec, str]],
          rules: Collection[RuleSpec], *, version: int | None = None) -> tuple[list[str], list[str]]:
    """Sets the tags of the rules that hold and removes those of rules that stopped holding; returns (added,
    removed). ``holding`` is ``classify.evaluate``'s answer; ``version`` the ``rules_version`` ``rules`` were
    read under (remembered, so a later change no rule reads may skip this contact)."""
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
    state.rules_version = version
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
