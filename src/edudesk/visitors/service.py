"""The visitors area's public entry (other areas, channels and the app call ``visitors_service.X``).

The trail: its settings (``settings_of``, ``save_settings``), reading it (``visits_of``, ``touches_of_*``), linking
a visitor's trail to their contact (``link_contact``), the 套电率 rows by source, the purge, export and erasure —
the work lives in ``trail``, ``trail_ops``, ``settings`` and ``attribution``.

Profile and classification (this part): ``profile_of`` (the console's 用户画像), ``trail_changed`` (call it when a
contact's trail or conversation changed, in that transaction: the contact is classified again in a debounced
durable job), the classification, course-pattern and 千人千面 rules the admin edits, the personalised widget
session, suggestion clicks and merging contacts that are one person. The work lives in ``profile``, ``rules``,
``courses``, ``personal`` and ``merge``; the pure parts in ``patterns``, ``classify`` and ``personalise``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.contacts import service as contacts_service
from edudesk.db import NotFoundError
from edudesk.visitors import attribution as _attribution
from edudesk.visitors import classify
from edudesk.visitors import settings as _settings
from edudesk.visitors import trail as _trail
from edudesk.visitors.courses import CourseError, add_pattern, course_names, delete_pattern, list_patterns
from edudesk.visitors.invitations import erase_invitations, export_invitations
from edudesk.visitors.merge import merge_contacts, merge_on_phone
from edudesk.visitors.personal import (
    PersonalError,
    PersonalInput,
    Personalised,
    count_click,
    for_session,
    report,
)
from edudesk.visitors.personal import delete_rule as delete_personal_rule
from edudesk.visitors.personal import get_rule as get_personal_rule
from edudesk.visitors.personal import list_rules as list_personal_rules
from edudesk.visitors.personal import save_rule as save_personal_rule
from edudesk.visitors.profile import facts_of, profile_of
from edudesk.visitors.rules import (
    CLASSIFY_JOB,
    DEFAULT_RULES,
    SIGNALS,
    OrgRules,
    delete_rule,
    erase_classification,
    export_classification,
    list_rules,
    rules_of,
    save_rule,
    seed_defaults,
    state_of,
    trail_changed,
)
from edudesk.visitors.rules import apply as apply_tags
from edudesk.visitors.trail_ops import (
    NO_TRAIL,
    erase_contact,
    export_contact,
    link_contact,
    note_first_touch,
    purge_before,
    source_kinds_of_conversations,
    touch_of,
)

log = structlog.get_logger(__name__)

SOURCE_KINDS = _attribution.SOURCE_KINDS
SOURCE_KIND_LABELS = _attribution.SOURCE_KIND_LABELS
ENGINE_LABELS = _attribution.ENGINE_LABELS
TrailSettings = _settings.TrailSettings
SettingsError = _settings.SettingsError
settings_of = _settings.settings_of
save_settings = _settings.save
parse_days = _settings.parse_days
Touches = _trail.Touches
visits_of = _trail.visits_of
page_views_of = _trail.page_views_of
touches_of_contact = _trail.touches_of_contact
touches_of_conversation = _trail.touches_of_conversation

__all__ = [
    "CLASSIFY_JOB",
    "DEFAULT_RULES",
    "ENGINE_LABELS",
    "NO_TRAIL",
    "SIGNALS",
    "SOURCE_KINDS",
    "SOURCE_KIND_LABELS",
    "CourseError",
    "PersonalError",
    "PersonalInput",
    "Personalised",
    "SettingsError",
    "Touches",
    "TrailSettings",
    "add_pattern",
    "classify_contact",
    "classify_job",
    "conversation_changed",
    "count_click",
    "course_names",
    "delete_pattern",
    "delete_personal_rule",
    "delete_rule",
    "erase_classification",
    "erase_contact",
    "erase_invitations",
    "export_classification",
    "export_contact",
    "export_invitations",
    "facts_of",
    "for_session",
    "get_personal_rule",
    "link_contact",
    "list_patterns",
    "list_personal_rules",
    "list_rules",
    "merge_contacts",
    "merge_on_phone",
    "note_first_touch",
    "page_views_of",
    "parse_days",
    "profile_of",
    "purge_before",
    "register_jobs",
    "report",
    "rules_of",
    "save_personal_rule",
    "save_rule",
    "save_settings",
    "seed_defaults",
    "settings_of",
    "source_kinds_of_conversations",
    "state_of",
    "touch_of",
    "touches_of_contact",
    "touches_of_conversation",
    "trail_changed",
    "visits_of",
]


def classify_contact(session: Session, org_id: int, contact_id: int) -> tuple[list[str], list[str]]:
    """Runs the org's rules for one contact now: (tags added, tags removed). The rules come from this process's
    cache (checked against the org's ``rules_version``) and only the facts they read are gathered."""
    rules, holding = _classification(session, org_id, contact_id)
    return apply_tags(session, org_id, contact_id, holding, rules.specs, version=rules.version)


def _classification(session: Session, org_id: int, contact_id: int
                    ) -> tuple[OrgRules, dict[str, tuple[classify.RuleSpec, str]]]:
    """The reading half: the org's rules and the tags they hold for the contact, nothing written."""
    rules = rules_of(session, org_id)
    return rules, classify.evaluate(rules.specs, facts_of(session, org_id, contact_id, rules.kinds))


def classify_job(session: Session, payload: dict[str, Any]) -> None:
    """The durable job ``trail_changed`` enqueues. A contact erased or merged away meanwhile is left alone.

    A run that fails on something other than the database is logged and given up with the contact's "queued" flag
    cleared, so their next change classifies them again, instead of a dead job leaving them "queued" for good (the
    database's own trouble, a lock or a lost connection, fails the job, which is retried as any other)."""
    org_id, contact_id = int(payload["org_id"]), int(payload["contact_id"])
    try:
        contact = contacts_service.get(session, org_id, contact_id)
    except NotFoundError:
        return
    if contact.erased_at is not None or (contact.attributes or {}).get(contacts_service.MERGED_INTO):
        state = state_of(session, org_id, contact_id)
        if state is not None:
            state.queued = False
        return
    try:
        # Read and evaluate first, write in the savepoint: on SQLite the savepoint takes the process's write gate
        # (db.py), and every visitor's message waits behind it, so it holds only the tag writes. A fact that changes
        # in between enqueues another run (``trail_changed``), as a change just after the run would.
        rules, holding = _classification(session, org_id, contact_id)
        with session.begin_nested():
            apply_tags(session, org_id, contact_id, holding, rules.specs, version=rules.version)
    except SQLAlchemyError:
        raise
    except Exception:
        log.exception("visitor_classify_failed", org_id=org_id, contact_id=contact_id)
        state = state_of(session, org_id, contact_id)
        if state is not None:
            state.queued = False


def conversation_changed(session: Session, org_id: int, contact_id: int, *, merged_lead: bool = False,
                         new_signals: Collection[str] | None = None) -> None:
    """Called by the inbound orchestrator when a visitor message showed something rules look at (a new signal, an
    FAQ category answered, a lead merged on phone / WeChat): merges the contacts that are one person, then
    classifies the contact again (debounced). ``new_signals`` (the signals this message added, nothing else having
    changed) lets a contact whose rules read none of them skip the job."""
    if merged_lead:
        merge_on_phone(session, org_id, contact_id)
        new_signals = None
    trail_changed(session, org_id, [contact_id],
                  changed=None if new_signals is None else {"signal": frozenset(new_signals)})


def register_jobs(registry: jobs.JobRegistry) -> None:
    registry.register(CLASSIFY_JOB, classify_job, background=True)
