"""The WeCom customer-service API calls the adapter makes, with the access token shared through
``weixin.tokens`` (refreshed once and retried when WeCom says it is invalid).

Errors are kept as two kinds: ``WeComUnavailable`` (the network, an HTTP error, an answer that is not JSON: try
again later) and ``WeComError`` (WeCom answered with an errcode; ``transient`` says whether a retry may help).
The access token travels in the query string as WeCom requires; nothing here logs a URL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from edudesk.channels.base import ChannelServices
from edudesk.channels.wecom.config import WeComConfig
from edudesk.channels.weixin.tokens import TOKEN_ERRCODES, tokens_of

# errcodes after which the same call may succeed later: system busy, frequency limits (and, except from gettoken
# itself, a token WeCom still refused after the refresh: the next try fetches another).
BUSY_ERRCODES = frozenset({-1, 45009, 45011, 45033})
MEDIA_MAX_BYTES = 20 * 1024 * 1024  # WeCom's largest media (a file) is 20 MB
SYNC_LIMIT = 1000  # the most sync_msg returns per call


class WeComUnavailable(RuntimeError):
    """No usable answer (network, HTTP status, not JSON): always worth another try."""


class WeComError(RuntimeError):
    """WeCom answered with an errcode; ``during`` names the call ("gettoken", "kf/send_msg" …)."""

    def __init__(self, errcode: int, errmsg: str, during: str) -> None:
        super().__init__(f"{during}: errcode {errcode}: {errmsg[:200]}")
        self.errcode = errcode
        self.errmsg = errmsg[:300]
        self.during = during

    @property
    def transient(self) -> bool:
        if self.errcode in BUSY_ERRCODES:
            return True
        return self.errcode in TOKEN_ERRCODES and self.during != "gettoken"


@dataclass(frozen=True)
class Media:
    content: bytes
    content_type: str
    filename: str


@dataclass
class SyncPage:
    messages: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str = ""
    has_more: bool = False


def _errcode(answer: dict[str, Any]) -> int:
    try:
        return int(answer.get("errcode") or 0)
    except (TypeError, ValueError):
        return -1


def _json(resp: httpx.Response) -> dict[str, Any]:
    if resp.status_code != 200:
        raise WeComUnavailable(f"HTTP {resp.status_code}")
    try:
        data = resp.json()
    except ValueError:
        raise WeComUnavailable("answer is not JSON") from None
    if not isinstance(data, dict):
        raise WeComUnavailable("answer is not a JSON object")
    return data


class WeComApi:
    def __init__(self, services: ChannelServices, config: WeComConfig) -> None:
        self.http: httpx.Client = services.http
        self.base = str(getattr(services.settings, "wecom_api_base", "https://qyapi.weixin.qq.com")).rstrip("/")
        self.config = config
        self.tokens = tokens_of(services)

    # --- plumbing ------------------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, f"{self.base}/cgi-bin/{path}", **kwargs)
        except httpx.HTTPError as exc:
            raise WeComUnavailable(f"{path}: {type(exc).__name__}") from None

    def fetch_token(self) -> tuple[str, int]:
        answer = _json(self._request("GET", "gettoken", params={
            "corpid": self.config.corp_id, "corpsecret": self.config.secret.get_secret_value()}))
        if _errcode(answer) or not answer.get("access_token"):
            raise WeComError(_errcode(answer) or -1, str(answer.get("errmsg", "")), "gettoken")
        return str(answer["access_token"]), int(answer.get("expires_in") or 7200)

    def _call(self, path: str, request: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
        answer = self.tokens.call(self.config.token_name(), self.fetch_token, request)
        if _errcode(answer):
            raise WeComError(_errcode(answer), str(answer.get("errmsg", "")), path)
        return answer

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call(path, lambda token: _json(self._request(
            "POST", path, params={"access_token": token}, json=body)))

    # --- customer service ----------------------------------------------------------------------------------------

    def sync_msg(self, cursor: str, token: str, limit: int = SYNC_LIMIT) -> SyncPage:
        body: dict[str, Any] = {"cursor": cursor, "limit": limit, "voice_format": 0,
                                "open_kfid": self.config.open_kfid}
        if token:
            body["token"] = token
        answer = self._post("kf/sync_msg", body)
        messages = [m for m in answer.get("msg_list") or [] if isinstance(m, dict)]
        return SyncPage(messages, str(answer.get("next_cursor") or cursor), bool(answer.get("has_more")))

    def send_msg(self, touser: str, msgid: str, msgtype: str, content: dict[str, Any]) -> str:
        answer = self._post("kf/send_msg", {"touser": touser, "open_kfid": self.config.open_kfid, "msgid": msgid,
                                            "msgtype": msgtype, msgtype: content})
        return str(answer.get("msgid") or msgid)

    def send_msg_on_event(self, code: str, msgid: str, text: str) -> str:
        answer = self._post("kf/send_msg_on_event", {"code": code, "msgid": msgid, "msgtype": "text",
                                                     "text": {"content": text}})
        return str(answer.get("msgid") or msgid)

    def customers(self, external_userids: list[str]) -> dict[str, dict[str, Any]]:
        """The customers' profiles by external_userid (``unionid`` only when the corp has bound a WeChat
        developer account)."""
        answer = self._post("kf/customer/batchget", {"external_userid_list": external_userids[:100]})
        return {str(c.get("external_userid")): c for c in answer.get("customer_list") or [] if isinstance(c, dict)}

    # --- media ---------------------------------------------------------------------------------------------------

    def upload_media(self, kind: str, filename: str, content: bytes, content_type: str) -> str:
        answer = self._call("media/upload", lambda token: _json(self._request(
            "POST", "media/upload", params={"access_token": token, "type": kind},
            files={"media": (filename or "file", content, content_type)})))
        if not answer.get("media_id"):
            raise WeComError(-1, "no media_id in the answer", "media/upload")
        return str(answer["media_id"])

    def get_media(self, media_id: str, max_bytes: int = MEDIA_MAX_BYTES) -> Media:
        found: list[Media] = []

        def request(token: str) -> dict[str, Any]:
            try:
                with self.http.stream("GET", f"{self.base}/cgi-bin/media/get",
                                      params={"access_token": token, "media_id": media_id}) as resp:
                    if resp.status_code != 200:
                        raise WeComUnavailable(f"HTTP {resp.status_code}")
                    content_type = resp.headers.get("content-type", "application/octet-stream").split(";")[0]
                    body = bytearray()
                    for chunk in resp.iter_bytes():
                        body += chunk
                        if len(body) > max_bytes:
                            return {"errcode": 40006, "errmsg": "media larger than edudesk keeps"}
            except httpx.HTTPError as exc:
                raise WeComUnavailable(f"media/get: {type(exc).__name__}") from None
            if content_type in ("application/json", "text/plain") and body[:1] == b"{":
                return _json(httpx.Response(200, content=bytes(body)))  # an error answer instead of the file
            found[:] = [Media(bytes(body), content_type, _filename(resp.headers.get("content-disposition", "")))]
            return {"errcode": 0}

        self._call("media/get", request)
        return found[0]


def _filename(disposition: str) -> str:
    """The file name of a ``Content-Disposition: attachment; filename="x.jpg"`` header (or nothing)."""
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename" and value:
            return value.strip().strip('"')[:100]
    return ""
