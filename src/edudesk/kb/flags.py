"""Staff marking a bot answer as wrong from the console ("答错了"): labelled data for the knowledge base.

A visitor's 👎 says an answer did not help; an agent who read the conversation knows when it answered the wrong
question. The flag logs a ``flagged`` miss with the visitor's question and the entry the bot wrongly answered with,
so it reaches the misses page, where an editor adds the wording to the right entry, makes a new entry or dismisses
it. That resolution is the label the answer-quality report (``kb.quality``) scores. Any staff role may flag (the
agent is the one who saw it); once per answer message.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.conversations import service as conversations_service
from edudesk.db import NotFoundError
from edudesk.errors import DomainError
from edudesk.kb import service as kb_service
from edudesk.kb.models import KbMiss, MissReason

# Bot replies that answered with an entry (bot.faq's "answer"; bot.manners' repeat of an answer).
ANSWER_KINDS = frozenset({"answer", "answer_again"})


def flag_wrong_answer(session: Session, actor: audit_service.Actor, message_id: int) -> bool:
    """Logs the bot answer ``message_id`` as wrong; False when it was flagged before (nothing new logged)."""
    msg = conversations_service.message_in_org(session, actor.org_id, message_id)
    if msg is None:
        raise NotFoundError("message", message_id)
    extra = msg.extra or {}
    entry_id = extra.get("kb_entry_id")
    if msg.sender.value != "bot" or extra.get("kind") not in ANSWER_KINDS or not isinstance(entry_id, int):
        raise DomainError("not_an_answer", "只能标记机器人用知识库回答的消息", "message_id")
    already = session.scalars(select(KbMiss.id).where(
        KbMiss.org_id == actor.org_id, KbMiss.message_id == msg.id, KbMiss.reason == MissReason.flagged).limit(1))
    if already.first() is not None:
        return False
    question = conversations_service.visitor_question_before(session, msg)
    if not question.strip():  # an answer to a clicked hot question: there is no visitor wording to label
        raise DomainError("no_question", "这条回答之前没有访客的提问，无法标记", "message_id")
    kb_service.record_miss(session, actor.org_id, question, MissReason.flagged, conversation_id=msg.conversation_id,
                           message_id=msg.id, entry_id=entry_id)
    audit_service.record(session, actor, "kb.answer.flagged", "message", msg.id, entry_id=entry_id)
    return True
