"""The phone channel labels call conversations and never sends; the phone script is valid and speakable."""

from __future__ import annotations

import pytest

from edudesk.bot.flows.spec import BUILTIN_FIELD_TYPES, load_flow
from edudesk.bot.flows.templates import PHONE_CALL_FLOW
from edudesk.channels.base import VOICE, ChannelAdapter, ChannelSendError, InboxInfo, OutboundMessage, SendContext
from edudesk.channels.phone.adapter import PhoneChannel, PhoneConfig
from edudesk.voice.robot.speech import sentences


def test_phone_channel_never_sends() -> None:
    adapter = PhoneChannel()
    assert isinstance(adapter, ChannelAdapter)
    assert (adapter.kind, adapter.label, adapter.badge, adapter.capabilities) == (
        "phone",
        "电话",
        "电",
        frozenset({VOICE}),
    )
    ctx = SendContext(InboxInfo(1, 1, "phone", "x", "电话", PhoneConfig()), services=None)  # type: ignore[arg-type]
    with pytest.raises(ChannelSendError) as caught:
        adapter.send(ctx, OutboundMessage(org_id=1, channel="phone", external_user_id="+8613800138000", text="hi"))
    assert not caught.value.retryable and caught.value.code == "not_sendable"


def test_phone_script_is_valid_and_short() -> None:
    flow = load_flow(PHONE_CALL_FLOW, field_keys=list(BUILTIN_FIELD_TYPES))
    assert flow.key == "phone_call" and not flow.triggers
    for step in PHONE_CALL_FLOW["steps"]:
        for key in ("text", "prompt", "question", "reprompt"):
            if step.get(key):
                assert all(len(s) <= 40 for s in sentences(step[key])), step[key]
