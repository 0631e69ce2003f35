"""What edudesk's own code holds per open widget socket, measured without a server, so the figure does not depend on
the machine's load (``memory_profile.py`` measures everything, but a loaded machine skews it):

- the hub's side: a ``realtime.Connection`` subscribed to its topic, after its ``hello`` was written;
- the middleware stack as ``app.py`` builds it, with the app below waiting as a socket's handler does.

    PYTHONPATH=$PWD/src .venv/bin/python benchmarks/socket_probe.py [--sockets 2000]

Prints Python allocations (tracemalloc) and collector-tracked objects per socket, and the tasks left alive.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tracemalloc
from typing import Any

from starlette.websockets import WebSocketState

import edudesk.security as security
from edudesk.i18n import LocaleMiddleware
from edudesk.internal_errors import InternalErrorMiddleware
from edudesk.realtime import Connection, Hub, Presence


class Socket:
    """Takes every frame at once, as a socket whose kernel buffer has room does."""

    def __init__(self) -> None:
        self.application_state = WebSocketState.CONNECTED

    async def send_json(self, frame: dict[str, Any]) -> None:
        return None

    async def close(self, code: int = 1000) -> None:
        self.application_state = WebSocketState.DISCONNECTED


def grown_bytes(before: tracemalloc.Snapshot) -> int:
    gc.collect()
    return sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename") if s.size_diff > 0)


async def hub_side(n: int) -> str:
    hub = Hub(Presence(None, "probe"))
    hub.bind_loop(asyncio.get_running_loop())
    sockets, topics = [Socket() for _ in range(n)], [f"contact:{i}" for i in range(n)]
    gc.collect()
    objects = len(gc.get_objects())
    before = tracemalloc.take_snapshot()
    conns = []
    for ws, topic in zip(sockets, topics, strict=True):
        conn = Connection(ws, [topic], lambda ev: None, org_id=1)  # type: ignore[arg-type]
        hub.add(conn)
        conn.offer({"type": "hello"})
        conns.append(conn)
    for _ in range(5):
        await asyncio.sleep(0)
    grown = grown_bytes(before)
    tracked = len(gc.get_objects()) - objects
    tasks = len(asyncio.all_tasks()) - 1
    for conn in conns:
        await hub.remove(conn)
    return (f"hub: {grown / n:.0f} B and {tracked / n:.1f} tracked objects per idle connection; "
            f"{tasks} tasks alive for {n} connections")


async def middleware_side(n: int) -> str:
    forever = asyncio.get_running_loop().create_future()

    async def handler(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.shield(forever)

    session = getattr(security, "StaffSessionMiddleware", None)
    if session is None:  # before round 2
        from starlette.middleware.sessions import SessionMiddleware as session
    stack: Any = InternalErrorMiddleware(handler)  # the order of app.py's add_middleware calls, innermost first
    stack = session(stack, secret_key="x" * 32)
    stack = LocaleMiddleware(stack)
    stack = security.BodyLimitMiddleware(stack, max_bytes=10, upload_max_bytes=10, upload_paths=())
    stack = security.WidgetCorsMiddleware(stack, prefixes=("/api/v1/widget/",))
    stack = security.SecurityHeadersMiddleware(stack)
    stack = InternalErrorMiddleware(stack)
    headers = [(b"origin", b"https://school.example"), (b"accept-language", b"zh-CN"), (b"user-agent", b"Mozilla")]
    scopes = [{"type": "websocket", "path": "/ws/visitor", "headers": list(headers)} for _ in range(n)]

    async def through(app: Any, scope: dict[str, Any]) -> None:
        await app(scope, None, None)

    bare = [asyncio.ensure_future(through(handler, s)) for s in scopes]
    await asyncio.sleep(0)
    before = tracemalloc.take_snapshot()
    stacked = [asyncio.ensure_future(through(stack, s)) for s in scopes]
    await asyncio.sleep(0)
    grown = grown_bytes(before)
    bare_size = 0
    for task in (*bare, *stacked):
        task.cancel()
    await asyncio.gather(*bare, *stacked, return_exceptions=True)
    before = tracemalloc.take_snapshot()
    bare = [asyncio.ensure_future(through(handler, s)) for s in scopes]
    await asyncio.sleep(0)
    bare_size = grown_bytes(before)
    for task in bare:
        task.cancel()
    await asyncio.gather(*bare, return_exceptions=True)
    return f"middlewares: {(grown - bare_size) / n:.0f} B per socket above the handler's own task"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sockets", type=int, default=2000)
    n = ap.parse_args(argv).sockets
    tracemalloc.start()
    print(asyncio.run(hub_side(n)))
    print(asyncio.run(middleware_side(n)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
