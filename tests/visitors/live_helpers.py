"""Publishing ``visitor.page_viewed`` as the beacon does (docs/visitors.md), so live-visitor tests need no beacon."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Any

from edudesk.events import DomainEvent, EventBus


def page_view(visitor_key: str, url: str, *, title: str = "", contact_id: int | None = None, landing: bool = False,
              at: dt.datetime | None = None, view_key: str | None = None, source_kind: str = "direct",
              source: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"visitor_key": visitor_key, "contact_id": contact_id, "view_key": view_key or secrets.token_hex(6),
            "url": url, "title": title, "referrer": "", "at": (at or dt.datetime.now(dt.UTC)).isoformat(),
            "landing": landing, "source": source or {}, "source_kind": source_kind, "device": "desktop",
            "os": "Windows", "browser": "Chrome", "province": "广东", "city": "深圳", **extra}


def publish_view(bus: EventBus, org_id: int, visitor_key: str, url: str, **kw: Any) -> dict[str, Any]:
    data = page_view(visitor_key, url, **kw)
    bus.publish([DomainEvent("visitor.page_viewed", org_id, data)])
    return data


def settled(registry: Any, org_id: int, visitor_key: str, url: str, timeout: float = 10.0) -> None:
    """Waits until the tracker's thread has applied a published page view (it batches every 50 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = registry.get(org_id, visitor_key)
        if found is not None and found.url == url:
            return
        time.sleep(0.01)
    raise AssertionError(f"{url} never reached the live list")
