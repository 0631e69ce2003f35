"""Hosting bot scripts (话术流程) inside the FAQ bot: one turn of a conversation that may run a flow.

The runner (``bot.flows``) is a pure state machine; this module is the host contract it documents, still pure:
it decides, per visitor message, between continuing the running flow, answering a question the visitor asked
in the middle of it (and then, with the runner's manners, perhaps coming back to the pending question), starting
a flow whose trigger fired, or letting the FAQ bot answer alone. The caller
(``bot.service.respond``) loads and stores the state and writes captured values.

A payload "flow:<key>" (a menu button, any button) starts that script at once, whatever its triggers and even if
this conversation ran it before: the visitor asked for it. A script running then is dropped for it. An unknown
or disabled key gets a short "not available" reply and changes nothing.

Precedence: a request for a human or a complaint always wins (the flow is dropped). A message that is both a fact
and a question ("三年级，学费多少？") gets the FAQ answer first, then the flow's next question.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from edudesk.bot.engine import BotDecision, BotReply, BotTurn, Button
from edudesk.bot.faq import FaqBot
from edudesk.bot.flows import Flow, FlowEvent, FlowOutput, FlowState, advance, pick_flow, start, trial_outcome
from edudesk.bot.flows.spec import OfferTrialStep
from edudesk.nlp.extract import Extraction


@dataclass(frozen=True)
class TrialPick:
    """What became of a click on a trial-session button: booked (with the confirmation) or why not."""

    booked: bool
    text: str


# Trial sessions for a course (None: whatever fits the visitor) as buttons; () when there is nothing to offer.
TrialOffer = Callable[[str | None], tuple[Button, ...]]
# Books the session a message picked ("trial:12"); None when the message is not such a click.
TrialBook = Callable[[str], TrialPick | None]


# A payload that starts a script by its key, whatever its triggers.
FLOW_PAYLOAD = "flow:"
FLOW_UNAVAILABLE_TEXT = "这项服务暂时不可用～您可以直接问我，或回复“转人工”联系老师。"


def flow_key_of(text: str) -> str | None:
    """The script key of a "flow:<key>" payload, or None for any other message."""
    if not text.startswith(FLOW_PAYLOAD):
        return None
    key = text[len(FLOW_PAYLOAD):].strip()
    return key or None


def unavailable(key: str) -> BotDecision:
    """The answer to a "flow:<key>" payload naming no enabled script: said plainly, not logged as a knowledge-base
    miss (the visitor asked nothing the knowledge base could answer)."""
    return BotDecision(replies=(BotReply(FLOW_UNAVAILABLE_TEXT, (), {"kind": "flow_unavailable"}),),
                       understood=True, matched=f"flow:{key}")


@dataclass
class FlowTurn:
    decision: BotDecision
    # The flow state to store (None: no flow running), and the keys of flows this conversation finished.
    state: dict[str, Any] | None
    done: list[str]
    # (field key, value, the visitor's words) answered to the flow's questions, for the lead card.
    captured: list[tuple[str, Any, str]] = field(default_factory=list)
    started: str | None = None


# The buying signals a message shows (text, the answered entry's category) → names: ``leads_service.message_signals``.
Signals = Callable[[str, str | None], Sequence[str]]


def faq_band(decision: BotDecision) -> str:
    """How the FAQ bot handled a message, as the runner reads it: answered from the knowledge base, suggested,
    missed, or answered some other way (small talk, a keyword rule)."""
    if decision.entry_id is not None:
        return "answer"
    if decision.miss_reason == "suggested":
        return "suggest"
    return "miss" if not decision.understood or decision.miss_reason else "other"


def run_turn(engine: FaqBot, flows: Sequence[Flow], turn: BotTurn, *, state: Mapping[str, Any] | None,
             done: Sequence[str], known: Mapping[str, Any], extraction: Extraction | None, turns: int,
             has_contact: bool, off_hours: bool = False, offer_trial: TrialOffer | None = None,
             book_trial: TrialBook | None = None, signals: Signals | None = None) -> FlowTurn:
    done_list = list(done)
    by_key = {f.key: f for f in flows if f.enabled}
    asked = flow_key_of(turn.text)
    if asked is not None:
        return start_by_key(by_key, asked, state=state, done=done_list, known=known, offer_trial=offer_trial)
    faq = engine.respond(turn)
    if faq.handoff and faq.handoff_reason in ("visitor_request", "complaint"):
        return FlowTurn(faq, None, done_list)
    running = FlowState.from_json(dict(state)) if state else None
    flow = by_key.get(running.flow_key) if running is not None else None
    if running is not None and flow is not None:
        step = flow.step(running.step) if flow.has_step(running.step) else None
        pick = book_trial(turn.text) if book_trial is not None and isinstance(step, OfferTrialStep) else None
        if pick is not None and isinstance(step, OfferTrialStep):
            return _picked(flow, running, step, pick, known, done_list, offer_trial)
        found = signals(turn.text, faq.category) if signals is not None else ()
        out = advance(flow, running, turn.text, known, extraction, faq_band=faq_band(faq),
                      moment=found[0] if found else None)
        return _continue(flow, out, faq, known, done_list, started=None, offer_trial=offer_trial)
    event = FlowEvent(kind="message", text=turn.text, faq_category=faq.category, turns=turns,
                      has_contact=has_contact, off_hours=off_hours, done=frozenset(done_list))
    chosen = pick_flow(list(by_key.values()), event)
    if chosen is None:
        return FlowTurn(faq, None, done_list)
    out = start(chosen, known, extraction=extraction)
    return _continue(chosen, out, faq, known, done_list, started=chosen.key, offer_trial=offer_trial)


def start_by_key(by_key: Mapping[str, Flow], key: str, *, state: Mapping[str, Any] | None, done: list[str],
                 known: Mapping[str, Any], offer_trial: TrialOffer | None = None) -> FlowTurn:
    """Starts the enabled script ``key`` now (see the module docstring); the running state is kept when there
    is no such script."""
    chosen = by_key.get(key)
    if chosen is None:
        return FlowTurn(unavailable(key), dict(state) if state else None, done)
    out = start(chosen, known)
    return _continue(chosen, out, BotDecision(), known, done, started=chosen.key, offer_trial=offer_trial)


def on_widget_opened(flows: Sequence[Flow], *, state: Mapping[str, Any] | None, done: Sequence[str],
                     known: Mapping[str, Any], has_contact: bool, off_hours: bool = False,
                     offer_trial: TrialOffer | None = None) -> FlowTurn | None:
    """The visitor opened the chat window: a script with a ``widget_opened`` trigger (or, off hours, an
    ``off_hours`` one) greets them before they type. Nothing when a script is already running or none fires."""
    if state:
        return None
    done_list = list(done)
    by_key = {f.key: f for f in flows if f.enabled}
    event = FlowEvent(kind="widget_opened", has_contact=has_contact, off_hours=off_hours,
                      done=frozenset(done_list))
    chosen = pick_flow(list(by_key.values()), event)
    if chosen is None:
        return None
    out = start(chosen, known)
    return _continue(chosen, out, BotDecision(), known, done_list, started=chosen.key, offer_trial=offer_trial)


def _picked(flow: Flow, running: FlowState, step: OfferTrialStep, pick: TrialPick, known: Mapping[str, Any],
            done: list[str], offer_trial: TrialOffer | None) -> FlowTurn:
    """A click on a session button: booked → the script's "booked" route; refused (full, too late) → the
    remaining sessions again, or the "unavailable" route when none is left."""
    if pick.booked:
        follow = trial_outcome(flow, running, "booked", known)
        out = replace(follow, replies=(BotReply(pick.text, (), {"kind": "trial_booked"}), *follow.replies))
        return _continue(flow, out, BotDecision(), known, done, started=None, offer_trial=offer_trial)
    buttons = offer_trial(step.course) if offer_trial is not None else ()
    if buttons:
        decision = BotDecision(replies=(BotReply(pick.text, buttons, {"kind": "trial_offer"}),), understood=True,
                               matched=f"flow:{flow.key}")
        return FlowTurn(decision, running.to_json(), done)
    follow = trial_outcome(flow, running, "unavailable", known)
    out = replace(follow, replies=(BotReply(pick.text), *follow.replies))
    return _continue(flow, out, BotDecision(), known, done, started=None, offer_trial=offer_trial)


def _continue(flow: Flow, out: FlowOutput, faq: BotDecision, known: Mapping[str, Any], done: list[str], *,
              started: str | None, offer_trial: TrialOffer | None = None) -> FlowTurn:
    if out.interrupted:
        # A question in the middle of the flow: the FAQ answers it, then the script's line, if it has one now (the
        # runner decides: once after a side question, once more at a better moment, never after a fallback).
        replies = (*faq.replies, *((out.resume,) if out.resume is not None else ()))
        return FlowTurn(replace(faq, replies=replies), _state(out), done, _captured(out), started)
    for action in out.actions:
        state = out.state
        if action.kind == "offer_trial" and state is not None:
            buttons = offer_trial(action.course) if offer_trial is not None else ()
            if buttons and out.replies:
                # The sessions go on the offer as buttons; the script waits for a click (or a "no").
                last = out.replies[-1]
                out = replace(out, replies=(*out.replies[:-1], replace(last, buttons=(*last.buttons, *buttons))))
            else:  # nothing bookable: the script's "unavailable" route at once
                follow = trial_outcome(flow, state, "unavailable", known)
                out = FlowOutput(replies=(*out.replies, *follow.replies), state=follow.state,
                                 captured=(*out.captured, *follow.captured), actions=follow.actions)
            break
    replies = out.replies
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
                           category=faq.category if answered else None,
                           # a message of several questions: the other answers and the parts left open go too
                           more_answers=faq.more_answers if answered else (),
                           part_misses=faq.part_misses if answered else ())
    return FlowTurn(decision, _state(out), done, _captured(out), started)


def _state(out: FlowOutput) -> dict[str, Any] | None:
    return out.state.to_json() if out.state is not None else None


def _captured(out: FlowOutput) -> list[tuple[str, Any, str]]:
    return [(c.key, c.value, c.evidence) for c in out.captured]
