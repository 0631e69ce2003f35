"""The visitor frame parser (channels/web/frames.py): total over every input, and exact on the cases that used to drop
the socket. The documented error codes are read from docs/protocol.md, so a new code must be documented first."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edudesk.channels.web import frames
from edudesk.channels.web.frames import Feedback, Opened, Ping, Rate, SendMessage, Typing
from edudesk.inputs import text_problem
from edudesk.wsframes import MAX_ROW_ID, FrameProblem, too_large
from tests.channels.protocol_doc import visitor_error_codes

# Codes the parser itself may answer; the services add their own (empty_message, rate_limited …).
PARSER_CODES = {"binary_frame", "bad_json", "bad_frame", "unknown_type", "bad_text", "bad_id", "bad_score"}

# Every code point, lone surrogates and control characters included (hypothesis leaves surrogates out by default).
any_text = st.text(alphabet=st.one_of(st.characters(), st.characters(categories=["Cs", "Cc"])))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
field_values = st.one_of(json_values, st.integers(min_value=-2**70, max_value=2**70), st.floats(), any_text)
frame_types = st.sampled_from([*sorted(frames.CLIENT_TYPES), "", "Message", "explode"])
field_names = st.sampled_from(["client_id", "text", "attachment_id", "payload", "draft", "is_typing", "score",
                               "comment", "message_id", "helpful", "type"])


def check_result(result: object) -> None:
    """The parser's contract: a valid command, or a documented problem code."""
    if isinstance(result, FrameProblem):
        assert result.code in PARSER_CODES, result
        assert result.code in visitor_error_codes()
        assert result.message
        frame = result.as_frame()
        assert frame["type"] == "error" and frame["code"] == result.code
        json.dumps(frame, ensure_ascii=False).encode()  # always sendable: no lone surrogate in an error frame
        return
    assert isinstance(result, SendMessage | Typing | Rate | Feedback | Opened | Ping), result
    if isinstance(result, SendMessage):
        assert 1 <= len(result.client_id) <= 64 and result.client_id.isprintable()
        assert text_problem(result.text) is None
        assert result.attachment_id is None or 1 <= result.attachment_id <= MAX_ROW_ID
        assert result.payload is None or (1 <= len(result.payload) <= 200 and text_problem(result.payload) is None)
    elif isinstance(result, Typing):
        assert text_problem(result.draft) is None and isinstance(result.is_typing, bool)
    elif isinstance(result, Rate):
        assert type(result.score) is int and (result.comment is None or text_problem(result.comment) is None)
    elif isinstance(result, Feedback):
        assert 1 <= result.message_id <= MAX_ROW_ID and type(result.helpful) is bool


@settings(max_examples=400, deadline=None)
@given(any_text)
def test_any_text_is_a_command_or_a_documented_error(raw: str) -> None:
    check_result(frames.parse(raw))


@settings(max_examples=200, deadline=None)
@given(st.binary())
def test_any_binary_frame_is_refused_with_binary_frame(raw: bytes) -> None:
    result = frames.parse(raw)
    assert isinstance(result, FrameProblem) and result.code == "binary_frame"


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_any_json_value_is_a_command_or_a_documented_error(value: Any) -> None:
    check_result(frames.parse(json.dumps(value)))


@settings(max_examples=600, deadline=None)
@given(frame_types, st.dictionaries(field_names, field_values, max_size=5))
def test_any_frame_of_a_known_type_is_a_command_or_a_documented_error(kind: str, fields: dict[str, Any]) -> None:
    raw = json.dumps({**fields, "type": kind})  # json.dumps escapes lone surrogates as \\udxxx, as browsers do
    result = frames.parse(raw)
    check_result(result)
    if isinstance(result, FrameProblem) and kind == "message" and result.field not in (None, "client_id"):
        assert result.client_id == fields.get("client_id")  # an error about a message names the message


@pytest.mark.parametrize("raw,code,field", [
    ('{"type": "message", "client_id": "c", "text": "a\\ud800"}', "bad_text", "text"),
    ('{"type": "message", "client_id": "c", "text": "a\\udc00b"}', "bad_text", "text"),
    ('{"type": "message", "client_id": "c", "text": "a\\u0000b"}', "bad_text", "text"),
    ('{"type": "message", "client_id": "c", "text": "a\\u0007b"}', "bad_text", "text"),
    ('{"type": "message", "client_id": "c", "text": "hi", "payload": "x\\ud800"}', "bad_text", "payload"),
    ('{"type": "message", "client_id": "c", "attachment_id": 9223372036854775808}', "bad_id", "attachment_id"),
    ('{"type": "message", "client_id": "c", "attachment_id": 99999999999999999999}', "bad_id", "attachment_id"),
    ('{"type": "message", "client_id": "c", "attachment_id": 2147483648}', "bad_id", "attachment_id"),
    ('{"type": "message", "client_id": "c", "attachment_id": 0}', "bad_id", "attachment_id"),
    ('{"type": "message", "client_id": "c", "attachment_id": -1}', "bad_id", "attachment_id"),
    ('{"type": "message", "client_id": "c", "attachment_id": true}', "bad_frame", "attachment_id"),
    ('{"type": "message", "client_id": "c", "attachment_id": 1.0}', "bad_frame", "attachment_id"),
    ('{"type": "message", "client_id": "c", "text": ["hi"]}', "bad_frame", "text"),
    ('{"type": "feedback", "message_id": 9223372036854775808, "helpful": true}', "bad_id", "message_id"),
    ('{"type": "feedback", "message_id": 1, "helpful": 1}', "bad_frame", "helpful"),
    ('{"type": "feedback", "message_id": true, "helpful": true}', "bad_frame", "message_id"),
    ('{"type": "rate", "score": true}', "bad_score", "score"),
    ('{"type": "rate", "score": 4.0}', "bad_score", "score"),
    ('{"type": "rate", "score": 4, "comment": "\\u0000"}', "bad_text", "comment"),
    ('{"type": "typing", "draft": "\\ud83d"}', "bad_text", "draft"),
    ('{"type": "typing", "is_typing": 1}', "bad_frame", "is_typing"),
    ('{"type": "message", "client_id": 12, "text": "hi"}', "bad_frame", "client_id"),
    ('{"type": "message", "client_id": "\\ud800", "text": "hi"}', "bad_frame", "client_id"),
    ('{"type": 1}', "bad_frame", "type"),
    ("[1, 2]", "bad_frame", "type"),
    ('"message"', "bad_frame", "type"),
    ("42", "bad_frame", "type"),
    ("null", "bad_frame", "type"),
    ('{"type": "ping", "x": NaN}', "bad_json", None),
    ('{"type": "ping", "x": Infinity}', "bad_json", None),
    ("[" * 20_000 + "]" * 20_000, "bad_json", None),
    ('{"type": "ping", "x": ' + "9" * 5000 + "}", "bad_json", None),
    ('{"type": "explode"}', "unknown_type", "type"),
    ('{"type": "\\ud800"}', "unknown_type", "type"),
])
def test_refused_frames(raw: str, code: str, field: str | None) -> None:
    result = frames.parse(raw)
    assert isinstance(result, FrameProblem)
    assert (result.code, result.field) == (code, field)
    if raw.startswith('{"type": "message", "client_id": "c"'):
        assert result.client_id == "c"
    json.dumps(result.as_frame(), ensure_ascii=False).encode()


def test_accepted_frames() -> None:
    assert frames.parse('{"type": "message", "client_id": "c", "text": "你好\\n\\t", "attachment_id": '
                        '2147483647, "payload": "trial:1"}') == SendMessage(
        "c", "你好\n\t", MAX_ROW_ID, "trial:1")
    assert frames.parse('{"type": "message", "client_id": "c", "text": "😀", "attachment_id": null}') == SendMessage(
        "c", "😀", None, None)
    assert frames.parse('{"type": "typing", "text": "三年级"}') == Typing(True, "三年级")  # the older field name
    assert frames.parse('{"type": "typing", "draft": "x", "is_typing": false}') == Typing(False, "")
    assert frames.parse('{"type": "rate", "score": 99999999999999999999}') == Rate(99999999999999999999, None)
    assert frames.parse('{"type": "feedback", "message_id": 3, "helpful": false}') == Feedback(3, False)
    assert frames.parse('{"type": "opened"}') == Opened()
    assert frames.parse('{"type": "ping", "extra": [1, {"a": 2}]}') == Ping()


def test_frame_size_counts_utf8_bytes() -> None:
    assert not too_large("长" * 5461, 16384) and too_large("长" * 5462, 16384)
    assert too_large("a" * 16385, 16384) and not too_large("a" * 16384, 16384)
    assert too_large(b"\x00" * 16385, 16384)
