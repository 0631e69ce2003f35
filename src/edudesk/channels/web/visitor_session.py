"""What one visitor socket does with each parsed frame: it calls the services (in a worker thread) and answers.

Every outcome of a frame is a reply frame or nothing, never an exception out of the socket's loop: a business rule
answers with its own code (``rate_limited``, ``bad_attachment`` …), and an unexpected failure (a database that is
restarting) with ``internal_error``, so the widget can retry the message later instead of reconnecting and
resending it in a loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import structlog

from edudesk import events
from edudesk.channels.base import InboundMessage
from edudesk.channels.web.frames import Feedback, Opened, Ping, Rate, SendMessage, Typing, VisitorCommand
from edudesk.channels.web.visitor_token import VisitorIdentity
from edudesk.contacts import service as contacts_service
from edudesk.context import AppContext
from edudesk.conversations import service as conversations_service
from edudesk.conversations.schemas import message_to_dict
from edudesk.conversations.states import ConversationState
from edudesk.db import NotFoundError
from edudesk.errors import DomainError
from edudesk.inbound import service as inbound_service
from edudesk.inputs import text_problem
from edudesk.ratelimit import RateLimited
from edudesk.visitors import invitations as visitors_invitations
from edudesk.visitors import service as visitors_service
from edudesk.wsframes import INTERNAL_ERROR, FrameProblem, JsonObject

log = structlog.get_logger(__name__)

CHANNEL = "web"
MAX_TYPING_PREVIEW = 200
MAX_PAGE_URL, MAX_PAGE_TITLE, MAX_REFERRER = 1000, 300, 1000


def _page_text(value: str, limit: int) -> str | None:
    """A page fact from the socket's query string, or None when it cannot be stored (a control character or NUL
    in a page title): it only labels where a conversation came from, so it is dropped rather than refused."""
    value = value[:limit]
    if not value or text_problem(value) is not None:
        return None
    return value


@dataclass(frozen=True)
class PageContext:
    """The page the visitor's socket was opened on: where a conversation (and a lead) came from."""

    url: str | None = None
    title: str | None = None
    referrer: str | None = None

    @classmethod
    def from_query(cls, url: str, title: str, referrer: str) -> PageContext:
        return cls(_page_text(url, MAX_PAGE_URL), _page_text(title, MAX_PAGE_TITLE),
                   _page_text(referrer, MAX_REFERRER))


class VisitorSession:
    """One visitor socket's commands, each in its own transaction."""

    # One per open widget socket, thousands at once: slots, and the org's id rather than its ORM row.
    __slots__ = ("contact_id", "ctx", "ident", "ip", "offer", "org_id", "page")

    def __init__(self, ctx: AppContext, org_id: int, ident: VisitorIdentity, contact_id: int, page: PageContext,
                 ip: str | None = None, offer: Callable[[JsonObject], None] | None = None) -> None:
        self.ctx, self.org_id, self.ident, self.contact_id, self.page = ctx, org_id, ident, contact_id, page
        self.ip = ip  # the address rate limits count (docs/limits.md)
        # Puts a frame on this socket's send queue (event loop only): grounded answers stream through it.
        self.offer = offer

    async def handle(self, command: VisitorCommand | FrameProblem) -> JsonObject | None:
        """The reply to one frame (an ``ack``, ``pong`` or ``error``), or None when there is none."""
        if isinstance(command, FrameProblem):
            return command.as_frame()
        if isinstance(command, Ping):
            return {"type": "pong"}
        client_id = command.client_id if isinstance(command, SendMessage) else None
        try:
            return await anyio.to_thread.run_sync(self.run, command)
        except DomainError as exc:
            return FrameProblem(exc.code, exc.message, exc.field, client_id).as_frame()
        except NotFoundError:
            return FrameProblem("not_found", "消息不存在", "message_id", client_id).as_frame()
        except Exception:
            log.exception("visitor_frame_failed", org_id=self.org_id, frame=type(command).__name__)
            return FrameProblem(INTERNAL_ERROR, "服务器暂时无法处理，请稍后重试", None, client_id).as_frame()

    def run(self, command: VisitorCommand) -> JsonObject | None:
        if isinstance(command, SendMessage):
            return self.post(command)
        if isinstance(command, Typing):
            self.typing(command)
        elif isinstance(command, Rate):
            self.rate(command)
        elif isinstance(command, Feedback):
            self.feedback(command)
        elif isinstance(command, Opened):
            self.opened()
        return None

    def post(self, cmd: SendMessage) -> JsonObject:
        msg = InboundMessage(org_id=self.org_id, channel=CHANNEL, external_user_id=self.ident.visitor_id,
                             client_message_id=cmd.client_id, text=cmd.text, attachment_id=cmd.attachment_id,
                             payload=cmd.payload, page_url=self.page.url, page_title=self.page.title,
                             referrer=self.page.referrer)
        ctx = self.ctx
        try:
            ctx.limiter.check("message", ip=self.ip, org_id=self.org_id)
        except RateLimited as exc:
            raise DomainError("rate_limited", exc.message) from None
        with ctx.db.session() as session:
            if cmd.invitation_id is not None:
                # A reply to an invitation goes to whom it spoke for, before the bot can answer it. Only a message
                # that names it looks it up: an ordinary message costs no extra statement.
                visitors_invitations.take_up(session, self.org_id, self.contact_id, cmd.invitation_id)
            result = inbound_service.receive(
                session, msg, agents_online=lambda: ctx.hub.presence.any_online(self.org_id),
                max_chars=ctx.settings.max_message_chars,
                max_per_minute=ctx.settings.visitor_messages_per_minute, bots=ctx.bots,
                name_model=ctx.settings.name_model, llm=ctx.llm, frames=self._frames(),
            )
            if cmd.suggestion is not None and result.created:
                # A click on a 千人千面 suggestion: counted with the message (a resend is not counted again).
                visitors_service.count_click(session, self.org_id, cmd.suggestion, cmd.text)
            session.commit()
            att_row = (conversations_service.get_attachment(session, self.org_id, result.message.attachment_id)
                       if result.message.attachment_id else None)
            from_db = message_to_dict(result.message, att_row)
        return {"type": "ack", "client_id": cmd.client_id, "message": from_db}

    def _frames(self) -> Callable[[JsonObject], None] | None:
        """Sends frames to this socket from the worker thread a message runs in (``bot_stream``, docs/llm.md)."""
        offer = self.offer
        if offer is None:
            return None

        def send(frame: JsonObject) -> None:
            anyio.from_thread.run_sync(offer, frame)

        return send

    def rate(self, cmd: Rate) -> None:
        with self.ctx.db.session() as session:
            conversations_service.rate(session, self.org_id, self.contact_id, cmd.score, cmd.comment)
            session.commit()

    def feedback(self, cmd: Feedback) -> None:
        with self.ctx.db.session() as session:
            inbound_service.feedback(session, self.org_id, self.contact_id, cmd.message_id, cmd.helpful)
            session.commit()

    def opened(self) -> None:
        """The chat window was opened: a greeting script may start (its messages arrive as usual)."""
        with self.ctx.db.session() as session:
            contact = contacts_service.get(session, self.org_id, self.contact_id)
            inbound_service.widget_opened(session, self.org_id, contact, CHANNEL, bots=self.ctx.bots,
                                          page_url=self.page.url, page_title=self.page.title)
            session.commit()

    def typing(self, cmd: Typing) -> None:
        with self.ctx.db.session() as session:
            conv = conversations_service.current_for_contact(session, self.org_id, self.contact_id)
            if conv is None or conv.state not in (ConversationState.queued, ConversationState.assigned):
                return
            conv_id = conv.id
        self.ctx.bus.publish([events.DomainEvent(
            type="typing.visitor", org_id=self.org_id,
            data={"conversation_id": conv_id, "draft": cmd.draft[:MAX_TYPING_PREVIEW]},
            topics=(conversations_service.agents_topic(self.org_id),),
        )])


def hello_extras(ctx: AppContext) -> dict[str, Any]:
    """What the ``hello`` frame tells the widget about this server's limits."""
    return {"max_frame_bytes": ctx.settings.max_frame_bytes, "max_message_chars": ctx.settings.max_message_chars}
