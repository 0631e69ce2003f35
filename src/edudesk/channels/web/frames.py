"""The visitor socket's client frames (docs/protocol.md) as typed commands.

``parse`` is pure and total: for any text or bytes it returns one command or a ``FrameProblem`` whose code is in the
protocol's error table — it never raises (tests/channels/test_frames.py checks that with hypothesis). Whatever
passes here is safe to hand to the services: ids fit a 64-bit column and text can be stored on both databases.
Rules that depend on the org or the database (message length, the org's CSAT scale, whose attachment it is) stay in
the services, which answer with their own documented codes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from edudesk.wsframes import (
    BAD_FRAME,
    FrameProblem,
    JsonObject,
    Refused,
    decode,
    get_bool,
    get_id,
    get_int,
    get_optional_id,
    get_str,
    unknown_type,
)

MAX_CLIENT_ID: Final = 64
MAX_PAYLOAD: Final = 200
BAD_SCORE: Final = "bad_score"


@dataclass(frozen=True)
class SendMessage:
    client_id: str
    text: str
    attachment_id: int | None
    payload: str | None
    # The 千人千面 rule whose suggestion (hot question / 猜你所想) the visitor clicked, counted for its report.
    suggestion: int | None = None
    invitation_id: int | None = None  # the invitation shown when the visitor wrote: it is taken up


@dataclass(frozen=True)
class Typing:
    is_typing: bool
    draft: str


@dataclass(frozen=True)
class Rate:
    score: int
    comment: str | None


@dataclass(frozen=True)
class Feedback:
    message_id: int
    helpful: bool


@dataclass(frozen=True)
class Opened:
    pass


@dataclass(frozen=True)
class Ping:
    pass


VisitorCommand = SendMessage | Typing | Rate | Feedback | Opened | Ping


def _client_id(frame: JsonObject) -> str:
    value = frame.get("client_id")
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_CLIENT_ID or not value.isprintable():
        raise Refused(FrameProblem(BAD_FRAME, f"client_id 必须是 1–{MAX_CLIENT_ID} 个可打印字符的字符串",
                                   "client_id"))
    return value


def _message(frame: JsonObject) -> SendMessage:
    cid = _client_id(frame)  # first, so every later problem names the message it is about
    text = get_str(frame, "text", client_id=cid) or ""
    attachment_id = get_optional_id(frame, "attachment_id", client_id=cid)
    payload = get_str(frame, "payload", client_id=cid, min_len=1, max_len=MAX_PAYLOAD)
    invitation_id = get_optional_id(frame, "invitation_id", client_id=cid)
    return SendMessage(cid, text, attachment_id, payload, suggestion=_suggestion(frame), invitation_id=invitation_id)


def _suggestion(frame: JsonObject) -> int | None:
    """The optional 千人千面 rule id of a clicked suggestion. Only counts a click, so a value that is not an id is
    ignored rather than refusing the visitor's message."""
    value = frame.get("suggestion")
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 2**31 - 1:
        return value
    return None


def _typing(frame: JsonObject) -> Typing:
    # ``draft`` is the field; ``text`` is what widgets of the previous release sent.
    field = "draft" if frame.get("draft") is not None else "text"
    draft = get_str(frame, field) or ""
    is_typing = get_bool(frame, "is_typing", default=True)
    return Typing(is_typing, draft if is_typing else "")


def _rate(frame: JsonObject) -> Rate:
    # Any wrong score is ``bad_score`` (the widget re-enables its rating form on that code); the range, 1 … the
    # org's scale, is the service's rule.
    try:
        score = get_int(frame, "score")
    except Refused:
        raise Refused(FrameProblem(BAD_SCORE, "评分须为整数", "score")) from None
    return Rate(score, get_str(frame, "comment"))


def _feedback(frame: JsonObject) -> Feedback:
    return Feedback(get_id(frame, "message_id"), get_bool(frame, "helpful"))


_PARSERS: Final[dict[str, Callable[[JsonObject], VisitorCommand]]] = {
    "message": _message,
    "typing": _typing,
    "rate": _rate,
    "feedback": _feedback,
    "opened": lambda frame: Opened(),
    "ping": lambda frame: Ping(),
}

CLIENT_TYPES: Final = frozenset(_PARSERS)


def parse(raw: str | bytes | None) -> VisitorCommand | FrameProblem:
    """One raw frame as a command, or the problem to answer with an ``error`` frame."""
    frame = decode(raw)
    if isinstance(frame, FrameProblem):
        return frame
    kind: str = frame["type"]
    parser = _PARSERS.get(kind)
    if parser is None:
        return unknown_type(kind)
    try:
        return parser(frame)
    except Refused as exc:
        return exc.problem
