"""Trial sessions as the bot offers them: one button per session, in the parent's time zone and words.

Pure: no session, no HTTP, no bot import (areas meet through plain data; the bot host turns ``TrialButton`` into
its own ``Button``). A click comes back as the visitor's message ``trial:<session id>`` (the widget sends a
button's payload as text), which ``parse_payload`` reads.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from edudesk.localtime import LOCAL_TZ

PAYLOAD_PREFIX = "trial:"
_PAYLOAD_RE = re.compile(r"^\s*trial:(\d{1,12})\s*$")
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
ONLINE = "线上"
# Its words contain the runner's decline cue "暂时不": a click takes the flow's "declined" route.
DECLINE_LABEL = "暂时不用"
# The widget shows at most six chips under a message: five sessions and the way out.
MAX_SESSIONS = 5


@dataclass(frozen=True)
class Slot:
    """What a button needs to know about a session."""

    session_id: int
    starts_at: dt.datetime  # aware
    course_name: str
    campus_name: str | None  # None: online


@dataclass(frozen=True)
class TrialButton:
    label: str
    payload: str


def payload_of(session_id: int) -> str:
    return f"{PAYLOAD_PREFIX}{session_id}"


def parse_payload(text: str) -> int | None:
    """The session id of a ``trial:<id>`` click, or None when the message is anything else."""
    match = _PAYLOAD_RE.match(text or "")
    return int(match.group(1)) if match else None


def when_label(starts_at: dt.datetime, *, now: dt.datetime) -> str:
    """"周六 10:00" within the coming week, where the weekday is unambiguous; "3月21日 周六 10:00" further out."""
    local = starts_at.astimezone(LOCAL_TZ)
    today = now.astimezone(LOCAL_TZ).date()
    day = WEEKDAYS[local.weekday()]
    prefix = "" if (local.date() - today).days < 7 else f"{local.month}月{local.day}日 "
    return f"{prefix}{day} {local:%H:%M}"


def slot_label(slot: Slot, *, now: dt.datetime) -> str:
    return f"{when_label(slot.starts_at, now=now)} {slot.campus_name or ONLINE} {slot.course_name}"


def buttons(slots: Sequence[Slot], *, now: dt.datetime, with_decline: bool = True) -> list[TrialButton]:
    """One button per session (earliest first, at most five), plus "暂时不用" when there is anything to offer.
    No session: no buttons, and the host takes the flow's "unavailable" route."""
    chosen = sorted(slots, key=lambda s: s.starts_at)[:MAX_SESSIONS]
    out = [TrialButton(slot_label(s, now=now), payload_of(s.session_id)) for s in chosen]
    if out and with_decline:
        out.append(TrialButton(DECLINE_LABEL, DECLINE_LABEL))
    return out


def booked_text(slot: Slot, *, now: dt.datetime) -> str:
    """The bot's confirmation, said before the flow's own "booked" step."""
    return f"已为您预约：{slot_label(slot, now=now)} 试听课。"
