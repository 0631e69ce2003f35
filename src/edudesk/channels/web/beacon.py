"""``POST /api/v1/widget/beacon``: one page view from the widget (docs/protocol.md, "The beacon").

It must stay cheap — a beacon per page view of every visitor — so it verifies (org key, origin, signed token),
parses, hands the view to the process's batched writer and publishes ``visitor.page_viewed``, then answers 204:
no database call per beacon (the org's key, origins and trail switch come from a cache of a few seconds), and no
worker thread either unless Redis is in use.
``navigator.sendBeacon`` sends its JSON as ``text/plain;charset=UTF-8``, so the body is read here, at most 4 KB,
whatever its content type.

Two ways in, one answer: ``SHORTCUT`` (``edudesk.shortcuts``) takes the widget's requests ahead of the session
and locale middlewares and FastAPI's routing, which cost three times the beacon's own work
(docs/performance.md, "Page-view beacons", round 2); the FastAPI route below takes what the shortcut leaves (a
request with a cookie or a query string) and is what the OpenAPI document describes. Both read the body with
``read_document``, check it as FastAPI and the text guard do, and call ``accept``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import Receive, Scope, Send

from edudesk.apischema import error_responses
from edudesk.channels.web.schemas import BeaconRequest
from edudesk.channels.web.visitor_token import tokens_for
from edudesk.context import get_ctx
from edudesk.db import utcnow
from edudesk.i18n import LocaleMiddleware
from edudesk.ratelimit import client_address, limiter_of
from edudesk.security import deny_cors, origin_allowed, own_origin
from edudesk.shortcuts import Shortcut
from edudesk.textguard import reject_unstorable_json
from edudesk.visitors import beacons
from edudesk.visitors.runtime import Trail
from edudesk.web import error_response

PATH = "/api/v1/widget/beacon"
MAX_BEACON_BYTES = 4096
NO_CONTENT = 204


class _TooLarge(Exception):
    pass


async def _bounded_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BEACON_BYTES:
        raise _TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BEACON_BYTES:
            raise _TooLarge
    return bytes(body)


async def read_document(request: Request) -> tuple[bytes, dict[str, Any]] | Response:
    """The body and the JSON object it holds, or the answer to a body that is none (413 over 4 KB, 400). The
    request's content type is then JSON, as FastAPI's validation and the text guard expect."""
    try:
        body = await _bounded_body(request)
    except _TooLarge:
        return error_response(413, "too_large", f"请求体不能超过 {MAX_BEACON_BYTES} 字节")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return error_response(400, "bad_json", "请求体须是 JSON 对象")
    if not isinstance(document, dict):
        return error_response(400, "bad_json", "请求体须是 JSON 对象")
    headers = MutableHeaders(scope=request.scope)
    headers["content-type"] = "application/json"
    return body, document


class BeaconRoute(APIRoute):
    """Reads the body itself (any content type, 4 KB at most, 400 when it is not a JSON object) and hands it on as
    JSON, so the route's model validates it like any other API body (422 naming the field)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            read = await read_document(request)
            if isinstance(read, Response):
                return read
            parsed = Request(request.scope, request.receive)
            parsed._body = read[0]  # Starlette's cache of the body: FastAPI and the text guard read it from there
            return await handler(parsed)

        return bounded


router = APIRouter(route_class=BeaconRoute)


def trail_of(request: Request) -> Trail:
    trail: Trail = request.app.state.trail
    return trail


def do_not_track(request: Request, body: BeaconRequest) -> bool:
    return body.dnt or request.headers.get("dnt") == "1" or request.headers.get("sec-gpc") == "1"


@router.post(PATH, tags=["widget"], status_code=NO_CONTENT, response_class=Response,
             responses=error_responses(400, 401, 403, 404, 413, 422, 429))
async def widget_beacon(request: Request, body: BeaconRequest) -> Response:
    """One page view: stored in the next batch and announced as ``visitor.page_viewed``; 204 also when nothing
    is stored (Do-Not-Track, the org's trail switched off).

    On the event loop, without a worker thread: nothing here waits, except on Redis (rate-limit counters and the
    event bus of several instances), which goes to a thread, and a miss of the org-key cache (the database)."""
    return await accept(request, body)


async def accept(request: Request, body: BeaconRequest) -> Response:
    """The beacon once its body is valid, for both ways in: limits, org, origin, token, then the writer's queue
    (see ``widget_beacon``)."""
    ctx = get_ctx(request)
    limiter, ip = limiter_of(request), client_address(request)
    shared = bool(ctx.settings.redis_url)  # counters and events in Redis: a network round trip each

    async def limit(**subject: Any) -> None:
        if shared:
            await anyio.to_thread.run_sync(functools.partial(limiter.check, "beacon", **subject))
        else:
            limiter.check("beacon", **subject)

    await limit(ip=ip)
    if do_not_track(request, body):
        return Response(status_code=NO_CONTENT)
    trail = trail_of(request)
    cached, gate = trail.cached_gate(body.org_key)
    if not cached:
        gate = await anyio.to_thread.run_sync(trail.gate, body.org_key)
    if gate is None:
        return error_response(404, "unknown_org", "机构不存在或在线咨询已停用", "org_key")
    if not origin_allowed(list(gate.origins), request.headers.get("origin"), own_origin(ctx.settings.base_url)):
        deny_cors(request)
        return error_response(403, "origin_not_allowed", "此网站未获准使用该机构的在线咨询", "origin")
    ident = tokens_for(ctx.settings.secret_key).read(body.token)
    if ident is None or ident.org_id != gate.org_id:
        return error_response(401, "invalid_token", "访客凭证无效", "token")
    await limit(org_id=gate.org_id)
    if not gate.trail_enabled:
        return Response(status_code=NO_CONTENT)
    left = body.left
    view = beacons.prepare(
        gate.org_id, ident.visitor_id, view_key=body.view.key, url=body.view.url, title=body.view.title,
        referrer=body.view.referrer, user_agent=request.headers.get("user-agent", ""), ip=ip, at=utcnow(),
        left_key=left.key if left is not None and left.key != body.view.key else None,
        left_seconds=left.seconds if left is not None else None)
    event = trail.accept(view)
    if event is not None:
        if shared:
            await anyio.to_thread.run_sync(ctx.bus.publish, [event])
        else:
            ctx.bus.publish([event])
    return Response(status_code=NO_CONTENT)


async def shortcut_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The shortcut's endpoint: what ``BeaconRoute``, FastAPI's body validation, the text guard and the route do,
    in their order, with the same answers; a ``RequestValidationError`` or ``RateLimited`` goes to the app's
    handlers as on the long way."""
    request = Request(scope, receive)
    read = await read_document(request)
    if isinstance(read, Response):
        response = read
    else:
        document = read[1]
        reject_unstorable_json(document, read[0])  # FastAPI runs the app's dependencies before the body's model
        try:
            body = BeaconRequest.model_validate(document)
        except ValidationError as exc:
            raise RequestValidationError([{**error, "loc": ("body", *error["loc"])}
                                          for error in exc.errors(include_url=False)], body=document) from None
        response = await accept(request, body)
    await response(scope, receive, send)


def _takes(scope: Scope) -> bool:
    """POST without a query string (the text guard would read it) or a cookie (the session middleware would
    answer to edudesk's own cookie, sent when the widget runs on edudesk's demo page)."""
    if scope["method"] != "POST" or scope["query_string"]:
        return False
    return all(name != b"cookie" for name, _ in scope["headers"])


SHORTCUT = Shortcut(PATH, shortcut_app, _takes, skips=(SessionMiddleware, LocaleMiddleware))
