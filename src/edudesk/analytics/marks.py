"""Marks the local days whose roll-up rows a transaction changes, in that same transaction (the outbox rule).

An ``after_flush`` hook on the session factory looks at the objects the flush wrote — conversations, leads and
their contact values, trial bookings, tickets, knowledge-base misses and votes, the bot's script state and agents'
status stretches — and inserts one ``analytics_dirty`` row per (org, day) not yet marked in this transaction. The
``analytics.refresh`` job turns marks into recomputed days. Rows written without the ORM (bulk UPDATEs, the visitor
trail's batch writer) are caught by the refresh job's look at today and by the daily repair (``analytics.jobs``).

The bot's turn is the hot path (tests/inbound/test_hot_path.py counts its statements), so a change that moves no
dashboard number marks nothing: messages are stored with a Core INSERT and show here only as the conversation's
preview columns changing, and an ordinary bot turn (the visitor's message and the bot's reply, the script moving
one step) touches only those. What does count is marked: the visitor's *first* message (the conversation becomes
valid), a message written while a human serves it (response times), any other column of the conversation (state,
queue, assignment, rating, …), a script starting or finishing (套电率 by flow).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, KeysView
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import insert, inspect, select
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from edudesk.analytics.models import DirtyDay
from edudesk.bot.models import BotConversationState
from edudesk.conversations.models import Conversation, Message
from edudesk.conversations.states import ConversationState
from edudesk.kb.models import AnswerFeedback, KbMiss
from edudesk.leads.models import Lead, LeadValue
from edudesk.localtime import LOCAL_TZ
from edudesk.routing.models import AgentStatusInterval
from edudesk.tickets.models import Ticket
from edudesk.trials.models import TrialBooking

MARKED_KEY = "edudesk_analytics_marked"
# A status stretch marks every day it covers, up to this many (rollup_others.LONGEST_STRETCH reads as far back).
MAX_STRETCH_DAYS = 31


def local_day(at: dt.datetime) -> dt.date:
    return at.astimezone(LOCAL_TZ).date()


def _created_of(session: Session, model: Any, ident: int | None) -> dt.datetime | None:
    """The start of a related row: from the identity map when loaded, else one SELECT on the flush's connection."""
    if ident is None:
        return None
    loaded = session.identity_map.get(session.identity_key(model, ident))
    if loaded is not None:
        return loaded.created_at  # type: ignore[no-any-return]
    return session.connection().execute(select(model.created_at).where(model.id == ident)).scalar()


# Conversation columns every stored message moves: by themselves they change no number (see the module's doc).
PREVIEW = frozenset({"last_message_at", "last_message_text", "unread_count", "last_visitor_message_at"})
# A lead's columns the dashboards read (its score and its reasons, say, move no number: its level does).
LEAD_COUNTED = frozenset({"level", "has_contact", "contact_captured_at", "status", "campaign", "attribution",
                          "source_channel", "owner_id", "merged_into_id", "first_conversation_id", "created_at"})
CONTACT_KEYS = ("phone", "wechat")


def _pending(obj: object) -> KeysView[str]:
    """The attributes that may have changes: only those with a committed (pre-change) value — an attribute absent
    from ``committed_state`` has no history. ``after_flush`` still sees the pre-flush state."""
    pending: dict[str, Any] = inspect(obj).committed_state
    return pending.keys()


def _changed(obj: object, keys: Iterable[str] | None = None) -> dict[str, tuple[list[Any], list[Any]]]:
    """Attribute → (old values, new values) for the attributes this flush changes (of ``keys``, when given).

    Asking every attribute of a conversation (46) for its history on every flush was a tenth of a bot turn's CPU:
    only those of ``_pending`` are asked."""
    state = inspect(obj)
    attrs = state.attrs
    pending = state.committed_state
    out = {}
    for key in tuple(pending) if keys is None else [k for k in keys if k in pending]:
        history = attrs[key].history
        if history.has_changes():
            out[key] = (list(history.deleted), list(history.added))
    return out


def counts(session: Session, obj: object, *, written: bool | None = None) -> bool:
    """Whether writing ``obj`` may move a dashboard number (new and deleted rows always may). ``written``: whether
    ``obj`` is new or deleted in this flush, when the caller knows (``session.new`` builds a set on each use)."""
    if isinstance(obj, LeadValue) and obj.key not in CONTACT_KEYS:
        return False  # only a phone or WeChat ID taken in a conversation counts (套电)
    if written if written is not None else (obj in session.new or obj in session.deleted):
        return True
    if isinstance(obj, Conversation):
        if _pending(obj) - PREVIEW:
            changed = _changed(obj)
            if set(changed) - PREVIEW:
                return True
        else:  # a message's preview, as on every bot turn: only these two are read below
            changed = _changed(obj, ("last_visitor_message_at", "last_message_at"))
        if "last_visitor_message_at" in changed:
            old = changed["last_visitor_message_at"][0]
            return not old or old[0] is None  # the first visitor message: the conversation becomes valid
        return "last_message_at" in changed and obj.state == ConversationState.assigned
    if isinstance(obj, Lead):
        return bool(set(_changed(obj)) & LEAD_COUNTED)
    if isinstance(obj, LeadValue):
        return obj.key in CONTACT_KEYS
    if isinstance(obj, BotConversationState):
        changed = _changed(obj, ("flows_done", "flow_state"))
        if "flows_done" in changed:
            return True
        if "flow_state" in changed:
            old, new = changed["flow_state"]

            def key(values: list[Any]) -> Any:
                return (values[0] or {}).get("flow_key") if values and isinstance(values[0], dict | None) else None
            return bool(key(old) != key(new))
        return False
    return True


def days_of(session: Session, obj: object) -> Iterator[tuple[int, dt.date]]:
    """(org, day) pairs whose roll-up ``obj`` feeds."""
    org_id = getattr(obj, "org_id", None)
    if org_id is None:
        return
    at: dt.datetime | None = None
    if isinstance(obj, Conversation | Lead | Ticket):
        at = obj.created_at
    elif isinstance(obj, Message | KbMiss | BotConversationState):
        at = _created_of(session, Conversation, obj.conversation_id)
    elif isinstance(obj, AnswerFeedback):
        conv_id = session.connection().execute(select(Message.conversation_id).where(
            Message.id == obj.message_id)).scalar()
        at = _created_of(session, Conversation, conv_id)
    elif isinstance(obj, LeadValue):
        at = _created_of(session, Conversation, obj.conversation_id)
        lead_at = _created_of(session, Lead, obj.lead_id)
        if lead_at is not None:
            yield org_id, local_day(lead_at)
    elif isinstance(obj, TrialBooking):
        at = _created_of(session, Lead, obj.lead_id)
    elif isinstance(obj, AgentStatusInterval):
        first = local_day(obj.started_at)
        last = local_day(obj.ended_at) if obj.ended_at is not None else first
        for n in range(min((last - first).days, MAX_STRETCH_DAYS) + 1):
            yield org_id, first + dt.timedelta(days=n)
        return
    if at is not None:
        yield org_id, local_day(at)


WATCHED = (Conversation, Message, Lead, LeadValue, TrialBooking, Ticket, KbMiss, AnswerFeedback, BotConversationState,
           AgentStatusInterval)


def _watched(objects: Iterable[object]) -> Iterator[object]:
    return (o for o in objects if isinstance(o, WATCHED))


def attach(factory: sessionmaker[Session]) -> None:
    @sa_event.listens_for(factory, "after_flush")
    def _after_flush(session: Session, flush_context: object) -> None:
        written = [*_watched(session.new), *_watched(session.deleted)]
        changed = [o for o in written if counts(session, o, written=True)]
        changed += [o for o in _watched(session.dirty) if counts(session, o, written=False)]
        if not changed:
            return
        marked: set[tuple[int, dt.date]] = session.info.setdefault(MARKED_KEY, set())
        fresh = {pair for obj in changed for pair in days_of(session, obj)} - marked
        if fresh:
            session.connection().execute(insert(DirtyDay), [{"org_id": o, "day": d} for o, d in sorted(fresh)])
            marked.update(fresh)

    @sa_event.listens_for(factory, "after_transaction_end")
    def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
        # The root ends (commit or rollback), or a savepoint does (its marks may be rolled back with it): either way
        # forget what was marked, so a later flush marks again rather than trusting a mark that may be gone.
        if transaction.parent is None or transaction.nested:
            session.info.pop(MARKED_KEY, None)
