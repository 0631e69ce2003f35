"""A web page fetched by the server from an address an admin entered, under the webhooks' SSRF policy.

Every hop (a redirect included) is checked and sent to the checked address; the body is read up to
``MAX_PAGE_BYTES`` within ``TIMEOUT_SECONDS`` and must be HTML or plain text.
"""

from __future__ import annotations

import time
from urllib.parse import urljoin

import httpx

from edudesk.llm.documents.extract import DocumentError, Extracted, html_to_text
from edudesk.webhooks.urls import UrlPolicy, UrlRefused

MAX_PAGE_BYTES = 2 * 1024 * 1024
TIMEOUT_SECONDS = 10.0
MAX_REDIRECTS = 3
TYPES = ("text/html", "application/xhtml+xml", "text/plain")


def _refused(message: str) -> DocumentError:
    return DocumentError("url_refused", message, "url")


def fetch_page(http: httpx.Client, policy: UrlPolicy, url: str) -> tuple[str, Extracted]:
    """(the final URL, the page's text)."""
    try:
        policy.parse(url)
    except UrlRefused as exc:
        raise _refused(exc.message) from None
    deadline = time.monotonic() + TIMEOUT_SECONDS
    current = url.strip()
    for _ in range(MAX_REDIRECTS + 1):
        try:
            target = policy.target(current)
        except UrlRefused as exc:
            raise _refused(exc.message.replace("推送", "抓取")) from None
        ext = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
        headers = {
            "Host": target.host_header,
            "User-Agent": "edudesk-document-fetcher",
            "Accept": "text/html,text/plain;q=0.9",
        }
        try:
            with http.stream(
                "GET",
                target.url,
                headers=headers,
                extensions=ext,
                follow_redirects=False,
                timeout=httpx.Timeout(TIMEOUT_SECONDS, connect=3.0),
            ) as resp:
                if resp.status_code in (301, 302, 303, 307, 308) and resp.headers.get("location"):
                    current = urljoin(current, resp.headers["location"])
                    continue
                if resp.status_code != 200:
                    raise DocumentError("fetch_failed", f"网页打开失败（HTTP {resp.status_code}）", "url")
                content_type = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                if content_type not in TYPES:
                    raise DocumentError("bad_type", f"这个网址不是网页（{content_type or '未知类型'}）", "url")
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_PAGE_BYTES:
                        raise DocumentError("too_large", f"网页超过 {MAX_PAGE_BYTES // (1024 * 1024)} MB", "url")
                    if time.monotonic() > deadline:
                        raise DocumentError("timeout", "网页加载超时", "url")
                encoding = resp.charset_encoding or "utf-8"
        except httpx.TimeoutException:
            raise DocumentError("timeout", "网页加载超时", "url") from None
        except httpx.HTTPError as exc:
            raise DocumentError("fetch_failed", f"无法打开网页：{type(exc).__name__}", "url") from None
        try:
            text = bytes(body).decode(encoding, errors="replace")
        except LookupError:
            text = bytes(body).decode("utf-8", errors="replace")
        if content_type == "text/plain":
            return current, Extracted("text", text.strip() or _empty(), "")
        return current, html_to_text(text)
    raise DocumentError("too_many_redirects", "网址跳转次数过多", "url")


def _empty() -> str:
    raise DocumentError("no_text", "网页中没有可读的文字", "url")
