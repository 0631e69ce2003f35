"""Hosting bot scripts (话术流程) inside the FAQ bot: one turn of a conversation that may run a flow.

The runner (``bot.flows``) is a pure state machine; this module is the host contract it documents, still pure:
it decides, per visitor message, between continuing the running flow, answering a question the visitor asked
in the middle of it (and then re-asking the pending question), starting a flow whose trigger fired, or letting the
FAQ bot answer alone. The caller (``bot.service.respond``) loads and stores the state and writes captured values.

Precedence: a request for a human or a complaint always wins (the flow is dropped). A message that is both a fact
and a question ("三年级，学费多少？") gets the FAQ answer first, then the flow's next question.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from edudesk.bot.engine import BotDecision, BotReply, BotTurn
from edudesk.bot.faq import FaqBot
from edudesk.bot.flows import Flow, FlowEvent, FlowOutput, FlowState, advance, pick_flow, start, trial_outcome
from edudesk.nlp.extract import Extraction


@dataclass
class FlowTurn:
    decision: BotDecision
    # The flow state to store (None: no flow running), and the keys of flows this conversation finished.
    state: dict[str, Any] | None
    done: list[str]
    # (field key, value, the visitor's words) answered to the flow's questions, for the lead card.
    captured: list[tuple[str, Any, str]] = field(default_factory=list)
    started: str | None = None


def run_turn(engine: FaqBot, flows: Sequence[Flow], turn: BotTurn, *, state: Mapping[str, Any] | None,
             done: Sequence[str], known: Mapping[str, Any], extraction: Extraction | None, turns: int,
             has_contact: bool, off_hours: bool = False) -> FlowTurn:
    done_list = list(done)
    by_key = {f.key: f for f in flows if f.enabled}
    faq = engine.respond(turn)
    if faq.handoff and faq.handoff_reason in ("visitor_request", "complaint"):
        return FlowTurn(faq, None, done_list)
    running = FlowState.from_json(dict(state)) if state else None
    flow = by_key.get(running.flow_key) if running is not None else None
    if running is not None and flow is not None:
        out = advance(flow, running, turn.text, known, extraction, faq_band="answer" if faq.entry_id else None)
        return _continue(flow, out, faq, known, done_list, started=None)
    event = FlowEvent(kind="message", text=turn.text, faq_category=faq.category, turns=turns,
                      has_contact=has_contact, off_hours=off_hours, done=frozenset(done_list))
    chosen = pick_flow(list(by_key.values()), event)
    if chosen is None:
        return FlowTurn(faq, None, done_list)
    out = start(chosen, known, extraction=extraction)
    return _continue(chosen, out, faq, known, done_list, started=chosen.key)


def _continue(flow: Flow, out: FlowOutput, faq: BotDecision, known: Mapping[str, Any], done: list[str], *,
              started: str | None) -> FlowTurn:
    if out.interrupted:
        # A question in the middle of the flow: the FAQ answers it, then the pending question is asked again.
        replies = (*faq.replies, *((out.resume,) if out.resume is not None and faq.entry_id else ()))
        return FlowTurn(replace(faq, replies=replies), _state(out), done, _captured(out), started)
    for action in out.actions:
        if action.kind == "offer_trial" and out.state is not None:
            # Trial-class sessions are not bookable yet: the flow takes its "unavailable" route at once.
            follow = trial_outcome(flow, out.state, "unavailable", known)
            out = FlowOutput(replies=(*out.replies, *follow.replies), state=follow.state,
                             captured=(*out.captured, *follow.captured), actions=follow.actions)
            break
    replies: tuple[BotReply, ...] = out.replies
    # The visitor's question is answered before the script speaks: when it both states and asks something, and
    # when it is what triggered the script ("学费多少？" → the price, then "想先了解几个情况…").
    answer_first = faq.entry_id is not None and (out.asked_question or started is not None)
    if answer_first:
        replies = (*faq.replies, *replies)
    handover = next((a for a in out.actions if a.kind == "handover"), None)
    if out.state is None and flow.key not in done:
        done = [*done, flow.key]
    answered = faq.entry_id if answer_first else None
    decision = BotDecision(replies=replies, handoff=handover is not None,
                           handoff_reason=(handover.reason or "flow") if handover else None,
                           understood=True, matched=f"flow:{flow.key}", entry_id=answered,
                           category=faq.category if answered else None)
    return FlowTurn(decision, _state(out), done, _captured(out), started)


def _state(out: FlowOutput) -> dict[str, Any] | None:
    return out.state.to_json() if out.state is not None else None


def _captured(out: FlowOutput) -> list[tuple[str, Any, str]]:
    return [(c.key, c.value, c.evidence) for c in out.captured]
