"""Connecting an Official Account on the generic admin page /admin/channels (drawn from the config model): Chinese
titles, the message mode as a choice, secrets encrypted and never shown again, bad settings refused."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from edudesk.channels.wechat.config import WeChatConfig, template_data
from edudesk.db import Database
from edudesk.inboxes.models import Inbox
from tests.channels.wechat.conftest import AES_KEY, TOKEN
from tests.channels.wechat.fake_api import APP_ID, APP_SECRET
from tests.conftest import TwoOrgs, login

FORM = {"name": "阿尔法教育公众号", "app_id": APP_ID, "app_secret": APP_SECRET, "token": TOKEN,
        "encoding_aes_key": AES_KEY, "message_mode": "safe", "template_id": "", "template_fields": "",
        "template_url": ""}


def test_connect_an_official_account_from_the_admin_page(client: TestClient, database: Database,
                                                         orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "admin")
    page = client.get("/admin/channels").text
    assert 'id="connect-wechat"' in page
    form = client.get("/admin/channels/new/wechat").text
    for title in ("AppID（开发者ID）", "AppSecret（开发者密码）", "Token（令牌）", "EncodingAESKey（消息加解密密钥）",
                  "消息加解密方式", "模板字段映射"):
        assert title in form, title
    assert '<option value="safe" selected>安全模式（推荐）</option>' in form
    assert 'type="password" name="encoding_aes_key"' in form
    bad = client.post("/admin/channels/new/wechat", data={**FORM, "encoding_aes_key": "too-short", "csrf_token": csrf})
    assert bad.status_code == 422 and "EncodingAESKey 应为 43 位" in bad.text
    with database.session() as session:
        assert session.scalars(select(Inbox)).all() == []
    done = client.post("/admin/channels/new/wechat", data={**FORM, "csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    edit = client.get(done.headers["location"]).text
    with database.session() as session:
        inbox = session.scalars(select(Inbox)).one()
    assert f"/channels/wechat/{inbox.public_id}" in edit
    assert APP_SECRET not in edit and AES_KEY not in edit and TOKEN not in edit
    assert "已保存，留空则不修改" in edit
    stored = f"{inbox.settings} {inbox.secrets_encrypted}"
    assert APP_SECRET not in stored and AES_KEY not in stored and TOKEN not in stored
    assert inbox.settings["app_id"] == APP_ID and inbox.settings["message_mode"] == "safe"


def config(**changes: object) -> WeChatConfig:
    return WeChatConfig.model_validate({"app_id": APP_ID, "app_secret": APP_SECRET, "token": TOKEN,
                                        "encoding_aes_key": AES_KEY, **changes})


@pytest.mark.parametrize(("changes", "error"), [
    ({"app_id": "gh_123"}, "AppID"),
    ({"app_secret": ""}, "AppSecret"),
    ({"token": "含中文"}, "Token"),
    ({"encoding_aes_key": "x" * 42}, "43"),
    ({"encoding_aes_key": "", "message_mode": "safe"}, "EncodingAESKey"),
    ({"message_mode": "secret"}, "message_mode"),
    ({"template_id": "T1", "template_fields": ["thing1={sender}"]}, "{text}"),
    ({"template_fields": ["thing1={text.__class__}"]}, "占位符"),
    ({"template_fields": ["no equals sign"]}, "关键词=内容"),
    ({"template_url": "http://example.com"}, "https://"),
])
def test_bad_settings_are_refused_with_a_reason(changes: dict[str, object], error: str) -> None:
    with pytest.raises(ValidationError) as refused:
        config(**changes)
    assert error in str(refused.value)


def test_modes_may_be_typed_in_chinese_and_plaintext_needs_no_key() -> None:
    assert config(message_mode="兼容模式").message_mode == "compatible"
    assert config(message_mode="明文", encoding_aes_key="").encrypted is False


def test_template_values_are_filled_by_name_and_cut_to_their_type() -> None:
    cfg = config(template_id="T1", template_fields=["thing1={text}", "name2={sender}", "character_string3=#{text}",
                                                   "remark={account}：{text}"])
    text = "周六上午十点的试听课可以调到下午三点吗我们再确认一下"
    data = template_data(cfg, {"text": text, "sender": "王老师", "account": "阿尔法", "time": "2027-03-01 10:00"})
    assert data["thing1"]["value"] == text[:19] + "…" and len(data["thing1"]["value"]) == 20
    assert data["name2"]["value"] == "王老师"
    assert data["character_string3"]["value"] == "#" + text  # 27 characters: within its 32
    assert data["remark"]["value"].startswith("阿尔法：周六")
