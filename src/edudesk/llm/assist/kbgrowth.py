"""Growing the knowledge base with the model: similar questions for an entry, and a draft entry from misses.

Nothing the model writes is saved by itself. Similar questions come back as candidates; the admin accepts or
rejects each, and only the accepted ones are added — through ``kb_service.update_entry`` (so the KB's own rules,
the ``kb.changed`` record and the audit entry apply), with one more audit entry naming what was accepted and what
was rejected. Candidates that would duplicate a wording are dropped before the admin sees them, with the reason:

- the same text as one of this entry's wordings, or differing only in punctuation, spaces or case (the matcher
  ignores those, so the entry gains nothing);
- a wording of another entry (standard or similar question): adding it would make the two entries compete, and
  the KB refuses an exact duplicate anyway;
- the same as an earlier candidate of the same list.

A draft from misses fills the KB entry form (question, answer, similar questions) for the editor to accept or
edit; the misses stay unresolved until the editor resolves them on the misses page.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.db import NotFoundError, org_query
from edudesk.kb import service as kb_service
from edudesk.kb.miss_groups import match_key
from edudesk.kb.models import KbMiss
from edudesk.kb.text import MAX_SIMILAR_PER_ENTRY, KbError, normalise
from edudesk.llm.assist import model, prompts, screening
from edudesk.llm.assist.reply import AssistError
from edudesk.llm.assist.screening import Candidate
from edudesk.llm.client import LlmClient

MAX_ACCEPT = prompts.MAX_CANDIDATES
MAX_DRAFT_MISSES = 20


def screen(session: Session, org_id: int, entry_id: int, texts: Iterable[str]) -> list[Candidate]:
    """Each candidate once, with the reason it is dropped (module docstring) or None."""
    entry = kb_service.get_entry(session, org_id, entry_id)
    own = [entry.question, *kb_service.similar_of(session, org_id, entry_id)]
    wanted = list(texts)
    owners = {
        norm: screening.Owner(o.entry_id, o.question, o.as_question)
        for norm, o in kb_service.text_owners(
            session, org_id, (normalise(t) for t in wanted), exclude_entry_id=entry_id
        ).items()
    }
    others: dict[str, screening.Owner] = {}
    for doc in kb_service.active_documents(session, org_id):
        if doc.entry_id != entry_id:
            for n, text in enumerate((doc.question, *doc.similar)):
                others.setdefault(match_key(text), screening.Owner(doc.entry_id, doc.question, n == 0))
    return screening.screen(own, wanted, owners, others)


def generate_similar(llm: LlmClient | None, session: Session, org_id: int, entry_id: int) -> list[Candidate] | None:
    """Screened candidates for the entry, or None when the model gave nothing usable."""
    entry = kb_service.get_entry(session, org_id, entry_id)  # another org's id: 404
    if entry.deleted_at is not None:
        raise KbError("deleted", "词条已删除，请先恢复再编辑", "question")
    similar = kb_service.similar_of(session, org_id, entry_id)
    raw = model.ask(
        llm,
        session,
        org_id,
        "similar_questions",
        prompts.similar_messages(entry.question, similar, entry.answer),
        max_tokens=600,
    )
    texts = prompts.parse_candidates(raw) if raw else []
    if not texts:
        return None
    return screen(session, org_id, entry_id, texts)


def accept_similar(
    session: Session, actor: audit_service.Actor, entry_id: int, accepted: Sequence[str], rejected: Sequence[str]
) -> tuple[list[str], list[Candidate]]:
    """Adds the accepted candidates that are still not duplicates (screened again: the KB may have changed since
    they were generated); returns (added, dropped with reasons). Audited with what was rejected."""
    if len(accepted) + len(rejected) > 2 * MAX_ACCEPT:
        raise KbError("too_many", f"一次最多处理 {MAX_ACCEPT} 个候选", "accepted")
    wanted = [t for t in (" ".join(a.split()) for a in accepted) if t]
    screened = screen(session, actor.org_id, entry_id, wanted)
    added = [c.text for c in screened if c.reason is None]
    dropped = [c for c in screened if c.reason is not None]
    entry = kb_service.get_entry(session, actor.org_id, entry_id)
    if added:
        current = kb_service.entry_input(session, entry)
        if len(current.similar) + len(added) > MAX_SIMILAR_PER_ENTRY:
            raise KbError("too_many", f"每个词条最多 {MAX_SIMILAR_PER_ENTRY} 个相似问", "accepted")
        kb_service.update_entry(
            session, actor, entry.id, dataclasses.replace(current, similar=[*current.similar, *added])
        )
    audit_service.record(
        session,
        actor,
        "kb.similar.generated",
        "kb_entry",
        entry.id,
        accepted=added,
        rejected=[r[:200] for r in rejected][:MAX_ACCEPT],
        dropped=[c.text for c in dropped][:MAX_ACCEPT],
    )
    return added, dropped


def miss_texts(session: Session, org_id: int, miss_ids: Sequence[int]) -> list[str]:
    """The wordings of the org's misses (another org's ids are simply not found), most frequent first."""
    ids = list(dict.fromkeys(miss_ids))[: MAX_DRAFT_MISSES * 10]
    if not ids:
        raise AssistError("empty", "没有选中任何问题", "miss_ids")
    rows = list(session.scalars(org_query(KbMiss, org_id).where(KbMiss.id.in_(ids))))
    found = {row.id for row in rows}
    for ident in ids:
        if ident not in found:
            raise NotFoundError("KbMiss", ident)  # another org's (or an erased) miss: as if it did not exist
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.query] = counts.get(row.query, 0) + 1
    return sorted(counts, key=lambda t: (-counts[t], t))[:MAX_DRAFT_MISSES]


def draft_from_misses(
    llm: LlmClient | None, session: Session, org_id: int, miss_ids: Sequence[int], matcher: model.Matcher | None
) -> prompts.Draft | None:
    """A KB-entry draft for the editor, or None when the model gave nothing usable. Similar questions already
    owned by an entry are left out of the draft (the form would refuse them)."""
    questions = miss_texts(session, org_id, miss_ids)
    found = model.passages(llm, session, org_id, questions[0], matcher)
    draft = prompts.parse_draft(
        model.ask(
            llm, session, org_id, "kb_draft", prompts.draft_messages(questions, [p.text for p in found]), max_tokens=800
        )
    )
    if draft is None:
        return None
    texts = [draft.question, *draft.similar]
    owners = kb_service.text_owners(session, org_id, (normalise(t) for t in texts))
    similar, keys = [], {match_key(draft.question)}
    for text in (*draft.similar, *questions):
        if normalise(text) in owners or match_key(text) in keys:
            continue
        keys.add(match_key(text))
        similar.append(text)
    return prompts.Draft(draft.question, draft.answer, tuple(similar))
