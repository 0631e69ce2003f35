"""One accepted page-view beacon, as the writer stores it and as the ``visitor.page_viewed`` event announces it.

Everything here is pure and cheap (the attribution is parsed from two URLs, the user agent through a cached
parser), so the beacon route can run it for each request without touching the database.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from edudesk import events
from edudesk.visitors import attribution, location, useragent

SESSION_GAP = dt.timedelta(minutes=30)
MAX_SECONDS_ON_PAGE = 6 * 3600
PAGE_VIEWED = "visitor.page_viewed"


@dataclass(frozen=True)
class PageViewIn:
    """A page view to store. ``left_key``/``left_seconds``: the previous view of the same visitor and the seconds
    it stayed visible. ``source`` and the columns after it describe the visit this view would start (used only
    when it does start one)."""

    org_id: int
    visitor_key: str
    view_key: str
    url: str
    title: str
    referrer: str
    at: dt.datetime
    left_key: str | None = None
    left_seconds: int | None = None
    source: dict[str, str] = field(default_factory=dict)
    source_kind: str = "direct"
    device: str = ""
    os: str = ""
    browser: str = ""
    is_bot: bool = False
    province: str = ""
    city: str = ""
    ip_prefix: str = ""

    @property
    def campaign(self) -> str | None:
        return (self.source.get("utm_campaign") or "")[:100] or None


def prepare(org_id: int, visitor_key: str, *, view_key: str, url: str, title: str, referrer: str,
            user_agent: str, ip: str | None, at: dt.datetime, left_key: str | None = None,
            left_seconds: int | None = None) -> PageViewIn:
    """The stored form of a beacon: attribution, device and location worked out, the address cut to its prefix."""
    agent = useragent.describe(user_agent)
    province, city = location.locate(ip)
    source = attribution.attribution(url, referrer)
    for key, value in (("device", agent.device), ("os", agent.os), ("browser", agent.browser),
                       ("province", province), ("city", city)):
        if value:
            source[key] = value
    seconds = None if left_seconds is None else max(0, min(int(left_seconds), MAX_SECONDS_ON_PAGE))
    return PageViewIn(org_id=org_id, visitor_key=visitor_key, view_key=view_key, url=url[:1000], title=title[:300],
                      referrer=referrer[:1000], at=at, left_key=left_key, left_seconds=seconds, source=source,
                      source_kind=attribution.source_kind(source), device=agent.device, os=agent.os,
                      browser=agent.browser, is_bot=agent.is_bot, province=province, city=city,
                      ip_prefix=location.prefix(ip))


@dataclass
class Recent:
    """What this process remembers of a visitor's current visit (for the event; the writer decides what is
    stored): when it was last seen, the visit's source, and the contact when known."""

    last_seen: dt.datetime
    source: dict[str, str]
    source_kind: str
    contact_id: int | None


class RecentVisitors:
    """A bounded, thread-safe memory of visitors seen by this process in the last half hour."""

    def __init__(self, capacity: int = 50_000) -> None:
        self._items: OrderedDict[tuple[int, str], Recent] = OrderedDict()
        self._lock = threading.Lock()
        self.capacity = capacity

    def get(self, org_id: int, visitor_key: str) -> Recent | None:
        with self._lock:
            return self._items.get((org_id, visitor_key))

    def put(self, org_id: int, visitor_key: str, recent: Recent) -> None:
        with self._lock:
            self._items[(org_id, visitor_key)] = recent
            self._items.move_to_end((org_id, visitor_key))
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def set_contact(self, org_id: int, visitor_key: str, contact_id: int) -> None:
        with self._lock:
            recent = self._items.get((org_id, visitor_key))
            if recent is not None:
                recent.contact_id = contact_id

    def set_contacts(self, contacts: dict[tuple[int, str], int]) -> None:
        with self._lock:
            for key, contact_id in contacts.items():
                recent = self._items.get(key)
                if recent is not None:
                    recent.contact_id = contact_id


def continues(recent: Recent | None, view: PageViewIn) -> bool:
    """The view belongs to the visit this process last saw (within the session gap, or an internal move)."""
    if recent is None:
        return bool(view.left_key) or attribution.is_internal(view.url, view.referrer)
    return view.at - recent.last_seen <= SESSION_GAP


def page_viewed(view: PageViewIn, *, landing: bool, source: dict[str, str], source_kind: str,
                contact_id: int | None) -> events.DomainEvent:
    """The ``visitor.page_viewed`` event (docs/visitors.md): no realtime topics, straight to the bus."""
    data: dict[str, Any] = {
        "visitor_key": view.visitor_key, "contact_id": contact_id, "view_key": view.view_key, "url": view.url,
        "title": view.title, "referrer": view.referrer, "at": view.at.isoformat(), "landing": landing,
        "source": dict(source), "source_kind": source_kind, "device": view.device, "os": view.os,
        "browser": view.browser, "province": view.province, "city": view.city,
    }
    return events.DomainEvent(type=PAGE_VIEWED, org_id=view.org_id, data=data)
