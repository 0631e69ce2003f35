"""Request rate limits: per client address and per org, counted in fixed windows (docs/limits.md).

Counters live in Redis when ``EDUDESK_REDIS_URL`` is set, so every instance behind the load balancer shares them;
otherwise in this process's memory. That is enough because more than one process already requires Redis
(``edudesk serve --workers N`` refuses to start without it, and realtime events need it between instances).
When Redis is unreachable the limiter falls back to memory for that call and logs it: a Redis restart must not
take the widget down with it (limits are then per instance until Redis is back).

Routes use it in one line: ``dependencies=[Depends(rate_limit("form"))]`` for the per-address rule of a kind, or
``limiter_of(request).check("message", ip=..., org_id=...)`` where the org is known only inside the route.
A refused call raises ``RateLimited``; the app answers 429 with ``Retry-After`` and ``{"error": {"code":
"rate_limited", …}}``.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
import structlog
from starlette.requests import HTTPConnection, Request

if TYPE_CHECKING:
    from edudesk.settings import Settings

log = structlog.get_logger(__name__)

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
RATE_RE = re.compile(r"^\s*(\d{1,9})\s*/\s*(\d{0,6})\s*(second|minute|hour|day)s?\s*$", re.ASCII)
# Every kind of limited call, each with a per-address and a per-org rule (see Settings.rate_<kind>_per_ip/_org).
KINDS = ("widget_session", "widget_identity", "message", "upload", "form", "login", "api_message", "beacon")
MEMORY_MAX_KEYS = 100_000


@dataclass(frozen=True)
class Rate:
    limit: int
    window_seconds: int

    def __str__(self) -> str:
        return f"{self.limit}/{self.window_seconds}s"


def parse_rate(text: str) -> Rate:
    """``"30/minute"``, ``"10/15minute"``, ``"600/hour"`` → Rate; anything else is a ValueError saying the form."""
    match = RATE_RE.match(text)
    if match is None:
        raise ValueError(f"rate {text!r} must look like COUNT/PERIOD, e.g. 30/minute, 10/15minute, 600/hour")
    count, multiple, unit = match.groups()
    window = (int(multiple) if multiple else 1) * PERIODS[unit]
    if window <= 0 or window > 7 * 86400:
        raise ValueError(f"rate {text!r}: the period must be between 1 second and 7 days")
    return Rate(int(count), window)


class RateLimited(Exception):
    """A call over its limit; ``retry_after`` is the whole seconds until its window ends."""

    def __init__(self, kind: str, scope: str, retry_after: int) -> None:
        super().__init__(f"{kind} rate limit ({scope}) reached; retry after {retry_after}s")
        self.kind, self.scope, self.retry_after = kind, scope, retry_after

    @property
    def message(self) -> str:
        return f"请求过于频繁，请 {self.retry_after} 秒后再试"


class MemoryCounter:
    """Fixed-window counters in this process; old windows are dropped when the table grows."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def incr(self, key: str, window_seconds: int) -> tuple[int, float]:
        now = self._clock()
        index = int(now // window_seconds)
        with self._lock:
            stored_index, count = self._counts.get(key, (index, 0))
            count = count + 1 if stored_index == index else 1
            self._counts[key] = (index, count)
            if len(self._counts) > MEMORY_MAX_KEYS:
                self._prune(now)
        return count, (index + 1) * window_seconds - now

    def _prune(self, now: float) -> None:
        # A key is stale once its window is over; windows are at most 7 days, so this keeps every live key.
        stale = [k for k, (index, _) in self._counts.items() if (index + 1) * _window_of(k) <= now]
        for key in stale:
            del self._counts[key]
        if len(self._counts) > MEMORY_MAX_KEYS:  # a flood of distinct subjects: forget the oldest half
            for key in list(self._counts)[: len(self._counts) // 2]:
                del self._counts[key]


def _window_of(key: str) -> int:
    return int(key.rsplit(":", 1)[1])


INCR_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


class RedisCounter:
    """Fixed-window counters in Redis: one INCR (+ EXPIRE on the first hit) per call, atomic as a Lua script."""

    def __init__(self, url: str, namespace: str, fallback: MemoryCounter) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._script = self._redis.register_script(INCR_SCRIPT)
        self._namespace = namespace
        self._fallback = fallback

    def incr(self, key: str, window_seconds: int) -> tuple[int, float]:
        now = time.time()
        index = int(now // window_seconds)
        try:
            count = int(self._script(keys=[f"{self._namespace}:rl:{key}:{index}"], args=[window_seconds + 1]))
        except redis.RedisError as exc:
            log.warning("rate_limit_redis_unavailable", error=str(exc))
            return self._fallback.incr(key, window_seconds)
        return count, (index + 1) * window_seconds - now

    def close(self) -> None:
        self._redis.close()


Counter = MemoryCounter | RedisCounter


class Limiter:
    """The rules of every kind (per address, per org) and the counter they are checked against."""

    def __init__(self, rules: dict[tuple[str, str], Rate], counter: Counter, enabled: bool = True,
                 secret: str = "") -> None:
        self.rules, self.counter, self.enabled = rules, counter, enabled
        # Addresses are personal data: counters are keyed by a keyed digest (the same on every instance, which
        # shares the secret key), never by the address itself, and an unkeyed digest of an IPv4 is reversible.
        self._digest_key = hashlib.blake2b(secret.encode(), digest_size=32).digest()

    def _subject(self, value: str) -> str:
        return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), key=self._digest_key,
                               digest_size=12).hexdigest()

    def hit(self, kind: str, scope: str, subject: str | int | None) -> None:
        """Counts one call of ``kind`` by ``subject`` (an address or an org id); raises RateLimited when over."""
        rule = self.rules.get((kind, scope))
        if not self.enabled or rule is None or subject is None or subject == "":
            return
        key = f"{kind}:{scope}:{self._subject(str(subject))}:{rule.window_seconds}"
        count, remaining = self.counter.incr(key, rule.window_seconds)
        if count > rule.limit:
            raise RateLimited(kind, scope, max(1, math.ceil(remaining)))

    def check(self, kind: str, *, ip: str | None = None, org_id: int | None = None) -> None:
        """The per-address rule first (it needs no lookup), then the per-org one."""
        if ip is not None:
            self.hit(kind, "ip", ip)
        if org_id is not None:
            self.hit(kind, "org", org_id)

    def close(self) -> None:
        if isinstance(self.counter, RedisCounter):
            self.counter.close()


def make_limiter(settings: Settings) -> Limiter:
    rules: dict[tuple[str, str], Rate] = {}
    for kind in KINDS:
        for scope in ("ip", "org"):
            text = getattr(settings, f"rate_{kind}_per_{scope}", None)
            if text:
                rules[(kind, scope)] = parse_rate(text)
    memory = MemoryCounter()
    counter: Counter = (RedisCounter(settings.redis_url, settings.redis_namespace, memory)
                        if settings.redis_url else memory)
    return Limiter(rules, counter, settings.rate_limits_enabled, settings.secret_key)


def login_failure_rates(settings: Settings) -> tuple[Rate, Rate]:
    """Failed logins allowed per account and per address. The older EDUDESK_LOGIN_ATTEMPTS_PER_15MIN still sets
    the default (per account; an address gets five times that, as several staff may share an office NAT)."""
    per_account = (parse_rate(settings.rate_login_failures_per_account) if settings.rate_login_failures_per_account
                   else Rate(settings.login_attempts_per_15min, 15 * 60))
    per_ip = (parse_rate(settings.rate_login_failures_per_ip) if settings.rate_login_failures_per_ip
              else Rate(settings.login_attempts_per_15min * 5, 15 * 60))
    return per_account, per_ip


def limiter_of(conn: HTTPConnection) -> Limiter:
    """The app's limiter (built by the app factory, kept on its AppContext)."""
    limiter: Limiter = conn.app.state.ctx.limiter
    return limiter


def client_address(conn: HTTPConnection) -> str | None:
    """The caller's address as uvicorn resolved it (X-Forwarded-For only from EDUDESK_TRUSTED_PROXIES)."""
    return conn.client.host if conn.client else None


def rate_limit(kind: str) -> Callable[[Request], None]:
    """A FastAPI dependency counting one call of ``kind`` against the caller's address:
    ``@router.post("/forms/{id}", dependencies=[Depends(rate_limit("form"))])``."""
    if kind not in KINDS:
        raise ValueError(f"unknown rate-limit kind {kind!r}; known: {', '.join(KINDS)}")

    def dependency(request: Request) -> None:
        limiter_of(request).check(kind, ip=client_address(request))

    return dependency
