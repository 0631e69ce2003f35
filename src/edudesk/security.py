"""Security headers, request body limits, the widget's CORS answers and web-origin checks (docs/limits.md).

Pure ASGI middleware, so streaming responses and WebSockets pass through untouched, and no area is imported:
the app factory says which paths take uploads and which are the widget's.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Iterable
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Staff pages run only our own scripts and styles: no inline script, no eval, no inline <style>. Element styles
# set by script (el.style.x = …) are not affected by style-src; style="" attributes in markup would be.
STAFF_CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
# Pages that stand in for an institution's own site (the demo) are framable and carry no staff CSP.
UNRESTRICTED_PAGES = ("/demo",)
CORS_STATE = "edudesk.cors_denied"
WIDGET_ALLOW_HEADERS = "content-type, x-visitor-token"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class SecurityHeadersMiddleware:
    """nosniff and a referrer policy everywhere; on HTML pages the staff CSP with ``frame-ancestors 'none'`` and
    X-Frame-Options (older browsers); over HTTPS, HSTS and the ``Secure`` flag on every cookie.

    "Over HTTPS" is the ASGI scheme, which uvicorn sets from X-Forwarded-Proto only for EDUDESK_TRUSTED_PROXIES."""

    def __init__(self, app: ASGIApp, *, hsts_seconds: int = 0, always_secure_cookies: bool = False) -> None:
        self.app, self.hsts_seconds, self.always_secure = app, hsts_seconds, always_secure_cookies

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """A socket (or lifespan) passes straight through: returning the app's own awaitable keeps no frame of
        this middleware alive for as long as the socket is open (thousands of widget sockets, all evening)."""
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._headers(list(message.get("headers", [])), path, https)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _headers(self, headers: list[tuple[bytes, bytes]], path: str, https: bool) -> list[tuple[bytes, bytes]]:
        present = {name.lower() for name, _ in headers}
        content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
        wanted = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"strict-origin-when-cross-origin")]
        if content_type.startswith(b"text/html") and not path.startswith(UNRESTRICTED_PAGES):
            wanted += [(b"content-security-policy", STAFF_CSP.encode()), (b"x-frame-options", b"DENY")]
        if https and self.hsts_seconds:
            wanted.append((b"strict-transport-security", f"max-age={self.hsts_seconds}".encode()))
        out = [h for h in headers if not (h[0].lower() == b"set-cookie" and (https or self.always_secure))]
        if https or self.always_secure:
            out += [(k, _secure_cookie(v)) for k, v in headers if k.lower() == b"set-cookie"]
        out.extend(h for h in wanted if h[0] not in present)
        return out


def _secure_cookie(value: bytes) -> bytes:
    attributes = {part.strip().lower() for part in value.split(b";")[1:]}
    return value if b"secure" in attributes else value + b"; Secure"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body passes its limit; an HTTPException so FastAPI's body parsing passes it
    on (it turns other exceptions into 400) and the app's handler answers 413 ``{"error": …}``."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"请求内容过大（上限 {_size(limit)}）")


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{max(1, limit // 1024)} KB"


class BodyLimitMiddleware:
    """Refuses request bodies over the limit: at once from Content-Length, and while streaming (a chunked body,
    or a Content-Length that lies) by counting what arrives. Upload routes get their own, larger limit."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, upload_max_bytes: int, upload_paths: Iterable[str]) -> None:
        self.app, self.max_bytes, self.upload_max_bytes = app, max_bytes, upload_max_bytes
        self.upload_paths = frozenset(upload_paths)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """A socket (or lifespan) passes straight through: returning the app's own awaitable keeps no frame of
        this middleware alive for as long as the socket is open (thousands of widget sockets, all evening)."""
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.upload_max_bytes if scope["path"] in self.upload_paths else self.max_bytes
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            status = 413 if declared.isdigit() else 400
            message = BodyTooLarge(limit).detail if status == 413 else "Content-Length 不合法"
            await _send_json(send, status, "too_large" if status == 413 else "bad_request", message)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await _send_json(send, 413, "too_large", str(exc.detail))


async def _send_json(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "field": None}}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class WidgetCorsMiddleware:
    """CORS for the widget's HTTP API, which institutions' own sites call (without cookies).

    A preflight cannot name the org (it has no body), so it is answered for any origin; it grants nothing by
    itself. The real answer carries ``Access-Control-Allow-Origin: <that origin>`` (never ``*``, with
    ``Vary: Origin``) unless the route found the origin outside the org's allow-list (``deny_cors``). Other paths
    get no CORS headers at all: the staff pages and the token API are not for other sites' scripts."""

    def __init__(self, app: ASGIApp, *, prefixes: tuple[str, ...]) -> None:
        self.app, self.prefixes = app, prefixes

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """A socket (or lifespan) passes straight through: returning the app's own awaitable keeps no frame of
        this middleware alive for as long as the socket is open (thousands of widget sockets, all evening)."""
        origin = _header(scope, b"origin") if scope["type"] == "http" else None
        if origin is None or not scope["path"].startswith(self.prefixes):
            return self.app(scope, receive, send)
        return self._cors(scope, receive, send, origin)

    async def _cors(self, scope: Scope, receive: Receive, send: Send, origin: str) -> None:
        if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method") is not None:
            await send({"type": "http.response.start", "status": 204, "headers": [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-methods", b"GET, POST"),
                (b"access-control-allow-headers", WIDGET_ALLOW_HEADERS.encode()),
                (b"access-control-max-age", b"600"), (b"vary", b"Origin")]})
            await send({"type": "http.response.body", "body": b""})
            return
        scope[CORS_STATE] = False

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if not h[0].lower().startswith(b"access-control-")]
                headers.append((b"vary", b"Origin"))
                if not scope.get(CORS_STATE):
                    headers.append((b"access-control-allow-origin", origin.encode("latin-1")))
                    headers.append((b"access-control-expose-headers", b"Retry-After"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cors)


def deny_cors(conn: HTTPConnection) -> None:
    """The route found the caller's origin outside the org's allow-list: its answer is not readable there."""
    conn.scope[CORS_STATE] = True


# ---- web origins -------------------------------------------------------------------------------------------

class OriginError(ValueError):
    pass


def normalize_origin(text: str) -> str:
    """``https://Www.Example.com:443/`` → ``https://www.example.com``; ``https://*.example.com`` allows every
    subdomain. Only http(s), a host and an optional port: a path, query, user or other scheme is an error."""
    raw = text.strip()
    if raw.endswith("/"):
        raw = raw[:-1]
    if not raw or len(raw) > 253 + 20 or not raw.isprintable() or any(c.isspace() for c in raw):
        raise OriginError(f"“{text.strip()[:80]}” 不是有效的网址来源")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise OriginError(f"“{raw[:80]}” 不是有效的网址来源") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise OriginError(f"“{raw[:80]}” 必须以 https:// 或 http:// 开头")
    if parts.path or parts.query or parts.fragment or "@" in parts.netloc or not parts.hostname:
        raise OriginError(f"“{raw[:80]}” 只能包含协议、域名和端口，不能带路径或参数")
    scheme, host = parts.scheme.lower(), parts.hostname.lower()
    wildcard = host.startswith("*.")
    bare = host[2:] if wildcard else host
    try:
        bare = bare.encode("idna").decode("ascii")  # 中文域名 → xn--…, as browsers send them
    except UnicodeError:
        raise OriginError(f"“{raw[:80]}” 的域名不合法") from None
    labels = bare.split(".")
    ipv6 = ":" in bare and not wildcard
    if "*" in bare or not all(_label_ok(label, ipv6) for label in labels):
        raise OriginError(f"“{raw[:80]}” 的域名不合法")
    if wildcard and len(labels) < 2:
        raise OriginError(f"“{raw[:80]}”：通配符只能用于子域名，例如 https://*.example.com")
    netloc = ("*." if wildcard else "") + (f"[{bare}]" if ipv6 else bare)
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        netloc += f":{port}"
    return f"{scheme}://{netloc}"


def _label_ok(label: str, ipv6: bool) -> bool:
    return bool(label) and len(label) <= 63 and all(c.isalnum() or c in "-_" or (ipv6 and c == ":") for c in label)


def origin_allowed(allowed: list[str], origin: str | None, own_origin: str | None = None) -> bool:
    """An empty allow-list allows any origin. Otherwise the browser's Origin must be listed (or match a
    ``*.`` entry), or be edudesk's own origin (its demo page). No Origin at all is refused: browsers send one on
    every cross-site POST and WebSocket, so only scripts omit it."""
    if not allowed:
        return True
    if not origin or origin == "null":
        return False
    try:
        candidate = normalize_origin(origin)
    except OriginError:
        return False
    if own_origin and candidate == own_origin:
        return True
    scheme, _, netloc = candidate.partition("://")
    for entry in allowed:
        if entry == candidate:
            return True
        entry_scheme, _, entry_netloc = entry.partition("://")
        if entry_netloc.startswith("*.") and entry_scheme == scheme and netloc.endswith(entry_netloc[1:]):
            return True
    return False


@functools.lru_cache(maxsize=16)
def own_origin(base_url: str) -> str | None:
    """edudesk's own origin (EDUDESK_BASE_URL), always allowed: its demo page embeds the widget. Cached: the
    beacon asks for it on every page view, and the setting does not change while the process runs."""
    parts = urlsplit(base_url)
    try:
        return normalize_origin(f"{parts.scheme}://{parts.netloc}")
    except OriginError:
        return None


# Sockets that never read the staff session: the visitor is its token (docs/protocol.md).
SESSIONLESS_SOCKETS = frozenset({"/ws/visitor"})


class StaffSessionMiddleware(SessionMiddleware):
    """Starlette's signed-cookie session, for the staff pages and the console's sockets. The widget's socket never
    reads a session, so it passes straight through: otherwise the middleware's frame, the cookies it parsed and an
    empty session would live as long as each of thousands of widget sockets."""

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:  # type: ignore[override]
        if scope["type"] == "websocket" and scope["path"] in SESSIONLESS_SOCKETS:
            return self.app(scope, receive, send)
        return super().__call__(scope, receive, send)
