"""The per-org evaluation of the grounded path, and the admin page that runs it and says whether grounded
answers may be switched on (issue 18, item 6).

The labelled questions are the org's own, as the KB's answer-quality report (``kb.quality``) takes them: resolved
misses (labelled with the entry they were added to or made into; dismissed ones are out of scope) and the KB's
similar questions held out in folds (``evaluation.holdout``: each question scored against the KB without its own
wording). The FAQ matcher answers what it answers directly; every other question (sampled evenly to
``MAX_SENT``) goes to the grounded path with the org's live endpoint, the answers of the matcher's three best
entries and the org's document passages; ``judging`` says right / wrong / refused. The result is one
``llm_evaluations`` row; ``llm.gate.grounded_gate`` reads the latest.

It runs as the durable job ``llm.evaluate`` (one waiting per org): index builds and hundreds of model calls take
minutes, never a request. Every call goes through the client, so it is logged and counted against the budget
(purpose ``eval``) and an endpoint that is down gives ``unavailable`` outcomes, which make the run incomplete.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.audit import service as audit_service
from edudesk.auth.deps import actor_of, admin
from edudesk.auth.models import User
from edudesk.bot import service as bot_service
from edudesk.context import get_ctx
from edudesk.evaluation import service as evaluation
from edudesk.forms import Rejected, submit
from edudesk.kb import quality as kb_quality
from edudesk.kb import service as kb_service
from edudesk.llm import gate as llm_gate
from edudesk.llm.assist import grounding, judging, model
from edudesk.llm.client import LlmClient
from edudesk.llm.models import LlmEvaluation
from edudesk.nlp.embedding import Embedder, shared_embedder
from edudesk.web import page

EVALUATE_JOB = "llm.evaluate"
MAX_SENT = 300
KEEP = 20
router = APIRouter(include_in_schema=False)
Admin = Annotated[User, Depends(admin)]
CsrfField = Annotated[str, Form(max_length=100)]


def _sample(items: list[Any], limit: int) -> list[Any]:
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(n * step)] for n in range(limit)]


def collect(
    session: Session, org_id: int, embedder: Embedder | None
) -> tuple[list[evaluation.LabelledQuery], list[evaluation.Outcome | None], dict[str, int]]:
    """The labelled questions, their FAQ outcomes (None: could not be scored) and standard question → entry id."""
    documents = kb_service.active_documents(session, org_id)
    config = bot_service.matcher_config(bot_service.get_settings(session, org_id), embeddings=embedder is not None)
    misses = kb_quality.labelled_misses(session, org_id)
    queries = [
        evaluation.LabelledQuery(text, entry_id, n % evaluation.FOLDS) for n, (_, text, entry_id) in enumerate(misses)
    ]
    queries += evaluation.similar_question_queries(documents, evaluation.FOLDS, kb_quality.MAX_SIMILAR)
    outcomes: list[evaluation.Outcome | None] = (
        evaluation.score(documents, queries, embedder, config) if documents else [None] * len(queries)
    )
    return queries, outcomes, {d.question: d.entry_id for d in documents}


def evaluate_org(
    session: Session, org_id: int, answer: judging.Answerer, embedder: Embedder | None, requested_by: str = ""
) -> LlmEvaluation:
    """Scores the org's labelled questions (module docstring) and stores the run."""
    queries, outcomes, ids = collect(session, org_id, embedder)
    cards = kb_service.answer_contents(session, org_id, ids.values())
    tally = judging.Tally()
    pending = []
    skipped = 0
    for query, outcome in zip(queries, outcomes, strict=True):
        if outcome is None:
            skipped += 1
            continue
        if outcome.expected is None:
            tally.out_of_scope += 1
            tally.faq_out_answered += outcome.answer is not None
        else:
            tally.in_scope += 1
            tally.faq_answered += outcome.answer is not None
            tally.faq_wrong += outcome.answer is not None and outcome.answer != outcome.expected
        if outcome.answer is None:
            pending.append((query, outcome))
    for query, outcome in _sample(pending, MAX_SENT):
        refs = [
            judging.Reference(ids[q], f"词条 #{ids[q]} {q}", f"{q}：{cards[ids[q]].answer}")
            for q in outcome.ranked
            if q in ids and ids[q] in cards
        ]
        result = answer(query.query, refs)
        expected_answer = cards[query.expected].answer if query.expected in cards else ""
        tally.add(query.expected, judging.judge(query.expected, expected_answer, refs, result), result.reason)
    data = tally.report()
    unavailable = tally.outcomes["unavailable"]
    data.update(
        labelled=len(queries),
        skipped=skipped,
        sampled=len(pending) > MAX_SENT,
        pending=len(pending),
        complete=not tally.sent or unavailable <= tally.sent * llm_gate.MAX_UNAVAILABLE,
        requested_by=requested_by[:100],
    )
    combined = data["combined"]
    row = LlmEvaluation(
        org_id=org_id,
        queries=tally.in_scope + tally.out_of_scope,
        answered=combined["answered"],
        wrong_rate=combined["wrong_rate"],
        refused=combined["refused"],
        report=data,
    )
    session.add(row)
    session.flush()
    stale = list(
        session.scalars(
            select(LlmEvaluation.id)
            .where(LlmEvaluation.org_id == org_id)
            .order_by(LlmEvaluation.created_at.desc(), LlmEvaluation.id.desc())
            .offset(KEEP)
        )
    )
    for old in stale:
        old_row = session.get(LlmEvaluation, old)
        if old_row is not None:
            session.delete(old_row)
    return row


class EvaluateJob:
    """The ``llm.evaluate`` handler, with the process's client and shared embedding model."""

    def __init__(self, llm: LlmClient | None) -> None:
        self.llm = llm

    def __call__(self, session: Session, payload: dict[str, Any]) -> None:
        org_id = int(payload["org_id"])
        answer = grounding.live_answerer(self.llm, session, org_id)
        evaluate_org(session, org_id, answer, shared_embedder(), str(payload.get("requested_by", "")))


def register_jobs(registry: jobs.JobRegistry, llm: LlmClient | None) -> None:
    registry.register(EVALUATE_JOB, EvaluateJob(llm))


def in_progress(session: Session, org_id: int) -> bool:
    stmt = select(jobs.Job.id).where(
        jobs.Job.kind == EVALUATE_JOB,
        jobs.Job.org_id == org_id,
        jobs.Job.status.in_([jobs.JobStatus.pending, jobs.JobStatus.running]),
    )
    return session.scalars(stmt.limit(1)).first() is not None


def request_run(session: Session, actor: audit_service.Actor) -> bool:
    """Enqueues a run unless one is waiting or running (False) ; needs an endpoint switched on."""
    if not model.configured(session, actor.org_id):
        raise grounding.AssistUnavailable("not_configured", "请先配置并启用大模型接口")
    if in_progress(session, actor.org_id):
        return False
    jobs.enqueue(
        session,
        EVALUATE_JOB,
        {"org_id": actor.org_id, "requested_by": actor.label},
        org_id=actor.org_id,
        max_attempts=1,
    )
    audit_service.record(session, actor, "llm.evaluation.request", "org", actor.org_id)
    return True


# --- the admin page -----------------------------------------------------------------------------------------------


def _page(
    request: Request, user: User, *, notice: str | None = None, error: str | None = None, code: int = 200
) -> Response:
    with get_ctx(request).db.session() as session:
        latest = llm_gate.latest_evaluation(session, user.org_id)
        allowed, why = llm_gate.grounded_gate(session, user.org_id)
        running = in_progress(session, user.org_id)
        configured = model.configured(session, user.org_id)
    return page(
        request,
        "llm/evaluation.html",
        status_code=code,
        user=user,
        latest=latest,
        data=latest.report if latest is not None else None,
        allowed=allowed,
        why=why,
        running=running,
        configured=configured,
        notice=notice,
        error=error,
        max_wrong=llm_gate.MAX_WRONG_RATE,
    )


@router.get("/admin/llm/evaluation", response_class=HTMLResponse)
def evaluation_page(request: Request, user: Admin) -> Response:
    return _page(request, user)


@router.post("/admin/llm/evaluation", response_class=HTMLResponse)
def evaluation_run(request: Request, user: Admin, csrf_token: CsrfField = "") -> Response:
    queued = submit(request, csrf_token, lambda session: request_run(session, actor_of(request, user)))
    if isinstance(queued, Rejected):
        return _page(request, user, error=queued.message, code=queued.status)
    return _page(
        request,
        user,
        notice="已开始评估，通常需要几分钟，请稍后刷新本页" if queued else "评估正在进行中，完成后刷新本页即可看到结果",
    )
