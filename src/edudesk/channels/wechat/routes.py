"""The callback URL an admin pastes into the Official Account's 服务器配置: ``/channels/wechat/<public_id>``.

``GET`` is WeChat's URL verification (echo ``echostr`` once the signature is right); ``POST`` carries messages and
events and is answered ``success`` with no passive reply once what it means is stored. A request that is refused
stores nothing and leaves one warning in the log: 404 for an unknown or disabled inbox, 413 for a body over 64 KiB,
403 for a wrong signature or a timestamp outside the replay window, 400 for a wrong AES key, a ciphertext that does
not decrypt, malformed XML, a DTD or entity (XXE and "billion laughs" are refused by the parser), or a root that is
not ``<xml>``.
"""

from __future__ import annotations

from typing import Annotated

import anyio
import structlog
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from edudesk.channels.wechat import callback, inbound
from edudesk.context import get_ctx

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/channels/wechat", include_in_schema=False)
# Any string: an unknown one is a 404 with a log line like every other refusal (inboxes_service checks it).
PublicId = Annotated[str, Path(max_length=200)]


def refused(public_id: str, exc: callback.Refused) -> Response:
    log.warning("wechat_callback_refused", public_id=public_id[:40], status=exc.status, code=exc.code,
                reason=exc.reason[:200])
    return JSONResponse({"error": {"code": exc.code, "message": _MESSAGES.get(exc.status, "请求无效"), "field": None}},
                        status_code=exc.status)


_MESSAGES = {
    400: "请求内容无法解析",
    403: "签名校验失败",
    404: "渠道不存在或已停用",
    413: "请求内容过大",
    503: "渠道配置无法读取",
}


@router.get("/{public_id}")
def verify(request: Request, public_id: PublicId) -> Response:
    ctx = get_ctx(request)
    try:
        target = inbound.load_target(ctx, public_id)
        echostr = callback.echo(target.config, callback.Query.of(request.query_params))
    except callback.Refused as exc:
        return refused(public_id, exc)
    log.info("wechat_url_verified", inbox_id=target.inbox_id)
    return PlainTextResponse(echostr)


async def _body(request: Request) -> bytes:
    """The body, refused once it passes the limit (no more is read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > callback.MAX_BODY:
        raise callback.Refused(413, "too_large", f"declared {declared} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > callback.MAX_BODY:
            raise callback.Refused(413, "too_large", f"over {callback.MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/{public_id}")
async def receive(request: Request, public_id: PublicId) -> Response:
    ctx = get_ctx(request)
    query = callback.Query.of(request.query_params)
    try:
        body = await _body(request)
        # One thread hop for the lookup, the checks, decryption and the turn (two before, and the AES and XML on
        # the event loop between them).
        target, outcome = await anyio.to_thread.run_sync(inbound.on_callback, ctx, public_id, query, body)
    except callback.Refused as exc:
        return refused(public_id, exc)
    log.debug("wechat_callback", inbox_id=target.inbox_id, outcome=outcome)
    # "success" (not an empty body): WeChat then neither retries nor shows "该公众号暂时无法提供服务".
    return PlainTextResponse("success")
