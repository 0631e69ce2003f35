"""The agent socket's frame parser (conversations/agent_frames.py): total over every input, exact on the rest."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edudesk.conversations import agent_frames
from edudesk.conversations.agent_frames import AgentPing, AgentTyping
from edudesk.wsframes import MAX_ROW_ID, FrameProblem
from tests.channels.protocol_doc import agent_error_codes

any_text = st.text(alphabet=st.one_of(st.characters(), st.characters(categories=["Cs", "Cc"])))
values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | any_text,
                      lambda c: st.lists(c, max_size=3) | st.dictionaries(any_text, c, max_size=3), max_leaves=8)


def check(result: object) -> None:
    if isinstance(result, FrameProblem):
        assert result.code in agent_error_codes() and result.client_id is None
        json.dumps(result.as_frame(), ensure_ascii=False).encode()
    else:
        assert isinstance(result, AgentTyping | AgentPing)
        if isinstance(result, AgentTyping):
            assert 1 <= result.conversation_id <= MAX_ROW_ID and type(result.is_typing) is bool


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_any_text(raw: str) -> None:
    check(agent_frames.parse(raw))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["typing", "ping", "send", ""]), st.dictionaries(
    st.sampled_from(["conversation_id", "is_typing", "type"]), values, max_size=3))
def test_any_frame(kind: str, fields: dict[str, Any]) -> None:
    check(agent_frames.parse(json.dumps({**fields, "type": kind})))


@pytest.mark.parametrize("raw,expected", [
    ('{"type": "typing", "conversation_id": 5, "is_typing": true}', AgentTyping(5, True)),
    ('{"type": "typing", "conversation_id": 5}', AgentTyping(5, False)),
    ('{"type": "ping"}', AgentPing()),
    (b"{}", "binary_frame"),
    ("{", "bad_json"),
    ('{"type": "typing", "conversation_id": 9223372036854775808, "is_typing": true}', "bad_id"),
    ('{"type": "typing", "conversation_id": true, "is_typing": true}', "bad_frame"),
    ('{"type": "typing", "conversation_id": 5, "is_typing": 1}', "bad_frame"),
    ('{"type": "typing", "conversation_id": null}', "bad_frame"),
    ('{"type": "send"}', "unknown_type"),
])
def test_examples(raw: str | bytes, expected: object) -> None:
    result = agent_frames.parse(raw)
    if isinstance(expected, str):
        assert isinstance(result, FrameProblem) and result.code == expected
    else:
        assert result == expected
