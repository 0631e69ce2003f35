"""Running the inspection of one conversation and storing its result.

:class:`Inspector` keeps the compiled rules per (org, rule-set revision, org ``bot_version``): the revision changes
when someone saves rules, ``bot_version`` when the knowledge base or the course catalogue changes (the price book
is built from them). A worker inspecting a stream of closed conversations thus compiles each org's rules once.
The cache is the job handler's own (created in the app factory), not module state.

Storing is idempotent: a conversation has at most one automatic result, and inspecting it again (the job run twice,
a re-inspection after the rules changed) replaces the result and its hits in place. Conversations nobody from staff
spoke in are not inspected (every rule but the complaint one is about the agent; the bot has its own reports).
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from edudesk.catalog import service as catalog_service
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState
from edudesk.db import org_query, utcnow
from edudesk.hours import service as hours_service
from edudesk.hours.schedule import BusinessHours
from edudesk.kb import service as kb_service
from edudesk.orgs.models import Org
from edudesk.qc import ruleset
from edudesk.qc.adapt import transcript_of
from edudesk.qc.inspector import CompiledRules, Result, compile_rules
from edudesk.qc.models import QcHit, QcInspection, QcRuleRevision
from edudesk.qc.prices import PriceBook
from edudesk.qc.turns import SecondsBetween

INSPECT_JOB = "qc.inspect"
CACHE_SIZE = 256


def price_book(session: Session, org_id: int, rules: list[dict[str, Any]]) -> PriceBook:
    """Course names from the catalogue; their amounts from the active knowledge-base answers and the catalogue's
    price texts; aliases from the enabled price rules."""
    aliases: dict[str, list[str]] = {}
    for rule in rules:
        if rule.get("enabled") and rule["kind"] == "price_mismatch":
            for course, names in (rule["params"].get("aliases") or {}).items():
                aliases.setdefault(course, []).extend(names)
    courses = catalog_service.list_courses(session, org_id)
    entry_ids = [d.entry_id for d in kb_service.active_documents(session, org_id)]
    answers = [card.answer for card in kb_service.answer_contents(session, org_id, entry_ids).values()]
    texts = answers + [f"{c.name} {c.price_text}" for c in courses if c.price_text]
    return PriceBook.build([c.name for c in courses] + list(aliases), texts, aliases)


class Inspector:
    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self._cache: OrderedDict[tuple[int, int, int], CompiledRules] = OrderedDict()
        self._size = cache_size
        self._hours: OrderedDict[tuple[int, int | None, int], BusinessHours] = OrderedDict()
        self.compilations = 0

    def _versions(self, session: Session, org_id: int) -> tuple[int | None, int]:
        """(rule-set revision in force, org bot_version) in one query, without loading the rules themselves."""
        newest = select(func.max(QcRuleRevision.revision)).where(QcRuleRevision.org_id == org_id).scalar_subquery()
        row = session.execute(select(newest, Org.bot_version).where(Org.id == org_id)).one()
        return row[0], int(row[1] or 0)

    def compiled(self, session: Session, org_id: int) -> tuple[int, CompiledRules, int]:
        """(revision, its compiled rules, the org's bot_version)."""
        revision, bot_version = self._versions(session, org_id)
        found = self._cache.get((org_id, revision or 0, bot_version))
        if found is not None and revision is not None:
            self._cache.move_to_end((org_id, revision, bot_version))
            return revision, found, bot_version
        current = ruleset.current(session, org_id)
        key = (org_id, current.revision, bot_version)
        found = self._cache.get(key)
        if found is None:
            needs_book = any(r.get("enabled") and r["kind"] == "price_mismatch" for r in current.rules)
            book = price_book(session, org_id, current.rules) if needs_book else None
            found = self._cache[key] = compile_rules(current.rules, book)
            self.compilations += 1
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return current.revision, found, bot_version

    def business_seconds(self, session: Session, org_id: int, group_id: int | None,
                         bot_version: int) -> SecondsBetween:
        """The open-time measure of a group's hours, read only when a rule first asks for it and kept per org
        ``bot_version`` (saving hours bumps it)."""
        resolved: list[BusinessHours] = []

        def measure(start: dt.datetime, end: dt.datetime) -> float:
            if not resolved:
                key = (org_id, group_id, bot_version)
                hours = self._hours.get(key)
                if hours is None:
                    hours = self._hours[key] = hours_service.schedule_for(session, org_id, group_id)
                    while len(self._hours) > self._size:
                        self._hours.popitem(last=False)
                resolved.append(hours)
            return resolved[0].business_seconds_between(start, end)

        return measure

    def run(self, session: Session, org_id: int, conversation_id: int) -> QcInspection | None:
        """Inspects the conversation and stores the result (replacing an earlier one); None when not inspected."""
        conv = session.scalars(org_query(Conversation, org_id).where(Conversation.id == conversation_id)).first()
        if conv is None:
            return None
        existing = session.scalars(org_query(QcInspection, org_id).where(
            QcInspection.conversation_id == conversation_id)).first()
        if conv.state != ConversationState.closed:  # inspected once it is over (closed is final)
            return existing
        if conv.content_purged_at is not None:
            forget_text(session, org_id, [conversation_id])
            return existing
        revision, compiled, bot_version = self.compiled(session, org_id)
        adapted = transcript_of(session, conv, self.business_seconds(session, org_id, conv.group_id, bot_version))
        if not adapted.transcript.has_agent:
            if existing is not None:
                session.delete(existing)
            return None
        result = compiled.inspect(adapted.transcript)
        return store(session, conv, existing, revision, adapted.agent_id, result)

    def __call__(self, session: Session, payload: dict[str, Any]) -> None:
        """The ``qc.inspect`` job."""
        self.run(session, int(payload["org_id"]), int(payload["conversation_id"]))


def store(session: Session, conv: Conversation, existing: QcInspection | None, revision: int,
          agent_id: int | None, result: Result) -> QcInspection:
    row = existing or QcInspection(org_id=conv.org_id, conversation_id=conv.id)
    if existing is not None and existing.hit_count:
        session.execute(delete(QcHit).where(QcHit.org_id == conv.org_id, QcHit.inspection_id == existing.id))
    row.revision = revision
    row.agent_id = agent_id
    row.group_id = conv.group_id
    row.score, row.deducted, row.hit_count = result.score, result.deducted, len(result.hits)
    row.severe, row.complaint = result.severe, result.complaint
    row.rule_keys = sorted({h.rule_key for h in result.hits})
    row.closed_at = conv.closed_at or utcnow()
    row.inspected_at = utcnow()
    if existing is None:
        session.add(row)
    session.flush()
    if result.hits:  # one multi-row INSERT, no ORM objects: hits are written once and read by the pages
        session.execute(insert(QcHit), [
            {"org_id": conv.org_id, "inspection_id": row.id, "rule_key": h.rule_key, "kind": h.kind,
             "rule_name": h.name[:64], "severity": h.severity, "points": h.points, "message_id": h.ref,
             "start": h.start, "end": h.end, "matched": h.matched[:100], "reason": h.reason[:300]}
            for h in result.hits])
    return row


def forget_text(session: Session, org_id: int, conversation_ids: list[int]) -> None:
    """The words of the hits go with the transcript's content (retention purge, erasure); scores and reasons'
    rule names stay for the reports."""
    inspections = org_query(QcInspection, org_id).with_only_columns(QcInspection.id).where(
        QcInspection.conversation_id.in_(conversation_ids))
    session.execute(update(QcHit).where(QcHit.org_id == org_id, QcHit.inspection_id.in_(inspections.scalar_subquery()))
                    .values(matched="", reason=QcHit.rule_name), execution_options={"synchronize_session": False})
