"""The ticket life cycle as tables that refuse illegal moves, and the labels staff read.

``new → open → pending → solved → closed``: a visitor writing again brings a pending or solved ticket back to
``open``; ``closed`` is final (a visitor who writes later gets a new ticket from routing, not an old one reopened),
so reports on closed tickets never change under them.
"""

from __future__ import annotations

from edudesk.errors import DomainError
from edudesk.tickets.models import CommentKind, TicketPriority, TicketSource, TicketStatus

S = TicketStatus

ALLOWED: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.new: frozenset({S.open, S.pending, S.solved, S.closed}),
    S.open: frozenset({S.pending, S.solved, S.closed}),
    # pending → open: the visitor answered (or staff take it up again).
    S.pending: frozenset({S.open, S.solved, S.closed}),
    # solved → open: the visitor says it is not solved after all.
    S.solved: frozenset({S.open, S.closed}),
    S.closed: frozenset(),
}

# Statuses in which the ticket still needs staff; a visitor's message is added to the most recent one of these.
ACTIVE = (S.new, S.open, S.pending, S.solved)
# Statuses in which the resolution clock runs (pending waits for the visitor, solved is done).
RESOLUTION_RUNS = (S.new, S.open)
# Statuses in which the first-response clock runs, until the first staff reply.
FIRST_RESPONSE_RUNS = (S.new, S.open, S.pending)

STATUS_LABELS: dict[str, str] = {
    S.new: "新建", S.open: "处理中", S.pending: "等待回复", S.solved: "已解决", S.closed: "已关闭",
}
PRIORITY_LABELS: dict[str, str] = {
    TicketPriority.low: "低", TicketPriority.normal: "普通", TicketPriority.high: "高", TicketPriority.urgent: "紧急",
}
# Sorting by priority: urgent first.
PRIORITY_RANK: dict[str, int] = {
    TicketPriority.urgent: 0, TicketPriority.high: 1, TicketPriority.normal: 2, TicketPriority.low: 3,
}
SOURCE_LABELS: dict[str, str] = {
    TicketSource.off_hours: "非工作时间留言", TicketSource.queue_timeout: "排队超时", TicketSource.agent: "客服创建",
    TicketSource.api: "API", TicketSource.callback: "预约回电",
}
COMMENT_LABELS: dict[str, str] = {
    CommentKind.reply: "回复访客", CommentKind.note: "内部备注", CommentKind.visitor: "访客留言",
    CommentKind.system: "系统",
}


class IllegalTransition(DomainError):
    status_code = 409

    def __init__(self, current: TicketStatus, target: TicketStatus) -> None:
        super().__init__("illegal_transition",
                         f"工单不能从“{STATUS_LABELS[current]}”改为“{STATUS_LABELS[target]}”", "status")
        self.current = current
        self.target = target


def check_transition(current: TicketStatus, target: TicketStatus) -> None:
    if target not in ALLOWED[current]:
        raise IllegalTransition(current, target)
