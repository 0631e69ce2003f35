"""What a callback means: WeChat's message and event fields turned into edudesk's terms (pure functions).

A message becomes a visitor message (text, a picture, a voice note with WeChat's transcript, a location or a link as
a line of text); ``subscribe`` and ``SCAN`` are arrivals (with a parametric QR code's scene as the campaign),
``unsubscribe`` is noted on the contact, a menu ``CLICK`` is a visitor message whose payload the bot acts on, and
``VIEW`` (a menu link) is only noted. Other events (location reports, template delivery reports) are ignored.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import Any

from edudesk.inboxes.models import Inbox

OPENID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
SCENE_MAX = 64
QR_PREFIX = "qrscene_"
MENU_PAYLOAD_PREFIX = "wxmenu:"
CLIENT_ID_MAX = 64

MESSAGE = "message"
ARRIVAL = "arrival"  # subscribe, SCAN
UNSUBSCRIBE = "unsubscribe"
CLICK = "click"
VIEW = "view"
IGNORED = "ignored"


class BadCallback(ValueError):
    """Fields WeChat always sends are missing or malformed."""


@dataclass(frozen=True)
class Callback:
    """One callback, classified."""

    action: str  # MESSAGE, ARRIVAL, UNSUBSCRIBE, CLICK, VIEW or IGNORED
    openid: str
    create_time: int
    receipt_key: str  # what dedupes WeChat's resends of it
    client_message_id: str | None = None
    msg_type: str = ""
    event: str = ""
    text: str = ""
    media_id: str | None = None  # image or voice to fetch with media/get
    media_kind: str | None = None  # "image" or "voice"
    voice_format: str = ""
    scene: str | None = None
    menu_key: str = ""
    url: str = ""


def click_payload(inbox: Inbox, key: str) -> str:
    """The payload a menu CLICK carries into the bot when the published menu gives the key no action (a menu
    published elsewhere): ``wxmenu:<key>``, which no flow or FAQ matches, so the bot's fallback answers."""
    return f"{MENU_PAYLOAD_PREFIX}{key}"


def _text(fields: dict[str, Any], name: str, limit: int = 2000) -> str:
    value = fields.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def _client_id(raw: str) -> str:
    client_id = f"wx:{raw}"
    if len(client_id) <= CLIENT_ID_MAX:
        return client_id
    return "wx:h:" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def _coordinate(raw: str) -> str:
    try:
        return f"{float(raw):.6f}".rstrip("0").rstrip(".")
    except ValueError:
        return "?"


def classify(fields: dict[str, Any]) -> Callback:
    """The callback's meaning; BadCallback when FromUserName, CreateTime or MsgType is missing or malformed."""
    openid = _text(fields, "FromUserName", 128)
    created = _text(fields, "CreateTime", 20)
    msg_type = _text(fields, "MsgType", 32).lower()
    if not OPENID.match(openid) or not created.isdigit() or not msg_type:
        raise BadCallback("FromUserName, CreateTime or MsgType missing or malformed")
    create_time = int(created)
    if msg_type == "event":
        return _event(fields, openid, create_time)
    msg_id = _text(fields, "MsgId", 32) or _text(fields, "MsgID", 32)
    raw_id = msg_id if msg_id.isdigit() else f"{openid}:{create_time}:{msg_type}"
    base = Callback(MESSAGE, openid, create_time, f"msg:{raw_id}", client_message_id=_client_id(raw_id),
                    msg_type=msg_type)
    if msg_type == "text":
        return replace(base, text=_text(fields, "Content"))
    if msg_type == "image":
        return replace(base, media_id=_text(fields, "MediaId", 128) or None, media_kind="image")
    if msg_type == "voice":
        # WeChat's own transcript when speech recognition is on; the audio is kept as the attachment all the same.
        return replace(base, text=_text(fields, "Recognition"), media_id=_text(fields, "MediaId", 128) or None,
                       media_kind="voice", voice_format=_text(fields, "Format", 16).lower())
    if msg_type == "location":
        label = _text(fields, "Label", 200)
        where = f"({_coordinate(_text(fields, 'Location_X', 32))}, {_coordinate(_text(fields, 'Location_Y', 32))})"
        return replace(base, text=" ".join(p for p in ("[位置]", label, where) if p))
    if msg_type == "link":
        title = _text(fields, "Title", 200)
        url = _text(fields, "Url", 1000)
        return replace(base, text=" ".join(p for p in ("[链接]", title, url) if p))
    if msg_type in ("video", "shortvideo"):
        return replace(base, text="[视频]（请在手机微信中查看）")
    return replace(base, text=f"[{msg_type} 消息，暂不支持显示]")


def _event(fields: dict[str, Any], openid: str, create_time: int) -> Callback:
    event = _text(fields, "Event", 32)
    key = _text(fields, "EventKey", 256)
    kind = event.lower()
    base = Callback(IGNORED, openid, create_time, f"ev:{openid}:{create_time}:{kind}", msg_type="event",
                    event=event)
    if kind == "subscribe":
        scene = key[len(QR_PREFIX):] if key.startswith(QR_PREFIX) else None
        return replace(base, action=ARRIVAL, scene=_scene(scene))
    if kind == "scan":
        return replace(base, action=ARRIVAL, scene=_scene(key))
    if kind == "unsubscribe":
        return replace(base, action=UNSUBSCRIBE)
    if kind == "click" and key:
        return replace(base, action=CLICK, menu_key=key[:128], text=key[:128],
                       client_message_id=_client_id(f"{openid}:{create_time}:click"))
    if kind == "view":
        return replace(base, action=VIEW, url=key[:1000])
    return base


def _scene(raw: str | None) -> str | None:
    """A QR code's scene (``scene_str`` up to 64 characters, or a ``scene_id`` number), or None."""
    if raw is None:
        return None
    raw = raw.strip()
    return raw[:SCENE_MAX] if raw else None
