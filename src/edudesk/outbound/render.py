"""How a stored message looks on a channel: pure functions over the message and the adapter's capabilities.

Buttons become numbered lines on channels without BUTTONS; the satisfaction survey becomes numbered scores on
channels without CSAT. The inbound orchestrator reads the same choices back (``offered``), so the visitor's "1"
means what the line said.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edudesk.channels import choices
from edudesk.channels.base import BUTTONS, CSAT

CSAT_REQUEST = "csat_request"
CSAT_PREFIX = "csat:"
_LABELS = {
    5: ("非常满意", "满意", "一般", "不满意", "非常不满意"),
    3: ("满意", "一般", "不满意"),
    2: ("满意", "不满意"),
}


def csat_buttons(scale: int) -> tuple[dict[str, str], ...]:
    """The scores, best first, as buttons whose payload is ``csat:<score>``."""
    labels = _LABELS.get(scale, _LABELS[5])
    top = len(labels)
    return tuple({"label": label, "payload": f"{CSAT_PREFIX}{top - i}"} for i, label in enumerate(labels))


def offered(extra: Mapping[str, Any] | None, capabilities: frozenset[str]) -> tuple[dict[str, str], ...]:
    """The choices a message put before the visitor on this channel: its buttons, or the scores of a survey on a
    channel that cannot show the survey form."""
    extra = extra or {}
    if extra.get("kind") == CSAT_REQUEST and CSAT not in capabilities:
        return csat_buttons(int(extra.get("scale") or 5))
    raw = extra.get("buttons") or ()
    return tuple({"label": str(b.get("label", "")), "payload": str(b.get("payload", b.get("label", "")))}
                 for b in raw if isinstance(b, Mapping))


def text_and_buttons(text: str, extra: Mapping[str, Any] | None, capabilities: frozenset[str]
                     ) -> tuple[str, tuple[dict[str, str], ...]]:
    """The text to send and the buttons left for the channel to show itself."""
    buttons = offered(extra, capabilities)
    if BUTTONS in capabilities or not buttons:
        return text, buttons
    return choices.render(text, buttons), ()

