"""What an org enters to connect a 微信客服 account, and the facts of the channel every module of the adapter shares."""

from __future__ import annotations

import datetime as dt
import hashlib

from pydantic import BaseModel, Field, SecretStr, field_validator

from edudesk.channels.base import IMAGES
from edudesk.channels.weixin.crypto import valid_aes_key

KIND = "wecom"
LABEL = "微信客服"
BADGE = "客"
# Plain text and pictures both ways; no buttons (choices go out as numbered lines), no rich text.
CAPABILITIES = frozenset({IMAGES})
# WeCom accepts messages to a customer for 48 hours after their last message (errcode 95002 after that).
REPLY_WINDOW = dt.timedelta(hours=48)
SYNC_JOB = "wecom.sync"


class WeComConfig(BaseModel):
    """Every field has a default so the admin's empty form renders; the validators refuse what cannot work, so a
    saved account always has its credentials."""

    corp_id: str = Field("", title="企业ID（CorpID）", max_length=64,
                         description="企业微信管理后台 → 我的企业 → 企业信息，页面最下方的企业ID")
    secret: SecretStr = Field(SecretStr(""), title="微信客服 Secret",
                              description="企业微信管理后台 → 应用管理 → 微信客服 → API，查看 Secret")
    token: SecretStr = Field(SecretStr(""), title="回调 Token",
                             description="微信客服 → API → 设置接收事件服务器时填写（或随机获取）的 Token")
    encoding_aes_key: SecretStr = Field(SecretStr(""), title="EncodingAESKey",
                                        description="同一页面的 EncodingAESKey，43 个字符")
    open_kfid: str = Field("", title="客服账号 ID（open_kfid）", max_length=64,
                           description="以 wk 开头；该客服账号须在“通过 API 管理企业微信客服账号”中交给 API 接待")
    welcome_text: str = Field("", title="欢迎语", max_length=500,
                              description="客户从链接进入会话时发送；留空则使用机器人设置里的欢迎语")

    @field_validator("corp_id", "open_kfid")
    @classmethod
    def _required(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("请填写企业ID和客服账号ID")
        return value

    @field_validator("secret", "token")
    @classmethod
    def _secret_required(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("请填写 Secret 和回调 Token")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes_key(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value().strip()
        if not valid_aes_key(key):
            raise ValueError("EncodingAESKey 应为 43 个字符（字母和数字），请从企业微信后台复制")
        return SecretStr(key)

    def token_name(self) -> str:
        """The access-token cache key: WeCom tokens belong to one corp *and* one secret (each app has its own),
        so the secret's digest is part of the name without the secret itself."""
        digest = hashlib.sha256(self.secret.get_secret_value().encode()).hexdigest()[:16]
        return f"wecom:{self.corp_id}:{digest}"
