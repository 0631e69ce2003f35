"""Who is on the site now: the live-visitor registry every ``serve`` instance shares (docs/visitors.md, "Live
visitors and invitations").

One entry per visitor (``visitor_key``), merged from ``visitor.page_viewed`` events (current page, source, visits)
and from the widget's socket (the contact, "on the site now", time on page while no page view comes). An entry
expires ``DROP_SECONDS`` after its last page view or socket heartbeat, so a visitor who closed the tab drops off.

With Redis every instance reads and writes one hash per org (``<ns>:live:<org>``: visitor key → JSON), a sorted
set of expiry times beside it and a version counter the console polls; each change is one Lua call (a batch of
page views from the bus is one call too). Every instance applies every page view it receives from the bus: the
merge is idempotent (a repeated ``view_key`` counts once; an older view never replaces a newer one), so it does
not matter which instance's write lands first. Without Redis the same merge runs on a dict in the process (one
instance).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import redis

# A visitor with neither a socket heartbeat nor a page view for this long is no longer "on the site".
DROP_SECONDS = 90
# The widget's socket refreshes its visitor this often; "on the site now" means a heartbeat within SOCKET_TTL.
SOCKET_HEARTBEAT_SECONDS = 15
SOCKET_TTL = 40
REDIS_TIMEOUT = 2.0
# How often the in-process registry looks for expired entries (readers skip them in between).
SWEEP_SECONDS = 1.0
# Visitors a heartbeat renews per lock hold or Redis script: short enough that no reader waits long behind it.
RENEW_CHUNK = 500

Clock = Callable[[], float]


@dataclass(frozen=True)
class LiveVisitor:
    """One entry of the list, as read back (times are epoch seconds)."""

    visitor_key: str
    contact_id: int | None
    url: str
    title: str
    view_key: str
    view_at: float  # when the current page was shown
    first_at: float  # when the current visit began (its landing page)
    last_at: float  # the latest page view or socket sign of life
    views: int  # page views in the current visit
    socket_until: float  # the widget's socket counts as open until then
    source_kind: str
    keyword: str
    engine: str
    campaign: str
    device: str
    province: str
    city: str
    referrer: str
    invited_view: str  # the page view an invitation was last sent for (never two for one view)

    def online(self, now: float) -> bool:
        return self.socket_until > now

    def seconds_on_page(self, now: float) -> int:
        return max(0, int(now - self.view_at))

    def seconds_on_site(self, now: float) -> int:
        return max(0, int(now - self.first_at))

    @classmethod
    def from_entry(cls, key: str, e: Mapping[str, Any]) -> LiveVisitor:
        cid = e.get("contact_id")
        return cls(
            visitor_key=key, contact_id=int(cid) if isinstance(cid, (int, float)) and cid else None,
            url=str(e.get("url") or ""), title=str(e.get("title") or ""), view_key=str(e.get("view_key") or ""),
            view_at=float(e.get("view_at") or 0), first_at=float(e.get("first_at") or e.get("view_at") or 0),
            last_at=float(e.get("last_at") or 0), views=int(e.get("views") or 0),
            socket_until=float(e.get("socket_until") or 0), source_kind=str(e.get("source_kind") or ""),
            keyword=str(e.get("keyword") or ""), engine=str(e.get("engine") or ""),
            campaign=str(e.get("campaign") or ""), device=str(e.get("device") or ""),
            province=str(e.get("province") or ""), city=str(e.get("city") or ""),
            referrer=str(e.get("referrer") or ""), invited_view=str(e.get("invited_view") or ""),
        )


def _epoch(iso: object, default: float) -> float:
    if not isinstance(iso, str) or not iso:
        return default
    try:
        at = dt.datetime.fromisoformat(iso)
    except ValueError:
        return default
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.timestamp()


def _text(value: object, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def view_patch(data: Mapping[str, Any], now: float) -> tuple[str, dict[str, Any]] | None:
    """The entry fields a ``visitor.page_viewed`` event sets (``data`` as in docs/visitors.md), or None when the
    event has no visitor key. Only what the list shows is kept: an entry stays well under a kilobyte."""
    key = _text(data.get("visitor_key"), 64)
    if not key:
        return None
    source = data.get("source") if isinstance(data.get("source"), dict) else {}
    assert isinstance(source, dict)
    at = _epoch(data.get("at"), now)
    patch: dict[str, Any] = {
        "url": _text(data.get("url"), 1000), "title": _text(data.get("title"), 300),
        "view_key": _text(data.get("view_key"), 24) or f"t{at}", "view_at": at, "last_at": at,
        "landing": bool(data.get("landing")), "referrer": _text(data.get("referrer"), 300),
        "source_kind": _text(data.get("source_kind"), 16), "keyword": _text(source.get("search_keyword"), 100),
        "engine": _text(source.get("search_engine"), 20), "campaign": _text(source.get("utm_campaign"), 100),
        "device": _text(data.get("device"), 16), "province": _text(data.get("province"), 32),
        "city": _text(data.get("city"), 32),
    }
    cid = data.get("contact_id")
    if isinstance(cid, int) and not isinstance(cid, bool) and cid > 0:
        patch["contact_id"] = cid
    return key, patch


def merge(entry: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """The one merge rule, also written in Lua below (keep the two alike; tests run both).

    A page view (``view_key`` in the patch) replaces the current page only when it is not older than the current
    one; a repeated view key changes nothing but the time; a landing page starts a new visit (time on site and the
    visit's page count restart). Other keys (contact, socket heartbeat) are set as given; a ``view_*`` patch from a
    socket (``socket_page``) sets the page only when no page view ever did."""
    e = dict(entry)
    vk = patch.get("view_key")
    if vk is not None:
        view_at = float(patch["view_at"])
        # A page the socket reported (``socket_page``) is a stand-in: any real page view replaces it, even one
        # stamped a moment before the socket opened (the beacon and the socket race after the session call).
        if vk != e.get("view_key") and (e.get("socket_page") or view_at >= float(e.get("view_at") or 0)):
            landing = bool(patch.get("landing")) or not e.get("first_at")
            for k, v in patch.items():
                if k not in ("landing", "contact_id"):
                    e[k] = v
            e["views"] = 1 if landing else int(e.get("views") or 0) + 1
            if landing:
                e["first_at"] = view_at
            e.pop("socket_page", None)
        e["last_at"] = max(float(e.get("last_at") or 0), view_at)
    for k in ("contact_id", "socket_until"):
        if patch.get(k) is not None:
            e[k] = patch[k]
    if patch.get("socket_page") and (not e.get("view_key") or e.get("socket_page")):
        # No beacon for this visitor (the trail is off for the org): the socket's page is the best there is.
        if e.get("url") != patch.get("url"):
            e["view_at"] = patch["view_at"]
        e.update({k: patch[k] for k in ("url", "title") if k in patch}, socket_page=True)
        e.setdefault("first_at", patch["view_at"])
        e.setdefault("views", 1)
    if patch.get("touch") is not None:
        e["last_at"] = max(float(e.get("last_at") or 0), float(patch["touch"]))
    return e


def expiry(entry: Mapping[str, Any]) -> float:
    return max(float(entry.get("last_at") or 0), float(entry.get("socket_until") or 0)) + DROP_SECONDS


class Registry(Protocol):
    def apply(self, org_id: int, patches: list[tuple[str, dict[str, Any]]]) -> list[LiveVisitor]: ...

    def renew(self, org_id: int, visitor_keys: list[str], socket_until: float) -> None: ...

    def visitors(self, org_id: int) -> list[LiveVisitor]: ...

    def snapshot(self, org_id: int) -> tuple[int, list[LiveVisitor]]: ...

    def get(self, org_id: int, visitor_key: str) -> LiveVisitor | None: ...

    def version(self, org_id: int) -> int: ...

    def claim_invite(self, org_id: int, visitor_key: str, view_key: str) -> bool: ...

    def close(self) -> None: ...


class MemoryRegistry:
    """One instance without Redis: the same entries in a dict, under a lock (bus subscribers run in any thread)."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._orgs: dict[int, dict[str, dict[str, Any]]] = {}
        self._versions: dict[int, int] = {}
        self._next_sweep: dict[int, float] = {}
        self._lock = threading.Lock()
        self.clock = clock

    def _live(self, org_id: int) -> dict[str, dict[str, Any]]:
        """The org's entries, expired ones swept at most once a second: every socket heartbeat applies a patch, and
        with thousands of visitors a scan of all entries per patch was a hot loop (the readers below skip an entry
        that expired since the last sweep, so what they return is exact)."""
        now = self.clock()
        entries = self._orgs.setdefault(org_id, {})
        if now < self._next_sweep.get(org_id, -1.0):
            return entries
        self._next_sweep[org_id] = now + SWEEP_SECONDS
        for key in [k for k, e in entries.items() if expiry(e) <= now]:
            del entries[key]
            self._versions[org_id] = self._versions.get(org_id, 0) + 1
        return entries

    def _current(self, org_id: int, visitor_key: str) -> dict[str, Any] | None:
        entry = self._live(org_id).get(visitor_key)
        return entry if entry is not None and expiry(entry) > self.clock() else None

    def apply(self, org_id: int, patches: list[tuple[str, dict[str, Any]]]) -> list[LiveVisitor]:
        out: list[LiveVisitor] = []
        with self._lock:
            entries = self._live(org_id)
            for key, patch in patches:
                entries[key] = merge(self._current(org_id, key) or {}, patch)
                out.append(LiveVisitor.from_entry(key, entries[key]))
            self._versions[org_id] = self._versions.get(org_id, 0) + 1
        return out

    def renew(self, org_id: int, visitor_keys: list[str], socket_until: float) -> None:
        """``apply`` of ``{"socket_until": …}`` to each key, in place and returning nothing: the socket heartbeat
        renews every visitor this instance holds at once, and building a merged copy and a ``LiveVisitor`` of each
        (5,000 at a time) was a burst of allocation, and a long hold of the lock readers wait on, every 15 s."""
        for start in range(0, len(visitor_keys), RENEW_CHUNK):
            with self._lock:
                entries = self._live(org_id)
                for key in visitor_keys[start:start + RENEW_CHUNK]:
                    entry = self._current(org_id, key)
                    if entry is None:
                        entries[key] = {"socket_until": socket_until}
                    else:
                        entry["socket_until"] = socket_until
                self._versions[org_id] = self._versions.get(org_id, 0) + 1

    def visitors(self, org_id: int) -> list[LiveVisitor]:
        return self.snapshot(org_id)[1]

    def snapshot(self, org_id: int) -> tuple[int, list[LiveVisitor]]:
        """The list and the version it is (one read, so a drawing knows exactly what it shows)."""
        with self._lock:
            now = self.clock()
            visitors = [LiveVisitor.from_entry(k, e) for k, e in self._live(org_id).items() if expiry(e) > now]
            return self._versions.get(org_id, 0), visitors

    def get(self, org_id: int, visitor_key: str) -> LiveVisitor | None:
        with self._lock:
            e = self._current(org_id, visitor_key)
            return LiveVisitor.from_entry(visitor_key, e) if e is not None else None

    def version(self, org_id: int) -> int:
        with self._lock:
            self._live(org_id)
            return self._versions.get(org_id, 0)

    def claim_invite(self, org_id: int, visitor_key: str, view_key: str) -> bool:
        with self._lock:
            e = self._current(org_id, visitor_key)
            if e is None or e.get("invited_view") == view_key:
                return False
            e["invited_view"] = view_key
            return True

    def close(self) -> None:
        return None


# The writing scripts' common parts (``now`` and ``drop`` are their locals): drop the entries that expired, and
# after writing keep the org's keys alive and bump its version.
_SWEEP_EXPIRED = """local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
if #gone > 0 then
  redis.call('HDEL', KEYS[1], unpack(gone))
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
end
"""
_KEEP_AND_BUMP = """redis.call('EXPIRE', KEYS[1], drop * 4)
redis.call('EXPIRE', KEYS[2], drop * 4)
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], 86400)
"""

# KEYS: the org's hash, its expiry set, its version. ARGV: now, drop seconds, then (visitor key, patch JSON) pairs.
# Returns the merged entries (JSON) in order. The same rule as ``merge`` above.
_APPLY = """
local now = tonumber(ARGV[1])
local drop = tonumber(ARGV[2])
""" + _SWEEP_EXPIRED + """local out = {}
for i = 3, #ARGV, 2 do
  local key = ARGV[i]
  local p = cjson.decode(ARGV[i + 1])
  local raw = redis.call('HGET', KEYS[1], key)
  local e = raw and cjson.decode(raw) or {}
  local function num(v) if v == nil or v == cjson.null then return 0 end return tonumber(v) or 0 end
  if p.view_key ~= nil then
    if p.view_key ~= e.view_key and (e.socket_page or p.view_at >= num(e.view_at)) then
      local landing = p.landing or e.first_at == nil
      for k, v in pairs(p) do
        if k ~= 'landing' and k ~= 'contact_id' then e[k] = v end
      end
      if landing then e.views = 1; e.first_at = p.view_at else e.views = num(e.views) + 1 end
      e.socket_page = nil
    end
    e.last_at = math.max(num(e.last_at), p.view_at)
  end
  if p.contact_id ~= nil and p.contact_id ~= cjson.null then e.contact_id = p.contact_id end
  if p.socket_until ~= nil then e.socket_until = p.socket_until end
  if p.socket_page and (e.view_key == nil or e.socket_page) then
    if e.url ~= p.url then e.view_at = p.view_at end
    e.url = p.url; e.title = p.title; e.socket_page = true
    if e.first_at == nil then e.first_at = p.view_at end
    if e.views == nil then e.views = 1 end
  end
  if p.touch ~= nil then e.last_at = math.max(num(e.last_at), p.touch) end
  local encoded = cjson.encode(e)
  redis.call('HSET', KEYS[1], key, encoded)
  redis.call('ZADD', KEYS[2], math.max(num(e.last_at), num(e.socket_until)) + drop, key)
  out[#out + 1] = encoded
end
""" + _KEEP_AND_BUMP + """return out
"""

# KEYS: the org's hash, its expiry set, its version. ARGV: now, drop seconds, socket_until, then visitor keys.
# ``_APPLY`` of {socket_until = …} to each key, returning nothing (the heartbeat reads no entry back).
_RENEW = """
local now = tonumber(ARGV[1])
local drop = tonumber(ARGV[2])
local until_ = tonumber(ARGV[3])
""" + _SWEEP_EXPIRED + """for i = 4, #ARGV do
  local key = ARGV[i]
  local raw = redis.call('HGET', KEYS[1], key)
  local e = raw and cjson.decode(raw) or {}
  e.socket_until = until_
  local last = tonumber(e.last_at) or 0
  redis.call('HSET', KEYS[1], key, cjson.encode(e))
  redis.call('ZADD', KEYS[2], math.max(last, until_) + drop, key)
end
""" + _KEEP_AND_BUMP + """return #ARGV - 3
"""

# KEYS: hash, expiry set, version. ARGV: now. Drops what expired, then returns [version, field, value, …].
_READ = """
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if #gone > 0 then
  redis.call('HDEL', KEYS[1], unpack(gone))
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
  redis.call('INCR', KEYS[3])
end
local out = {redis.call('GET', KEYS[3]) or '0'}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all do out[#out + 1] = all[i] end
return out
"""

# KEYS: hash. ARGV: visitor key, view key. 1 when this call claimed the view for an invitation.
_CLAIM = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local e = cjson.decode(raw)
if e.invited_view == ARGV[2] then return 0 end
e.invited_view = ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(e))
return 1
"""


def _s(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisRegistry:
    """The registry every instance shares. Calls give up after ``REDIS_TIMEOUT``; a failure raises
    ``redis.RedisError`` to the caller (the tracker logs it and the list is missing that change)."""

    def __init__(self, url: str, namespace: str = "edudesk", clock: Clock = time.time) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)
        self._apply = self._redis.register_script(_APPLY)
        self._renew = self._redis.register_script(_RENEW)
        self._read = self._redis.register_script(_READ)
        self._claim = self._redis.register_script(_CLAIM)
        self.namespace = namespace
        self.clock = clock

    def _keys(self, org_id: int) -> list[str]:
        base = f"{self.namespace}:live:{org_id}"
        return [base, f"{base}:exp", f"{base}:ver"]

    def apply(self, org_id: int, patches: list[tuple[str, dict[str, Any]]]) -> list[LiveVisitor]:
        if not patches:
            return []
        args: list[Any] = [self.clock(), DROP_SECONDS]
        for key, patch in patches:
            args += [key, json.dumps(patch, ensure_ascii=False)]
        raw = self._apply(keys=self._keys(org_id), args=args)
        return [LiveVisitor.from_entry(key, json.loads(_s(r))) for (key, _), r in zip(patches, raw, strict=True)]

    def renew(self, org_id: int, visitor_keys: list[str], socket_until: float) -> None:
        """In chunks, so one script never holds Redis (single-threaded, shared by every instance) for long."""
        for start in range(0, len(visitor_keys), RENEW_CHUNK):
            self._renew(keys=self._keys(org_id),
                        args=[self.clock(), DROP_SECONDS, socket_until, *visitor_keys[start:start + RENEW_CHUNK]])

    def _all(self, org_id: int) -> tuple[int, dict[str, dict[str, Any]]]:
        raw = self._read(keys=self._keys(org_id), args=[self.clock()])
        version = int(_s(raw[0]))
        items = raw[1:]
        return version, {_s(items[i]): json.loads(_s(items[i + 1])) for i in range(0, len(items), 2)}

    def visitors(self, org_id: int) -> list[LiveVisitor]:
        return self.snapshot(org_id)[1]

    def snapshot(self, org_id: int) -> tuple[int, list[LiveVisitor]]:
        version, entries = self._all(org_id)
        return version, [LiveVisitor.from_entry(k, e) for k, e in entries.items()]

    def get(self, org_id: int, visitor_key: str) -> LiveVisitor | None:
        raw = self._redis.hget(self._keys(org_id)[0], visitor_key)
        if raw is None:
            return None
        visitor = LiveVisitor.from_entry(visitor_key, json.loads(_s(raw)))
        return visitor if expiry({"last_at": visitor.last_at, "socket_until": visitor.socket_until}) > self.clock() \
            else None

    def version(self, org_id: int) -> int:
        raw = self._redis.get(self._keys(org_id)[2])
        return int(_s(raw)) if raw is not None else 0

    def claim_invite(self, org_id: int, visitor_key: str, view_key: str) -> bool:
        return bool(self._claim(keys=self._keys(org_id)[:1], args=[visitor_key, view_key]))

    def clear(self, org_ids: Iterable[int]) -> None:
        """Tests and benchmarks start from an empty list."""
        for org_id in org_ids:
            self._redis.delete(*self._keys(org_id))

    def close(self) -> None:
        self._redis.close()


def make_registry(redis_url: str | None, namespace: str = "edudesk", clock: Clock = time.time) -> Registry:
    return RedisRegistry(redis_url, namespace, clock) if redis_url else MemoryRegistry(clock)
