"""The live list fed by real beacons: ``POST /api/v1/widget/beacon`` (a normal browser's User-Agent) → the trail's
``visitor.page_viewed`` event → the tracker → ``/console/visitors/list`` with the page, the source and returning /
new from the stored trail. The event's keys are the ones the tracker reads (docs/visitors.md, "Events")."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from edudesk import events
from edudesk.channels.web.visitor_token import VisitorTokens
from edudesk.contacts import service as contacts_service
from edudesk.db import Database
from edudesk.visitors import live
from tests.conftest import TwoOrgs, login
from tests.visitors.factories import add_visit

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
LANDING = "https://school.example/kaoyan?utm_source=baidu&utm_medium=cpc&utm_campaign=kaoyan-spring&bd_vid=77"
BAIDU = "https://www.baidu.com/s?wd=%E8%80%83%E7%A0%94%E8%A1%A5%E4%B9%A0"  # 考研补习


def _token(client: TestClient, org_key: str) -> tuple[str, str]:
    resp = client.post("/api/v1/widget/session", json={"org_key": org_key})
    assert resp.status_code == 200, resp.text
    token = resp.json()["token"]
    ident = VisitorTokens(client.app.state.ctx.settings.secret_key).read(token)  # type: ignore[attr-defined]
    assert ident is not None
    return token, ident.visitor_id


def _beacon(client: TestClient, org_key: str, token: str, key: str, url: str, *, title: str, referrer: str = "",
            left: dict[str, Any] | None = None) -> None:
    body = {"org_key": org_key, "token": token, "view": {"key": key, "url": url, "title": title,
                                                         "referrer": referrer}, "left": left}
    resp = client.post("/api/v1/widget/beacon", content=json.dumps(body, ensure_ascii=False),
                       headers={"Content-Type": "text/plain;charset=UTF-8", "User-Agent": CHROME})
    assert resp.status_code == 204, resp.text


def _row(app: FastAPI, client: TestClient, org_id: int, visitor_key: str, url: str) -> str:
    """The visitor's row once the tracker shows ``url`` and the writer stored the view (returning is read from the
    stored trail)."""
    registry = app.state.live.registry
    deadline = time.monotonic() + 10
    while (found := registry.get(org_id, visitor_key)) is None or found.url != url:
        assert time.monotonic() < deadline, f"{url} never reached the live list"
        time.sleep(0.02)
    app.state.trail.writer.drain()
    html = client.get("/console/visitors/list").text
    match = re.search(rf'<tr id="visitor-{re.escape(visitor_key)}".*?</tr>', html, re.S)
    assert match is not None, html
    return match.group(0)


def test_beacons_put_the_visitor_on_the_live_list(app: FastAPI, client: TestClient, database: Database,
                                                  orgs: TwoOrgs) -> None:
    seen: list[events.DomainEvent] = []
    app.state.ctx.bus.subscribe(lambda ev: seen.append(ev) if ev.type == "visitor.page_viewed" else None)
    a = orgs.a.public_key
    new_token, new_key = _token(client, a)
    old_token, old_key = _token(client, a)
    with database.session() as session:  # the second visitor came two days ago
        add_visit(session, orgs.a.id, visitor_key=old_key, started_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2),
                  pages=["https://school.example/"])
        session.commit()
    login(client, "alpha", "agent")

    _beacon(client, a, new_token, "view0001", LANDING, title="考研冲刺班", referrer=BAIDU)
    row = _row(app, client, orgs.a.id, new_key, LANDING)
    assert "考研冲刺班" in row and "school.example/kaoyan?utm_source=baidu" in row
    assert "广告" in row and "百度" in row and "考研补习" in row and "kaoyan-spring" in row
    assert "新访客" in row and "访问次数 1" in row

    # Moving on inside the site: same visit, the new page shown, the visit's source kept (not "direct").
    _beacon(client, a, new_token, "view0002", "https://school.example/price", title="价格", referrer=LANDING,
            left={"key": "view0001", "seconds": 20})
    row = _row(app, client, orgs.a.id, new_key, "https://school.example/price")
    assert "价格" in row and "广告" in row and "kaoyan-spring" in row and "新访客" in row
    assert "· 2 " in row  # two pages in this visit

    _beacon(client, a, old_token, "view0001", "https://school.example/trial", title="试听",
            referrer="https://www.douyin.com/video/1")
    row = _row(app, client, orgs.a.id, old_key, "https://school.example/trial")
    assert "试听" in row and "社交媒体" in row and "老访客" in row and "访问次数 2" in row

    # What the tracker read is what the trail published: every key of docs/visitors.md, consistent with the list.
    first = seen[0].data
    assert set(first) == {"visitor_key", "contact_id", "view_key", "url", "title", "referrer", "at", "landing",
                          "source", "source_kind", "device", "os", "browser", "province", "city"}
    assert first["landing"] is True and seen[1].data["landing"] is False
    assert seen[1].data["source"] == first["source"] and first["source"]["utm_campaign"] == "kaoyan-spring"
    assert first["device"] == "desktop" and first["browser"] == "Chrome"
    patch = live.view_patch(first, time.time())
    assert patch is not None and patch[0] == new_key
    assert (patch[1]["source_kind"], patch[1]["engine"], patch[1]["keyword"], patch[1]["campaign"]) == (
        "ad", "baidu", "考研补习", "kaoyan-spring")
    assert all(e.data["contact_id"] is None for e in seen)  # nobody opened the widget yet

    # The widget's socket makes the visitor a contact: their next page view carries it, the list names them.
    with client.websocket_connect(f"/ws/visitor?token={new_token}") as ws:
        assert ws.receive_json()["type"] == "hello"
        with database.session() as session:
            contact = contacts_service.find_by_identity(session, orgs.a.id, "web", new_key)
            assert contact is not None
            contact_id = contact.id
        _beacon(client, a, new_token, "view0003", "https://school.example/teachers", title="师资",
                referrer="https://school.example/price")
        row = _row(app, client, orgs.a.id, new_key, "https://school.example/teachers")
        assert seen[-1].data["contact_id"] == contact_id and seen[-1].data["view_key"] == "view0003"
        assert "师资" in row and "新访客" in row
        assert app.state.live.registry.get(orgs.a.id, new_key).contact_id == contact_id
    # Org B's agents see none of it.
    client.cookies.clear()
    login(client, "beta", "agent")
    assert "school.example" not in client.get("/console/visitors/list").text
