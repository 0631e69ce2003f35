"""The settings of a voice line, one pydantic model per ``LineKind``: what the admin fills in on the line's page
(the form is drawn from the model) and what the line's telephony adapter gets back, decrypted, in
``OriginateRequest.config``.

Every ``SecretStr`` field is write-only in the admin (a field left empty keeps the stored value) and the whole
config is stored encrypted (``voice.lines``). Address lists are validated here, once, so an adapter can trust
them: an INVITE, AudioSocket connection or media stream from an address outside the line's list is refused.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic.config import JsonDict

from edudesk.voice.models import LineKind

MAX_PEERS = 50
# A host name (RFC 1123 labels) or an IPv4/IPv6 literal; no scheme, no port, no path.
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?)*$"
)


def check_host(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("请填写主机地址")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _HOSTNAME.match(value):
        raise ValueError(f"不是有效的主机名或 IP 地址：{value[:60]}")
    return value.lower()


def check_networks(values: list[str]) -> list[str]:
    """IPs or CIDRs, normalised (``10.0.0.1`` → ``10.0.0.1/32``), without duplicates, at most MAX_PEERS."""
    if len(values) > MAX_PEERS:
        raise ValueError(f"地址最多 {MAX_PEERS} 个")
    out: list[str] = []
    for raw in values:
        text = raw.strip()
        if not text:
            continue
        try:
            network = str(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"不是有效的 IP 地址或网段：{text[:60]}") from None
        if network in ("0.0.0.0/0", "::/0"):
            raise ValueError("不能允许所有地址（0.0.0.0/0），请填写运营商或 PBX 的地址")
        if network not in out:
            out.append(network)
    return out


def peer_allowed(address: str, networks: list[str]) -> bool:
    """Whether ``address`` (the peer's IP) is inside one of the line's networks (adapters call this)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


class _LineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, validate_default=True)


Codec = Literal["PCMU", "PCMA"]
SampleRate = Literal[8000, 16000]
RATE_CHOICES: JsonDict = {"choices": {"8000": "8 kHz", "16000": "16 kHz"}}


def _rate(value: object) -> object:
    """The form posts the rate as text."""
    return int(value) if isinstance(value, str) and value.strip().isdigit() and len(value) < 7 else value


class SipConfig(_LineConfig):
    """A SIP trunk our own user agent sends INVITEs to (RTP with G.711)."""

    trunk_host: str = Field("", title="SIP 中继地址", description="运营商或 PBX 的主机名或 IP", max_length=253)
    trunk_port: int = Field(5060, title="端口", ge=1, le=65535)
    transport: Literal["udp"] = Field("udp", title="传输协议", json_schema_extra={"choices": {"udp": "UDP"}})
    username: str = Field("", title="用户名", max_length=100)
    password: SecretStr = Field(SecretStr(""), title="密码", max_length=200)
    domain: str = Field("", title="SIP 域", description="留空则用中继地址", max_length=253)
    codecs: list[Codec] = Field(
        default_factory=lambda: list[Codec](["PCMA", "PCMU"]),
        title="编码（每行一个，按优先顺序：PCMA、PCMU）",
        min_length=1,
        max_length=2,
    )
    sample_rate: SampleRate = Field(8000, title="采样率", json_schema_extra=RATE_CHOICES)
    allowed_peers: list[str] = Field(
        default_factory=list, title="允许呼入的 IP 或网段", description="每行一个；来自其他地址的 INVITE 会被拒绝并记录"
    )

    _host = field_validator("trunk_host")(check_host)
    _peers = field_validator("allowed_peers")(check_networks)
    _rate = field_validator("sample_rate", mode="before")(_rate)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return check_host(value) if value.strip() else ""

    @field_validator("codecs", mode="before")
    @classmethod
    def _codecs(cls, value: object) -> object:
        if isinstance(value, list):
            value = [str(v).strip().upper() for v in value]
            if len(set(value)) != len(value):
                raise ValueError("编码重复")
        return value


class AudioSocketConfig(_LineConfig):
    """An Asterisk PBX: calls are originated through its AMI, and its dialplan streams each answered call to our
    AudioSocket server (whose listen address is the app's setting); the line names the hosts it accepts."""

    ami_host: str = Field("", title="Asterisk AMI 地址", max_length=253)
    ami_port: int = Field(5038, title="AMI 端口", ge=1, le=65535)
    ami_username: str = Field("", title="AMI 用户名", max_length=100)
    ami_secret: SecretStr = Field(SecretStr(""), title="AMI 密码", max_length=200)
    channel: str = Field("PJSIP/{to}@trunk", title="呼出通道", description="{to} 为被叫号码（不带 +）", max_length=200)
    context: str = Field("edudesk-audiosocket", title="拨号方案 context", max_length=80)
    allowed_hosts: list[str] = Field(
        default_factory=list,
        title="Asterisk 服务器 IP 或网段",
        description="每行一个；其他地址的 AudioSocket 连接会被拒绝并记录",
    )

    _host = field_validator("ami_host")(check_host)
    _peers = field_validator("allowed_hosts")(check_networks)

    @field_validator("allowed_hosts")
    @classmethod
    def _required(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("请至少填写一个 Asterisk 服务器地址")
        return value

    @field_validator("ami_username")
    @classmethod
    def _user(cls, value: str) -> str:
        if not value:
            raise ValueError("请填写 AMI 用户名")
        return value

    @field_validator("channel", "context")
    @classmethod
    def _dialplan(cls, value: str) -> str:
        if not value or not re.fullmatch(r"[A-Za-z0-9_@/{}.+-]+", value):
            raise ValueError("只能包含字母、数字和 _ @ / { } . + -")
        return value


class WebSocketConfig(_LineConfig):
    """A carrier that dials on our signed request and streams the answered call over the media WebSocket."""

    originate_url: str = Field(
        "", title="运营商外呼接口地址", description="https://…，我们向这里发起呼叫请求", max_length=500
    )
    signing_secret: SecretStr = Field(
        SecretStr(""), title="签名密钥", max_length=200, description="用于签名外呼请求、校验媒体流"
    )
    sample_rate: SampleRate = Field(8000, title="采样率", json_schema_extra=RATE_CHOICES)
    allowed_media_ips: list[str] = Field(
        default_factory=list, title="允许的媒体流来源 IP 或网段（可选）", description="每行一个；留空则只校验通话令牌"
    )

    _peers = field_validator("allowed_media_ips")(check_networks)
    _rate = field_validator("sample_rate", mode="before")(_rate)

    @field_validator("originate_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        match = re.match(r"^(https?)://([^/\s?#@]+)(/[^\s]*)?$", value)
        if match is None:
            raise ValueError("请填写以 http:// 或 https:// 开头的完整地址")
        host = match.group(2).rsplit(":", 1)[0] if not match.group(2).startswith("[") else match.group(2)
        if not host.startswith("["):
            check_host(host)
        return value


CONFIG_MODELS: dict[LineKind, type[BaseModel]] = {
    LineKind.sip: SipConfig,
    LineKind.audiosocket: AudioSocketConfig,
    LineKind.websocket: WebSocketConfig,
}

KIND_LABELS: dict[str, str] = {
    "sip": "SIP 中继",
    "audiosocket": "Asterisk AudioSocket",
    "websocket": "运营商媒体流（WebSocket）",
}
