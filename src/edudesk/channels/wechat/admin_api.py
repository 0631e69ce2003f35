"""The WeChat Official Account APIs the admin pages call: permanent parametric QR codes and the custom menu.

Calls go through the shared access-token cache (``channels.weixin.tokens``) under the same name as the adapter's
message sending ("wechat:<appid>"), so the admin pages never fetch a second token that would invalidate the one
the adapter is using. An answer with a non-zero ``errcode`` becomes ``WeChatApiError`` with WeChat's code, its
message and a Chinese hint for the codes an admin can do something about (an IP whitelist, an unverified account).

Menu JSON is sent as UTF-8, not \\u-escaped: WeChat shows escaped names literally.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import structlog
from pydantic import BaseModel, SecretStr

from edudesk.channels.base import ChannelServices
from edudesk.channels.wechat.api import token_name_for
from edudesk.channels.weixin.tokens import TokenError, tokens_of

log = structlog.get_logger(__name__)

MP_BASE_DEFAULT = "https://mp.weixin.qq.com"
QR_ACTION = "QR_LIMIT_STR_SCENE"  # permanent, string scene (up to 100,000 per account)
MAX_IMAGE_BYTES = 2 * 1024 * 1024
NO_MENU = 46003

# What an admin can do about WeChat's answer (WeChat's own message is shown beside it).
ERROR_HINTS: dict[int, str] = {
    -1: "微信系统繁忙，请稍后再试",
    40001: "access_token 无效：请检查 AppSecret",
    40013: "AppID 不正确",
    40125: "AppSecret 不正确",
    40164: "本服务器的 IP 不在公众号的 IP 白名单中：请在公众号后台“基本配置”里添加",
    40016: "一级菜单数量不合法（1–3 个）",
    40017: "菜单类型不合法",
    40018: "一级菜单名称长度不合法",
    40019: "菜单 KEY 长度不合法",
    40020: "菜单链接长度不合法",
    40023: "子菜单数量不合法（1–5 个）",
    40024: "子菜单类型不合法",
    40025: "子菜单名称长度不合法",
    40026: "子菜单 KEY 长度不合法",
    40027: "子菜单链接长度不合法",
    40054: "子菜单链接的域名不合法",
    40055: "菜单链接的域名不合法",
    45009: "今天调用接口的次数已用完，请明天再试",
    46003: "公众号当前没有自定义菜单",
    48001: "公众号没有这个接口的权限：未认证的订阅号不能使用自定义菜单接口和带参数二维码",
}


class WeChatApiError(Exception):
    """WeChat refused a call (``code`` is its errcode), or could not be reached (``code`` "network" / "bad_answer")."""

    def __init__(self, code: int | str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def hint(self) -> str:
        return ERROR_HINTS.get(self.code, "") if isinstance(self.code, int) else ""

    def describe(self) -> str:
        """One line for the page: what WeChat said, and what to do about it when we know."""
        if not isinstance(self.code, int):
            return self.message
        said = f"微信返回错误 {self.code}（{self.message}）"
        return f"{said}：{self.hint}" if self.hint else said


@dataclass(frozen=True)
class Credentials:
    appid: str
    secret: str


APPID_FIELDS = ("app_id", "appid")
SECRET_FIELDS = ("app_secret", "appsecret", "secret")


def _field(config: BaseModel, names: tuple[str, ...]) -> str:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def credentials_of(config: BaseModel) -> Credentials:
    """The AppID and AppSecret of a WeChat inbox's decrypted settings (the adapter's config model)."""
    creds = Credentials(_field(config, APPID_FIELDS), _field(config, SECRET_FIELDS))
    if not creds.appid or not creds.secret:
        raise WeChatApiError("not_configured", "请先在渠道设置里填写 AppID 和 AppSecret")
    return creds


def _answer(resp: httpx.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        raise WeChatApiError("bad_answer", f"微信服务器的应答无法解析（HTTP {resp.status_code}）") from None
    if not isinstance(data, dict):
        raise WeChatApiError("bad_answer", "微信服务器的应答格式不正确")
    return data


def _check(data: dict[str, Any]) -> dict[str, Any]:
    code = data.get("errcode") or 0
    try:
        code = int(code)
    except (TypeError, ValueError):
        code = -1
    if code != 0:
        raise WeChatApiError(code, str(data.get("errmsg") or ""))
    return data


def fetch_token(http: httpx.Client, api_base: str, appid: str, secret: str) -> tuple[str, int]:
    """A new access token of the account (``/cgi-bin/token``): (token, seconds it lives). The admin pages' own
    fetcher; it stores nothing — the shared cache (``tokens_of(...).call``) decides when to call it."""
    try:
        resp = http.get(f"{api_base.rstrip('/')}/cgi-bin/token",
                        params={"grant_type": "client_credential", "appid": appid, "secret": secret})
    except httpx.HTTPError as exc:
        raise WeChatApiError("network", f"无法连接微信服务器：{type(exc).__name__}") from None
    data = _check(_answer(resp))
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise WeChatApiError("bad_answer", "微信没有返回 access_token")
    return token, int(data.get("expires_in") or 7200)


@dataclass(frozen=True)
class QrCode:
    ticket: str
    url: str  # what the code encodes (http://weixin.qq.com/q/…)
    image_url: str  # WeChat's picture of it (showqrcode?ticket=…)

    def as_provider(self) -> dict[str, str]:
        return {"ticket": self.ticket, "url": self.url, "image_url": self.image_url}


class WeChatAdminApi:
    """One account's admin calls, through the app's pooled HTTP client and shared token cache."""

    def __init__(self, services: ChannelServices, creds: Credentials) -> None:
        self.services = services
        self.creds = creds
        self.http: httpx.Client = services.http
        self.base = str(getattr(services.settings, "wechat_api_base", "https://api.weixin.qq.com")).rstrip("/")
        self.mp_base = str(getattr(services.settings, "wechat_mp_base", MP_BASE_DEFAULT)).rstrip("/")

    def _fetch(self) -> tuple[str, int]:
        return fetch_token(self.http, self.base, self.creds.appid, self.creds.secret)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        content = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        headers = {"Content-Type": "application/json; charset=utf-8"} if content is not None else {}

        def request(token: str) -> dict[str, Any]:
            try:
                resp = self.http.request(method, f"{self.base}{path}", params={"access_token": token},
                                         content=content, headers=headers)
            except httpx.HTTPError as exc:
                raise WeChatApiError("network", f"无法连接微信服务器：{type(exc).__name__}") from None
            return _answer(resp)

        try:
            answer = tokens_of(self.services).call(token_name_for(self.creds.appid, self.creds.secret), self._fetch,
                                                   request)
        except TokenError as exc:
            raise WeChatApiError("network", f"暂时拿不到 access_token：{exc}") from None
        try:
            return _check(answer)
        except WeChatApiError as exc:
            log.warning("wechat_admin_api_refused", path=path, code=exc.code, message=exc.message[:200])
            raise

    def create_qr(self, scene: str) -> QrCode:
        """A permanent QR code whose scans report ``scene`` (``qrscene_<scene>`` on subscribe, the scene on SCAN)."""
        data = self._call("POST", "/cgi-bin/qrcode/create", {
            "action_name": QR_ACTION, "action_info": {"scene": {"scene_str": scene}}})
        ticket = data.get("ticket")
        if not isinstance(ticket, str) or not ticket:
            raise WeChatApiError("bad_answer", "微信没有返回二维码 ticket")
        return QrCode(ticket, str(data.get("url") or ""), self.image_url(ticket))

    def image_url(self, ticket: str) -> str:
        return f"{self.mp_base}/cgi-bin/showqrcode?ticket={quote(ticket, safe='')}"

    def qr_image(self, ticket: str) -> tuple[bytes, str]:
        """The picture of a code (JPEG), fetched for the admin page: the page's CSP allows no other origin's
        images, and a ticket is needed to draw it anyway."""
        try:
            resp = self.http.get(self.image_url(ticket))
        except httpx.HTTPError as exc:
            raise WeChatApiError("network", f"无法连接微信服务器：{type(exc).__name__}") from None
        kind = resp.headers.get("content-type", "").split(";")[0].strip()
        if resp.status_code != 200 or not kind.startswith("image/") or len(resp.content) > MAX_IMAGE_BYTES:
            raise WeChatApiError("bad_answer", f"二维码图片获取失败（HTTP {resp.status_code}）")
        return resp.content, kind

    def create_menu(self, menu: dict[str, Any]) -> None:
        self._call("POST", "/cgi-bin/menu/create", menu)

    def get_menu(self) -> dict[str, Any] | None:
        """The menu WeChat shows now (``{"button": [...]}``), or None when the account has none."""
        try:
            data = self._call("GET", "/cgi-bin/menu/get")
        except WeChatApiError as exc:
            if exc.code == NO_MENU:
                return None
            raise
        menu = data.get("menu")
        return menu if isinstance(menu, dict) else None

    def delete_menu(self) -> None:
        self._call("GET", "/cgi-bin/menu/delete")
