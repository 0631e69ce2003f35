"""An Official Account's settings as the admin enters them on /admin/channels (drawn from this model).

AppSecret, Token and EncodingAESKey are ``SecretStr``: encrypted at rest and never shown again. The optional
template fallback says which template to send when a reply can no longer go out as a customer-service message
(the parent has not written for 48 hours) and how its keywords are filled: one line per keyword,
``keyword=text with {placeholders}``. Placeholders are substituted by name only (never ``str.format``), so a
mapping cannot reach Python attributes.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from edudesk.channels.weixin.crypto import valid_aes_key

MessageMode = Literal["safe", "compatible", "plaintext"]
MODE_LABELS: dict[str, Any] = {"safe": "安全模式（推荐）", "compatible": "兼容模式", "plaintext": "明文模式"}
_MODE_ALIASES = {"安全": "safe", "安全模式": "safe", "兼容": "compatible", "兼容模式": "compatible",
                 "明文": "plaintext", "明文模式": "plaintext"}
APP_ID = re.compile(r"^wx[0-9a-fA-F]{16}$")
TOKEN = re.compile(r"^[A-Za-z0-9]{3,32}$")  # what the WeChat admin accepts as 令牌(Token)
TEMPLATE_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
PLACEHOLDERS = {
    "text": "回复内容",
    "sender": "回复人",
    "time": "回复时间",
    "account": "公众号名称",
}
# New-style templates (2023) limit a keyword's value by its type, named by the keyword's prefix; a longer value
# makes WeChat refuse the whole message (errcode 47003), so values are cut to fit with an ellipsis.
VALUE_LIMITS = {"thing": 20, "character_string": 32, "phrase": 5, "name": 10, "number": 32, "letter": 32,
                "symbol": 5, "car_number": 8, "phone_number": 17}
VALUE_MAX = 200


class WeChatConfig(BaseModel):
    app_id: str = Field("", title="AppID（开发者ID）", max_length=18,
                        description="公众号后台「设置与开发 → 基本配置」中的开发者ID，以 wx 开头的 18 位")
    app_secret: SecretStr = Field(SecretStr(""), title="AppSecret（开发者密码）",
                                  description="同一页面的开发者密码；重置后请在这里一并更新")
    token: SecretStr = Field(SecretStr(""), title="Token（令牌）",
                             description="服务器配置中的令牌，3–32 位英文或数字，两边须一致")
    encoding_aes_key: SecretStr = Field(SecretStr(""), title="EncodingAESKey（消息加解密密钥）",
                                        description="服务器配置中的 43 位密钥；明文模式可不填")
    message_mode: MessageMode = Field("safe", title="消息加解密方式",
                                      description="须与公众号后台服务器配置一致：safe 安全模式（推荐）、"
                                                  "compatible 兼容模式、plaintext 明文模式",
                                      json_schema_extra={"choices": MODE_LABELS})
    fetch_unionid: bool = Field(False, title="获取 UnionID（公众号已绑定微信开放平台时）",
                                description="关注时查询用户的 UnionID，使同一家长在本机构的公众号与微信客服之间"
                                            "合并为一人")
    template_id: str = Field("", title="模板消息 ID（可选）", max_length=64,
                             description="超过 48 小时家长未互动时，工单回复改用此模板消息送达；留空则不发送，"
                                         "工单中会提示改用电话联系")
    template_fields: list[str] = Field(default_factory=list, title="模板字段映射",
                                       description="每行一个：关键词=内容，可用 {text} 回复内容、{sender} 回复人、"
                                                   "{time} 回复时间、{account} 公众号名称，如 thing1={text}")
    template_url: str = Field("", title="模板消息跳转链接（可选）", max_length=500,
                              description="家长点开模板消息时打开的网页，须以 https:// 开头")

    @field_validator("app_id")
    @classmethod
    def _app_id(cls, value: str) -> str:
        value = value.strip()
        if value and not APP_ID.match(value):
            raise ValueError("AppID 应为 wx 开头的 18 位字符")
        return value

    @field_validator("message_mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return _MODE_ALIASES.get(value, value.lower())
        return value

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value().strip()
        if raw and not TOKEN.match(raw):
            raise ValueError("Token 应为 3–32 位英文字母或数字")
        return SecretStr(raw)

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes_key(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value().strip()
        if raw and not valid_aes_key(raw):
            raise ValueError("EncodingAESKey 应为 43 位英文字母或数字")
        return SecretStr(raw)

    @field_validator("template_fields")
    @classmethod
    def _template_fields(cls, value: list[str]) -> list[str]:
        parse_mapping(value)
        return [line.strip() for line in value if line.strip()]

    @field_validator("template_url")
    @classmethod
    def _template_url(cls, value: str) -> str:
        value = value.strip()
        if value and not re.match(r"^https://[^\s<>\"']+$", value):
            raise ValueError("跳转链接须以 https:// 开头")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> WeChatConfig:
        if not self.app_id:
            raise ValueError("请填写 AppID")
        if not self.app_secret.get_secret_value():
            raise ValueError("请填写 AppSecret")
        if not self.token.get_secret_value():
            raise ValueError("请填写 Token")
        if self.message_mode != "plaintext" and not self.encoding_aes_key.get_secret_value():
            raise ValueError("安全模式和兼容模式需要填写 EncodingAESKey")
        if self.template_id.strip():
            mapping = parse_mapping(self.template_fields)
            if not any("{text}" in text for _, text in mapping):
                raise ValueError("使用模板消息时，字段映射中须有一项包含 {text}（回复内容）")
        return self

    @property
    def template_on(self) -> bool:
        return bool(self.template_id.strip())

    @property
    def encrypted(self) -> bool:
        return self.message_mode != "plaintext"


def parse_mapping(lines: list[str]) -> list[tuple[str, str]]:
    """``["thing1={text}", "time2={time}"]`` → ``[("thing1", "{text}"), ("time2", "{time}")]``; ValueError for a
    line without ``=``, a keyword WeChat would not accept, or a placeholder that does not exist."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        key, sep, text = line.partition("=")
        key = key.strip()
        if not sep or not TEMPLATE_KEY.match(key):
            raise ValueError(f"模板字段映射「{line[:40]}」应写成 关键词=内容")
        if key in seen:
            raise ValueError(f"模板关键词 {key} 重复")
        unknown = [name for name in PLACEHOLDER.findall(text) if name not in PLACEHOLDERS]
        if unknown:
            raise ValueError(f"模板字段映射中没有 {{{unknown[0]}}} 这个占位符")
        seen.add(key)
        out.append((key, text.strip()))
    return out


def _fit(key: str, value: str) -> str:
    limit = VALUE_MAX
    for prefix, n in VALUE_LIMITS.items():
        if re.fullmatch(rf"{prefix}\d*", key):
            limit = n
            break
    value = " ".join(value.split()) if limit < VALUE_MAX else value
    return value if len(value) <= limit else value[:limit - 1] + "…"


def template_data(config: WeChatConfig, values: dict[str, str]) -> dict[str, dict[str, str]]:
    """The ``data`` of a template message: each mapped keyword with its placeholders filled and its value cut to
    the length its type allows."""
    data: dict[str, dict[str, str]] = {}
    for key, text in parse_mapping(config.template_fields):
        filled = PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), text)
        data[key] = {"value": _fit(key, filled)}
    return data
