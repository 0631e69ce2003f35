"""The answer-quality report of an org's knowledge base: ``edudesk eval faq``'s views on the org's own data.

Two sets of labelled questions (the hold-out rules are ``edudesk.evaluation.holdout``'s):

- **resolved misses.** The misses page writes its decision into ``KbMiss.resolution``: "加为词条 #X 的相似问" and
  "新建词条 #X" label the visitor's wording with entry X; anything else is a dismissal ("忽略" or the editor's
  note): the question is out of scope. A down-vote (👎) becomes a miss too, so a corrected down-vote arrives here
  with its correction; a 👎 nobody resolved carries no label and is not used. Each distinct wording counts once (the
  most recent decision wins), so one question asked forty times does not drown the others.
- **the KB's own similar questions**, k-fold, so a new org without misses still sees something.

Both are scored in the same folds (one index build per fold). Building k indexes of a big KB takes seconds, so the
report is computed by the durable job ``kb.quality`` (enqueued from the page, one waiting per org) and stored in
``kb_quality_reports``; the page shows the latest. The threshold in force is the org's own (bot settings) or the
calibrated default, with or without the embedding model as the live bot runs.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.audit import service as audit_service
from edudesk.bot import service as bot_service
from edudesk.db import org_query, utcnow
from edudesk.evaluation import service as evaluation
from edudesk.kb import service as kb_service
from edudesk.kb.models import KbMiss, KbQualityReport
from edudesk.nlp.documents import FaqDocument
from edudesk.nlp.embedding import Embedder, shared_embedder
from edudesk.nlp.matcher import MatcherConfig

QUALITY_JOB = "kb.quality"
KEEP_REPORTS = 10
# Bounds on one run: the most recent resolved misses, and similar questions sampled evenly through the KB.
MAX_MISSES = 5000
MAX_SIMILAR = 3000
REPORT_VERSION = 1

# The misses page's resolution texts (kb.misses): the entry a wording was added to, or the entry made from it.
_AS_SIMILAR = re.compile(r"加为词条 #(\d+) 的相似问")
_NEW_ENTRY = re.compile(r"新建词条 #(\d+)")


def miss_label(resolution: str) -> tuple[str, int | None]:
    """("similar" | "new", entry id) for an answered miss, ("dismissed", None) for one judged out of scope."""
    for kind, pattern in (("similar", _AS_SIMILAR), ("new", _NEW_ENTRY)):
        found = pattern.fullmatch(resolution.strip())
        if found:
            return kind, int(found.group(1))
    return "dismissed", None


def labelled_misses(session: Session, org_id: int, limit: int = MAX_MISSES) -> list[tuple[int, str, int | None]]:
    """(miss id, wording, expected entry id or None) of the org's resolved misses, one per wording, newest decision
    first."""
    rows = session.execute(
        select(KbMiss.id, KbMiss.query, KbMiss.resolution)
        .where(KbMiss.org_id == org_id, KbMiss.resolved_at.is_not(None))
        .order_by(KbMiss.resolved_at.desc(), KbMiss.id.desc()).limit(limit * 4)).all()
    seen: set[str] = set()
    labelled: list[tuple[int, str, int | None]] = []
    for miss_id, query, resolution in rows:
        key = evaluation.holdout_key(query)
        if key in seen:
            continue
        seen.add(key)
        labelled.append((miss_id, query, miss_label(resolution or "")[1]))
        if len(labelled) >= limit:
            break
    return labelled


def _section(outcomes: Sequence[evaluation.Outcome | None], current: float,
             miss_ids: dict[str, int] | None = None) -> dict[str, Any]:
    """One section's data. With ``miss_ids`` (wording → miss id) the wrong pairs name their example by miss id
    (``example_miss``) instead of copying the visitor's words: an erased or purged miss then disappears from the
    page too, and the stored report holds no visitor text."""
    scored = [o for o in outcomes if o is not None]
    section: dict[str, Any] = {"labelled": len(outcomes), "skipped": len(outcomes) - len(scored),
                               "summary": evaluation.summary(scored) if scored else None}
    if scored:
        section.update(evaluation.report_dict(scored, current))
        if miss_ids is not None:
            for pairs in section["wrong_pairs"].values():
                for pair in pairs:
                    pair["example_miss"] = miss_ids[pair.pop("example")]
    return section


def compute(documents: Sequence[FaqDocument], misses: Sequence[tuple[int, str, int | None]],
            embedder: Embedder | None, config: MatcherConfig, folds: int = evaluation.FOLDS) -> dict[str, Any]:
    """The report's data (JSON-ready): the misses section and the similar-questions section, scored together."""
    started = time.perf_counter()
    miss_queries = [evaluation.LabelledQuery(text, entry_id, n % folds)
                    for n, (_, text, entry_id) in enumerate(misses)]
    similar_queries = evaluation.similar_question_queries(documents, folds, MAX_SIMILAR)
    outcomes = evaluation.score(documents, [*miss_queries, *similar_queries], embedder, config) if documents \
        else [None] * (len(miss_queries) + len(similar_queries))
    semantic = embedder is not None
    current = config.thresholds(semantic)[0]
    return {
        "version": REPORT_VERSION, "threshold": current, "semantic": semantic, "folds": folds,
        "entries": len(documents), "texts": sum(1 + len(d.similar) for d in documents),
        "misses": _section(outcomes[:len(miss_queries)], current, {text: i for i, text, _ in misses}),
        "similar": _section(outcomes[len(miss_queries):], current),
        "seconds": round(time.perf_counter() - started, 2),
    }


def run_report(session: Session, org_id: int, requested_by: str = "", embedder: Embedder | None = None) -> \
        KbQualityReport:
    """Computes and stores a report of the org's KB as the live bot sees it today; keeps the latest few."""
    documents = kb_service.active_documents(session, org_id)
    config = bot_service.matcher_config(bot_service.get_settings(session, org_id), embeddings=embedder is not None)
    data = compute(documents, labelled_misses(session, org_id), embedder, config)
    report = KbQualityReport(org_id=org_id, report=data, requested_by=requested_by[:200], created_at=utcnow())
    session.add(report)
    session.flush()
    old = select(KbQualityReport.id).where(KbQualityReport.org_id == org_id).order_by(
        KbQualityReport.created_at.desc(), KbQualityReport.id.desc()).offset(KEEP_REPORTS)
    stale = list(session.scalars(old))
    if stale:
        session.execute(delete(KbQualityReport).where(KbQualityReport.org_id == org_id,
                                                      KbQualityReport.id.in_(stale)))
    return report


def quality_job(session: Session, payload: dict[str, Any]) -> None:
    """The ``kb.quality`` handler, with the process's shared embedding model (as the live bot uses)."""
    run_report(session, int(payload["org_id"]), str(payload.get("requested_by", "")), shared_embedder())


def register_jobs(registry: jobs.JobRegistry) -> None:
    registry.register(QUALITY_JOB, quality_job, background=True)


def in_progress(session: Session, org_id: int) -> bool:
    """Whether a report of this org is waiting for a worker or being computed."""
    stmt = select(jobs.Job.id).where(jobs.Job.kind == QUALITY_JOB, jobs.Job.org_id == org_id,
                                     jobs.Job.status.in_([jobs.JobStatus.pending, jobs.JobStatus.running]))
    return session.scalars(stmt.limit(1)).first() is not None


def request_report(session: Session, actor: audit_service.Actor) -> bool:
    """Enqueues a run unless one is already waiting or running (then False: the click asked for nothing new)."""
    if in_progress(session, actor.org_id):
        return False
    jobs.enqueue(session, QUALITY_JOB, {"org_id": actor.org_id, "requested_by": actor.label}, org_id=actor.org_id,
                 max_attempts=3)
    return True


def miss_texts(session: Session, org_id: int, data: dict[str, Any]) -> dict[int, str]:
    """The current wording of the misses a report's wrong pairs name (erased or purged ones are simply absent)."""
    ids = {p["example_miss"] for pairs in (data.get("misses", {}).get("wrong_pairs") or {}).values()
           for p in pairs if "example_miss" in p}
    if not ids:
        return {}
    rows = session.execute(select(KbMiss.id, KbMiss.query).where(KbMiss.org_id == org_id, KbMiss.id.in_(ids)))
    return {miss_id: query for miss_id, query in rows}


def last_failed(session: Session, org_id: int, since: dt.datetime | None) -> bool:
    """Whether the org's latest run gave up (all its attempts failed) after the report shown."""
    stmt = select(jobs.Job.status, jobs.Job.created_at).where(jobs.Job.kind == QUALITY_JOB, jobs.Job.org_id == org_id)
    latest_job = session.execute(stmt.order_by(jobs.Job.created_at.desc(), jobs.Job.id.desc()).limit(1)).first()
    if latest_job is None or latest_job.status is not jobs.JobStatus.failed:
        return False
    return since is None or latest_job.created_at > since


def latest(session: Session, org_id: int) -> KbQualityReport | None:
    return session.scalars(org_query(KbQualityReport, org_id).order_by(
        KbQualityReport.created_at.desc(), KbQualityReport.id.desc()).limit(1)).first()
