"""The admin pages and the adapter use one access token per account: WeChat retires an account's token when a new
one is fetched, so two caches of one account would keep invalidating each other."""

from __future__ import annotations

from typing import Any

import httpx

from edudesk.channels.base import ChannelServices
from edudesk.channels.wechat.admin_api import WeChatAdminApi, credentials_of
from edudesk.channels.wechat.api import WeChatApi
from edudesk.channels.wechat.config import WeChatConfig
from edudesk.settings import Settings
from tests.channels.wechat_admin.conftest import config_data
from tests.channels.wechat_admin.fake_wechat import FakeWeChat


def test_the_adapter_and_the_admin_pages_share_one_token(wechat_api: FakeWeChat) -> None:
    config = WeChatConfig.model_validate(config_data(WeChatConfig))
    with httpx.Client(trust_env=False) as http:
        services = ChannelServices(settings=Settings(wechat_api_base=wechat_api.url), http=http)
        seen: list[str] = []

        def note(token: str) -> dict[str, Any]:
            seen.append(token)
            return {"errcode": 0}

        WeChatApi(services, config).call(note)
        WeChatAdminApi(services, credentials_of(config)).create_qr("spring2027")
        WeChatApi(services, config).call(note)
    assert wechat_api.tokens_issued == 1
    assert seen == ["TOKEN-1", "TOKEN-1"]
