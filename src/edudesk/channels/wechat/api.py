"""The few Official Account API calls edudesk makes, over the app's pooled HTTP client.

Access tokens come from the classic ``/cgi-bin/token`` (client_credential) and are shared by every instance through
``weixin.tokens`` (one refresher at a time, refreshed before expiry, refreshed once and retried once when WeChat
says a token is invalid). The cache key holds the AppID and a digest of the AppSecret: two orgs that type the same
(public) AppID share nothing unless they also hold its secret, so an org can never send with another org's token.

Why not ``/cgi-bin/stable_token``: its normal mode hands back the same token until shortly before expiry, so the
"refresh after the platform refused a token" path would need its force mode, which WeChat limits to 20 calls a day;
the classic token plus one shared refresher keeps to WeChat's 2,000 fetches a day with room to spare. The menu
editor and QR-code pages must name the token as this module does (``token_name_for``), so one AppID never has two
token refreshers invalidating each other's tokens.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from edudesk.channels.base import ChannelServices
from edudesk.channels.wechat.config import WeChatConfig
from edudesk.channels.weixin.jsonpost import JsonPoster, poster_of
from edudesk.channels.weixin.tokens import AccessTokens, tokens_of

# errcodes that may go away by themselves: system busy, rate limits.
TRANSIENT = frozenset({-1, 45009, 45011, 45033})


class ApiError(Exception):
    """WeChat answered with a non-zero errcode, or not at all in a usable way (``errcode`` None: HTTP status,
    network error, not JSON). ``transient``: trying again later may work."""

    def __init__(self, errcode: int | None, errmsg: str, *, transient: bool) -> None:
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.transient = transient


def errcode_of(answer: dict[str, Any]) -> int:
    try:
        return int(answer.get("errcode") or 0)
    except (TypeError, ValueError):
        return -1


def token_name_for(app_id: str, app_secret: str) -> str:
    """The shared cache's name for an account's token: every caller of the Official Account API (sending, the
    menu and QR-code pages) must use this one name, or each would fetch its own token and invalidate the other's."""
    digest = hashlib.sha256(f"{app_id}:{app_secret}".encode()).hexdigest()[:16]
    return f"wechat:{app_id}:{digest}"


def token_name(config: WeChatConfig) -> str:
    return token_name_for(config.app_id, config.app_secret.get_secret_value())


@dataclass(frozen=True)
class Media:
    content: bytes
    content_type: str


class WeChatApi:
    def __init__(self, services: ChannelServices, config: WeChatConfig) -> None:
        self.services = services
        self.config = config
        self.http: httpx.Client = services.http
        self.base = str(getattr(services.settings, "wechat_api_base", "https://api.weixin.qq.com")).rstrip("/")
        self.tokens: AccessTokens = tokens_of(services)
        timeout = float(getattr(services.settings, "channel_http_timeout_seconds", 10.0))
        # JSON calls (every reply) go over kept-alive http.client connections: a third of httpx's CPU per request.
        self.poster: JsonPoster = poster_of(services, self.base, timeout)

    # --- tokens ------------------------------------------------------------------------------------------------

    def fetch_token(self) -> tuple[str, int]:
        """A new access token and its lifetime (seconds). A refusal raises ApiError: a wrong AppSecret (40125),
        or this server's IP missing from the account's IP whitelist (40164)."""
        answer = self._json(self.http.get(f"{self.base}/cgi-bin/token", params={
            "grant_type": "client_credential", "appid": self.config.app_id,
            "secret": self.config.app_secret.get_secret_value()}))
        token = answer.get("access_token")
        if not token or not isinstance(token, str):
            code = errcode_of(answer)
            raise ApiError(code, _token_refusal(code, str(answer.get("errmsg", ""))), transient=True)
        return token, int(answer.get("expires_in") or 7200)

    def call(self, request: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
        """Runs ``request(access_token)`` with the shared token (refreshed once and retried once when WeChat says
        it is invalid); returns WeChat's answer, errcode and all."""
        return self.tokens.call(token_name(self.config), self.fetch_token, request)

    # --- calls -------------------------------------------------------------------------------------------------

    def post_json(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = httpx_json(payload)

        def request(token: str) -> dict[str, Any]:
            status, content = self.poster.post(path, {"access_token": token}, body,
                                               "application/json; charset=utf-8")
            return self._answer(status, content)
        return self.call(request)

    def get_json(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        def request(token: str) -> dict[str, Any]:
            return self._json(self.http.get(f"{self.base}{path}", params={"access_token": token, **params}))
        return self.call(request)

    def upload_media(self, kind: str, filename: str, content: bytes, content_type: str) -> str:
        """Uploads a temporary media file (kept three days by WeChat); its media_id."""
        def request(token: str) -> dict[str, Any]:
            return self._json(self.http.post(f"{self.base}/cgi-bin/media/upload",
                                             params={"access_token": token, "type": kind},
                                             files={"media": (filename or f"file.{kind}", content, content_type)}))
        answer = self.call(request)
        media_id = answer.get("media_id")
        if errcode_of(answer) or not isinstance(media_id, str) or not media_id:
            code = errcode_of(answer)
            raise ApiError(code, str(answer.get("errmsg", "no media_id")), transient=code in TRANSIENT)
        return media_id

    def download_media(self, media_id: str, max_bytes: int) -> Media:
        """A file the user sent (image, voice) by its MediaId: bytes on success, a JSON errcode otherwise."""
        def request(token: str) -> dict[str, Any]:
            with self.http.stream("GET", f"{self.base}/cgi-bin/media/get",
                                  params={"access_token": token, "media_id": media_id}) as resp:
                if resp.status_code >= 300:
                    raise ApiError(None, f"HTTP {resp.status_code}", transient=resp.status_code >= 500)
                ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise ApiError(None, f"media over {max_bytes} bytes", transient=False)
                    chunks.append(chunk)
            content = b"".join(chunks)
            if ctype in ("application/json", "text/plain") and content.lstrip().startswith(b"{"):
                return self._decode(content)
            return {"errcode": 0, "_content": content, "_type": ctype or "application/octet-stream"}
        answer = self.call(request)
        if errcode_of(answer):
            code = errcode_of(answer)
            raise ApiError(code, str(answer.get("errmsg", "")), transient=code in TRANSIENT)
        return Media(bytes(answer["_content"]), str(answer["_type"]))

    def unionid_of(self, openid: str) -> str | None:
        """The user's UnionID when the account is bound to an open platform (user/info); None otherwise."""
        answer = self.get_json("/cgi-bin/user/info", {"openid": openid, "lang": "zh_CN"})
        unionid = answer.get("unionid")
        return unionid if isinstance(unionid, str) and 0 < len(unionid) <= 64 else None

    # --- answers -----------------------------------------------------------------------------------------------

    def _json(self, resp: httpx.Response) -> dict[str, Any]:
        return self._answer(resp.status_code, resp.content)

    def _answer(self, status: int, content: bytes) -> dict[str, Any]:
        if status >= 300:
            raise ApiError(None, f"HTTP {status}", transient=status >= 500 or status == 429)
        return self._decode(content)

    @staticmethod
    def _decode(content: bytes) -> dict[str, Any]:
        try:
            data = json.loads(content)
        except ValueError:
            raise ApiError(None, "answer is not JSON", transient=True) from None
        if not isinstance(data, dict):
            raise ApiError(None, "answer is not a JSON object", transient=True)
        return data


def httpx_json(payload: dict[str, Any]) -> bytes:
    """UTF-8 JSON with Chinese as is: some WeChat clients show an escaped ``\\u5b66`` literally."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _token_refusal(code: int, errmsg: str) -> str:
    if code == 40164:
        return "本服务器的 IP 不在公众号的 IP 白名单中（公众号后台 → 基本配置 → IP 白名单）"
    if code in (40001, 40125, 40013, 41004):
        return "公众号 AppID 或 AppSecret 有误，请在渠道设置中检查"
    return f"获取公众号 access_token 失败：{code} {errmsg}"[:200]
