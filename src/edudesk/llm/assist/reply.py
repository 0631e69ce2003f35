"""A suggested reply for the agent (console button "AI 建议回复"): text to edit, never sent by itself.

Grounded like the bot's answers: the conversation, the KB entries the last visitor question matches, and the
org's document passages go to the model as data. The guardrails of ``llm.grounded`` (numbers, prices, dates and
phone numbers must appear in the passages; forbidden promises; the sensitive-word list) run on the suggestion,
but here a failed check is a *warning* shown beside the text rather than a block: a person reads it before
anything is sent, and the warning tells them what to check.

Who may ask: any staff member of the org on a conversation that is not closed, except that an agent may ask only
on a conversation assigned to them or to nobody (the same rule as transfer); another org's conversation is 404.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from edudesk.auth.models import Role, User
from edudesk.conversations import service as conversations_service
from edudesk.conversations.states import ConversationState
from edudesk.errors import DomainError
from edudesk.llm.assist import model, prompts
from edudesk.llm.assist.summary import transcript_lines
from edudesk.llm.client import LlmClient


class AssistError(DomainError):
    """The assist cannot be used here (a rule, not a fault of the endpoint)."""


@dataclass(frozen=True)
class Suggestion:
    text: str
    warnings: tuple[str, ...]
    sources: tuple[str, ...]


def check_may_suggest(user: User, conversation_id: int, session: Session) -> None:
    conv = conversations_service.get(session, user.org_id, conversation_id)  # another org's id: 404
    if conv.state == ConversationState.closed:
        raise AssistError("closed", "会话已关闭")
    if user.role == Role.agent and conv.assignee_id not in (None, user.id):
        raise AssistError("not_yours", "这个会话由其他老师接待，只有接待老师或主管可以使用 AI 建议回复")


def suggest_reply(
    llm: LlmClient | None, session: Session, user: User, conversation_id: int, matcher: model.Matcher | None
) -> Suggestion | None:
    """The suggestion with its warnings, or None when the model gave nothing usable."""
    check_may_suggest(user, conversation_id, session)
    lines = transcript_lines(session, user.org_id, conversation_id)
    asked = [line.text for line in lines if line.who == "访客"]
    if not asked:
        raise AssistError("no_question", "访客还没有提问，暂时无法建议回复")
    passages = model.passages(llm, session, user.org_id, asked[-1], matcher)
    raw = model.ask(
        llm,
        session,
        user.org_id,
        "suggest_reply",
        prompts.reply_messages(lines, [p.text for p in passages]),
        max_tokens=400,
        conversation_id=conversation_id,
    )
    text = prompts.clean_reply(raw)
    if text is None:
        return None
    warnings = model.check(session, user.org_id, text, passages)
    return Suggestion(text, tuple(warnings), tuple(p.label for p in passages))
