"""What the adapters read of a line: its kind's config model (``telephony/configs.py``, the admin's form too) and its
stored settings, decrypted with the same secret box the admin pages encrypt them with (``voice.lines``).

One definition of both, so a line saved in the admin is a line the media plane can dial: while the admin and the
adapters each had their own models and key-derivation label, neither could read the other's lines.
"""

from __future__ import annotations

import json

from pydantic import BaseModel

from edudesk.secretbox import SecretBox
from edudesk.voice import lines as voice_lines
from edudesk.voice.models import LineKind
from edudesk.voice.telephony.configs import AudioSocketConfig as AudioSocketLineConfig
from edudesk.voice.telephony.configs import SipConfig as SipLineConfig
from edudesk.voice.telephony.configs import WebSocketConfig as WebSocketLineConfig

__all__ = ["AudioSocketLineConfig", "SipLineConfig", "WebSocketLineConfig", "decrypt_config", "encrypt_config",
           "secret_box"]

secret_box = voice_lines.secret_box


def encrypt_config(box: SecretBox, config: BaseModel) -> bytes:
    return voice_lines.encrypt_config(config, box)


def decrypt_config(box: SecretBox, kind: LineKind, stored: bytes | None) -> BaseModel:
    """The line's settings; SecretBoxError or pydantic's ValidationError when they cannot be read."""
    raw = json.loads(box.decrypt(stored.decode("ascii"))) if stored else {}
    return voice_lines.config_model(kind).model_validate(raw)
