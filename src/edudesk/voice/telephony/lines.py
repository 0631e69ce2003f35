"""Each line kind's settings, and how they are stored: the whole config as JSON, encrypted with the app's secret box
(the admin never reads a secret back), in ``voice_lines.config_encrypted``.

The admin pages own the forms (voice/telephony/configs.py in their part); these are the fields the adapters read.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from edudesk.secretbox import SecretBox
from edudesk.voice.models import LineKind

Codec = Literal["PCMU", "PCMA"]
SECRET_PURPOSE = "voice-line-config"  # noqa: S105 (a key-derivation label; the same as voice-admin's voice.lines)


class WebSocketLineConfig(BaseModel):
    """A carrier that dials on our signed request and streams the answered call over the media WebSocket."""

    model_config = ConfigDict(extra="ignore")
    originate_url: str = Field(min_length=8, max_length=500)
    signing_secret: SecretStr
    sample_rate: Literal[8000, 16000] = 8000


class AudioSocketLineConfig(BaseModel):
    """An Asterisk PBX: we originate through its AMI; its dialplan streams the call to our AudioSocket server."""

    model_config = ConfigDict(extra="ignore")
    ami_host: str = Field(min_length=1, max_length=255)
    ami_port: int = Field(default=5038, ge=1, le=65535)
    ami_username: str = Field(min_length=1, max_length=100)
    ami_secret: SecretStr
    # The channel Asterisk dials ({to}: the number, E.164 without "+"), and the context that runs AudioSocket().
    channel: str = Field(default="PJSIP/{to}@trunk", max_length=200)
    context: str = Field(default="edudesk-audiosocket", max_length=80)
    # Addresses an AudioSocket connection is accepted from (the PBX).
    allowed_hosts: list[str] = Field(default_factory=lambda: ["127.0.0.1"], max_length=20)


class SipLineConfig(BaseModel):
    """A SIP trunk our own user agent sends INVITEs to (RTP with G.711)."""

    model_config = ConfigDict(extra="ignore")
    trunk_host: str = Field(min_length=1, max_length=255)
    trunk_port: int = Field(default=5060, ge=1, le=65535)
    username: str = Field(default="", max_length=100)
    password: SecretStr | None = None
    domain: str = Field(default="", max_length=255)  # the SIP domain of the To/From URIs (default: trunk_host)
    codecs: list[Codec] = Field(default_factory=lambda: list[Codec](["PCMU", "PCMA"]), min_length=1)
    sample_rate: Literal[8000, 16000] = 8000
    # Peers whose INVITEs are answered (the trunk's addresses); anything else gets 403.
    allowed_peers: list[str] = Field(default_factory=list, max_length=20)


CONFIG_MODELS: dict[LineKind, type[BaseModel]] = {
    LineKind.websocket: WebSocketLineConfig,
    LineKind.audiosocket: AudioSocketLineConfig,
    LineKind.sip: SipLineConfig,
}


@functools.lru_cache(maxsize=8)
def secret_box(app_secret: str) -> SecretBox:
    return SecretBox(app_secret, SECRET_PURPOSE)


def _plain(config: BaseModel) -> dict[str, Any]:
    data = config.model_dump(mode="python")
    for key, value in data.items():
        if isinstance(value, SecretStr):
            data[key] = value.get_secret_value()
    return data


def encrypt_config(box: SecretBox, config: BaseModel) -> bytes:
    return box.encrypt(json.dumps(_plain(config), ensure_ascii=False)).encode("ascii")


def decrypt_config(box: SecretBox, kind: LineKind, stored: bytes | None) -> BaseModel:
    """The line's settings; SecretBoxError or pydantic's ValidationError when they cannot be read."""
    raw = json.loads(box.decrypt(stored.decode("ascii"))) if stored else {}
    return CONFIG_MODELS[kind].model_validate(raw)
