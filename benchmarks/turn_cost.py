"""What one visitor turn costs the server, without the network: SQL statements and CPU milliseconds.

Runs what the widget socket runs for each ``message`` frame (``inbound.service.receive``: contact → conversation →
stored message → keyword bot → commit → events to the hub, then the ack's message dict) in this process, one turn
after another for several rounds, and reports the statements a turn issues and its CPU time (best and median
round). CPU time is far less disturbed by other load on the machine than the wall-clock figures of ``run.py``, so
this is the number to watch when changing the hot path.

    .venv/bin/python benchmarks/turn_cost.py
    .venv/bin/python benchmarks/turn_cost.py --database-url postgresql+psycopg://postgres@127.0.0.1/edudesk_bench
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import event, insert

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import seed

from edudesk.app import create_app
from edudesk.channels.base import InboundMessage
from edudesk.contacts.models import Contact
from edudesk.context import AppContext
from edudesk.conversations.models import Conversation, Message, SenderKind
from edudesk.conversations.schemas import message_to_dict
from edudesk.conversations.states import ConversationState
from edudesk.db import utcnow
from edudesk.inbound import service as inbound_service
from edudesk.orgs import service as orgs_service
from edudesk.settings import Settings


def turn(ctx: AppContext, org_id: int, visitor_id: str, client_id: str, text: str) -> dict[str, Any]:
    """What the visitor socket does for one ``message`` frame (channels/web/routes.py), minus the socket."""
    msg = InboundMessage(org_id=org_id, channel="web", external_user_id=visitor_id, client_message_id=client_id,
                         text=text, page_url="http://bench.invalid/")
    with ctx.db.session() as session:
        result = inbound_service.receive(session, msg, agents_online=lambda: ctx.hub.presence.any_online(org_id),
                                         max_chars=ctx.settings.max_message_chars,
                                         max_per_minute=ctx.settings.visitor_messages_per_minute, bots=ctx.bots)
        session.commit()
        return message_to_dict(result.message)


def add_history(ctx: AppContext, org_id: int, messages: int, per_conversation: int = 20) -> None:
    """Bulk-inserts closed conversations with ``messages`` messages in all, each of its own contact."""
    now = utcnow()
    with ctx.db.session() as session:
        for start in range(0, messages, per_conversation):
            contact = Contact(org_id=org_id)
            session.add(contact)
            session.flush()
            conv = Conversation(org_id=org_id, contact_id=contact.id, channel="web", state=ConversationState.closed,
                                closed_at=now)
            session.add(conv)
            session.flush()
            session.execute(insert(Message), [
                {"org_id": org_id, "conversation_id": conv.id, "text": "历史消息", "extra": {}, "created_at": now,
                 "sender": SenderKind.visitor if i % 2 else SenderKind.bot,
                 "client_id": f"h{start + i}" if i % 2 else None}
                for i in range(min(per_conversation, messages - start))
            ])
        session.commit()


def database_server_cpu(ctx: AppContext) -> float | None:
    """CPU seconds used so far by the PostgreSQL backends of this process's pool (None on SQLite)."""
    if ctx.db.dialect != "postgresql":
        return None
    with ctx.db.engine.connect() as conn:  # one of the pool's own connections, so it is counted too
        pids = [r[0] for r in conn.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND client_port = ANY(%(ports)s)",
            {"ports": _pool_ports(ctx)})]
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
    return total


def _pool_ports(ctx: AppContext) -> list[int]:
    """The local ports of this process's connections to the database server."""
    port = ctx.db.engine.url.port or 5432
    return [c.laddr.port for c in psutil.Process().net_connections("tcp")
            if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", help="PostgreSQL URL (default: a temporary SQLite file)")
    ap.add_argument("--visitors", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5, help="rounds of --turns turns per visitor")
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--history", type=int, default=0, metavar="N",
                    help="first give the org N older messages (in closed conversations of other contacts), to see "
                         "whether a turn's cost grows with the size of the org")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="edudesk-turn-"))
    url = args.database_url or f"sqlite:///{tmp / 'turns.db'}"
    slug, _key = seed(url)
    app = create_app(Settings(database_url=url, secret_key="turn-cost-" + "x" * 22, data_dir=tmp,
                              visitor_messages_per_minute=100_000))
    ctx = app.state.ctx
    statements: Counter[str] = Counter()
    event.listen(ctx.db.engine, "before_cursor_execute",
                 lambda _c, _cur, sql, *_a: statements.update([sql.split(None, 1)[0].upper()]))
    with ctx.db.session() as session:
        org_id = orgs_service.get_by_slug(session, slug).id
    if args.history:
        add_history(ctx, org_id, args.history)
    sessions = [f"v_turn_cost_{i}" for i in range(args.visitors)]
    n = 0

    def turns(k: int) -> None:
        nonlocal n
        for _ in range(k):
            for visitor_id in sessions:
                n += 1
                turn(ctx, org_id, visitor_id, f"t{n}", "请问学费是多少？")

    statements.clear()
    t0 = time.process_time()
    turns(1)  # every visitor's first turn creates the contact and opens a conversation (welcome text, bot state)
    first_cpu = (time.process_time() - t0) / len(sessions) * 1000
    first_statements = sum(statements.values()) / len(sessions)
    cpu, wall = [], []
    statements.clear()
    for _ in range(args.rounds):
        c0, w0 = time.process_time(), time.perf_counter()
        turns(args.turns)
        count = args.turns * len(sessions)
        cpu.append((time.process_time() - c0) / count * 1000)
        wall.append((time.perf_counter() - w0) / count * 1000)
    per_turn = {k: round(v / (args.rounds * args.turns * len(sessions)), 2) for k, v in statements.items()}
    server_cpu = database_server_cpu(ctx)
    result: dict[str, Any] = {
        "database": ctx.db.dialect,
        "statements_per_turn": round(sum(per_turn.values()), 2),
        "statements_by_kind": per_turn,
        "cpu_ms_per_turn": {"best": round(min(cpu), 2), "median": round(statistics.median(cpu), 2)},
        "wall_ms_per_turn": {"best": round(min(wall), 2), "median": round(statistics.median(wall), 2)},
        "first_turn": {"statements": round(first_statements, 2), "cpu_ms": round(first_cpu, 2)},
        # PostgreSQL's own CPU (its backends serving this run, every turn including the first), per turn.
        "database_cpu_ms_per_turn": (round(server_cpu * 1000 / n, 2)
                                     if server_cpu is not None else None),
        "history_messages": args.history,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    ctx.db.dispose()
    shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:22} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
