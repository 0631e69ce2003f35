"""Reading one WebSocket frame into a JSON object and its typed fields, the same way on both sockets.

Both sockets (``/ws/visitor`` and ``/ws/agent``, docs/protocol.md) accept one small JSON object per text frame. What
a client sends is untrusted: a binary frame, a lone UTF-16 surrogate (``"a\\ud800"``, which a browser's
``JSON.stringify`` can produce), NUL, an id past a 64-bit column, a boolean where a number belongs (Python's
``bool`` is an ``int``), ``NaN``, a float, a 5,000-digit number or JSON nested ten thousand deep. Every one of them
must become a specific error frame and leave the connection open, never an exception that drops the socket (the
widget would reconnect and resend the same message forever). The functions here are pure and never raise for any
input: they return either the value or a ``FrameProblem`` naming the documented error code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from edudesk.inputs import text_problem

# Close codes both sockets use (docs/protocol.md, "Close codes"). 4xxx are ours; the rest are RFC 6455's.
CLOSE_BAD_REQUEST: Final = 4400
CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
CLOSE_NOT_FOUND: Final = 4404
CLOSE_TOO_BIG: Final = 1009
CLOSE_INTERNAL_ERROR: Final = 1011
CLOSE_TRY_AGAIN_LATER: Final = 1013

# Error codes every socket can answer before a frame reaches its handler.
BINARY_FRAME: Final = "binary_frame"
BAD_JSON: Final = "bad_json"
BAD_FRAME: Final = "bad_frame"
UNKNOWN_TYPE: Final = "unknown_type"
BAD_TEXT: Final = "bad_text"
BAD_ID: Final = "bad_id"
INTERNAL_ERROR: Final = "internal_error"

JsonObject = dict[str, Any]

# The largest id a frame may name. Every primary key is an INTEGER column, 32-bit on PostgreSQL: a larger value
# (inputs.MAX_DB_ID allows up to 2^63 − 1) cannot name a row and makes PostgreSQL refuse the query itself.
MAX_ROW_ID: Final = 2**31 - 1


@dataclass(frozen=True)
class FrameProblem:
    """Why a frame was refused: an ``error`` frame's ``code``, ``message``, ``field`` and ``client_id``."""

    code: str
    message: str
    field: str | None = None
    client_id: str | None = None

    def as_frame(self) -> JsonObject:
        frame: JsonObject = {"type": "error", "code": self.code, "message": self.message}
        if self.field is not None:
            frame["field"] = self.field
        if self.client_id is not None:
            frame["client_id"] = self.client_id
        return frame


class Refused(Exception):
    """Raised by the field readers below and caught by each socket's ``parse``: never leaves this package's
    parsers."""

    def __init__(self, problem: FrameProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def utf8_size(text: str) -> int:
    """Bytes ``text`` takes on the wire; lone surrogates (already decoded from JSON) count as three bytes."""
    return len(text.encode("utf-8", "surrogatepass"))


def too_large(raw: str | bytes, max_bytes: int) -> bool:
    """Whether a frame is over the size limit. A server in front of the app (uvicorn's ``ws_max_size``) refuses
    such frames before buffering them; this is the same rule for any other ASGI server and for tests."""
    if isinstance(raw, bytes):
        return len(raw) > max_bytes
    return len(raw) > max_bytes or utf8_size(raw) > max_bytes


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode(raw: str | bytes | None) -> JsonObject | FrameProblem:
    """One text frame as a JSON object with a string ``type``."""
    if not isinstance(raw, str):
        return FrameProblem(BINARY_FRAME, "只接受文本消息（JSON），不接受二进制消息")
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # ValueError covers numbers past Python's digit limit too
        return FrameProblem(BAD_JSON, "无法解析的消息格式（须为 JSON 对象）")
    if not isinstance(value, dict):
        return FrameProblem(BAD_FRAME, "消息须为 JSON 对象", "type")
    kind = value.get("type")
    if not isinstance(kind, str):
        return FrameProblem(BAD_FRAME, "消息缺少 type（字符串）", "type")
    return value


def unknown_type(kind: str) -> FrameProblem:
    shown = kind[:32] if text_problem(kind) is None else "?"
    return FrameProblem(UNKNOWN_TYPE, f"未知的消息类型：{shown}", "type")


def _refuse(code: str, message: str, field: str, client_id: str | None) -> Refused:
    return Refused(FrameProblem(code, message, field, client_id))


def get_str(frame: Mapping[str, Any], field: str, *, client_id: str | None = None, required: bool = False,
            min_len: int = 0, max_len: int | None = None) -> str | None:
    """A text field: a JSON string that a database can store (no lone surrogate, NUL or control character).
    ``null`` is the same as absent."""
    value = frame.get(field)
    if value is None:
        if required:
            raise _refuse(BAD_FRAME, f"缺少 {field}（字符串）", field, client_id)
        return None
    if not isinstance(value, str):
        raise _refuse(BAD_FRAME, f"{field} 必须是字符串", field, client_id)
    problem = text_problem(value)
    if problem is not None:
        raise _refuse(BAD_TEXT, f"{field} {problem}", field, client_id)
    if len(value) < min_len or (max_len is not None and len(value) > max_len):
        span = f"{min_len}–{max_len}" if max_len is not None else f"至少 {min_len}"
        raise _refuse(BAD_FRAME, f"{field} 必须是 {span} 个字符的字符串", field, client_id)
    return value


def get_bool(frame: Mapping[str, Any], field: str, *, client_id: str | None = None,
             default: bool | None = None) -> bool:
    """``true`` or ``false`` only: 0, 1 and "true" are refused rather than guessed at."""
    value = frame.get(field)
    if value is None and default is not None:
        return default
    if not isinstance(value, bool):
        raise _refuse(BAD_FRAME, f"{field} 必须是 true 或 false", field, client_id)
    return value


def get_int(frame: Mapping[str, Any], field: str, *, client_id: str | None = None) -> int:
    """A required JSON integer: not a boolean, not a float (``4.0`` included), not a string of digits."""
    value = frame.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _refuse(BAD_FRAME, f"{field} 必须是整数", field, client_id)
    return value


def get_id(frame: Mapping[str, Any], field: str, *, client_id: str | None = None) -> int:
    """A row id: an integer from 1 to ``MAX_ROW_ID``."""
    value = get_int(frame, field, client_id=client_id)
    if not 1 <= value <= MAX_ROW_ID:
        raise _refuse(BAD_ID, f"{field} 必须是 1 到 {MAX_ROW_ID} 之间的整数", field, client_id)
    return value


def get_optional_id(frame: Mapping[str, Any], field: str, *, client_id: str | None = None) -> int | None:
    """``get_id`` for a field that may be absent or ``null``."""
    if frame.get(field) is None:
        return None
    return get_id(frame, field, client_id=client_id)
