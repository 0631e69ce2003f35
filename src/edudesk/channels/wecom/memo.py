"""Short-lived facts the adapter keeps between a pull and a send: a welcome code (valid 20 seconds), which parts
of a long message already went out, a customer's unionid. In Redis when it is configured, so every instance sees
the same; otherwise in this process, which on the embedded setup is the only one that pulls and sends."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

LOCAL_MAX = 10_000  # entries kept in process memory before the expired ones are swept (then the oldest go)


class Memo:
    def __init__(self, redis: Any = None, namespace: str = "edudesk", clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.namespace = namespace
        self.clock = clock
        self._local: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _key(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    def set(self, key: str, value: str, ttl: float) -> None:
        if ttl <= 0:
            return
        if self.redis is not None:
            self.redis.set(self._key(key), value, px=max(1, int(ttl * 1000)))
            return
        with self._lock:
            if len(self._local) >= LOCAL_MAX:
                self._sweep()
            self._local[key] = (value, self.clock() + ttl)

    def get(self, key: str) -> str | None:
        if self.redis is not None:
            return _text(self.redis.get(self._key(key)))
        with self._lock:
            found = self._local.get(key)
            if found is None or found[1] <= self.clock():
                return None
            return found[0]

    def pop(self, key: str) -> str | None:
        """Takes the value away: of two instances popping at once, one gets it (a welcome code works once)."""
        if self.redis is not None:
            pipe = self.redis.pipeline(transaction=True)
            pipe.get(self._key(key))
            pipe.delete(self._key(key))
            value, _ = pipe.execute()
            return _text(value)
        with self._lock:
            found = self._local.pop(key, None)
        if found is None or found[1] <= self.clock():
            return None
        return found[0]

    def ttl(self, key: str) -> float:
        """Seconds the value has left (0 when there is none)."""
        if self.redis is not None:
            left = self.redis.pttl(self._key(key))
            return max(0.0, left / 1000) if left and left > 0 else 0.0
        with self._lock:
            found = self._local.get(key)
        return max(0.0, found[1] - self.clock()) if found else 0.0

    def _sweep(self) -> None:
        now = self.clock()
        for key in [k for k, (_, until) in self._local.items() if until <= now]:
            del self._local[key]
        while len(self._local) >= LOCAL_MAX:
            del self._local[next(iter(self._local))]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def memo_of(services: Any) -> Memo:
    """The process's memo, kept beside the other channel services (one per app)."""
    found = services.extras.get("wecom_memo")
    if found is None:
        namespace = getattr(services.settings, "redis_namespace", "edudesk")
        found = services.extras.setdefault("wecom_memo", Memo(services.redis, namespace))
    return found  # type: ignore[no-any-return]
