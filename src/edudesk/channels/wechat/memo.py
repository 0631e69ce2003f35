"""Short-lived facts the sender keeps between tries, in Redis when there is one (every instance sees them) or in
the process otherwise: the media_id of an uploaded picture (WeChat keeps temporary media three days, so a picture
sent to many parents is uploaded once), and which parts of a message already went out (a message with text and a
picture whose picture failed is retried without sending the text twice)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

LOCAL_MAX = 10_000


class Memo:
    def __init__(self, redis: Any = None, namespace: str = "edudesk",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.redis = redis
        self.namespace = namespace
        self.clock = clock
        self._local: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _key(self, key: str) -> str:
        return f"{self.namespace}:wxmemo:{key}"

    def get(self, key: str) -> str | None:
        if self.redis is not None:
            raw = self.redis.get(self._key(key))
            return raw.decode() if isinstance(raw, bytes) else raw
        with self._lock:
            found = self._local.get(key)
            if found is None:
                return None
            if found[1] <= self.clock():
                del self._local[key]
                return None
            return found[0]

    def put(self, key: str, value: str, ttl_seconds: int) -> None:
        if self.redis is not None:
            self.redis.set(self._key(key), value, ex=max(1, ttl_seconds))
            return
        with self._lock:
            if len(self._local) >= LOCAL_MAX:
                now = self.clock()
                for stale in [k for k, (_, until) in self._local.items() if until <= now]:
                    del self._local[stale]
                while len(self._local) >= LOCAL_MAX:  # oldest first (dicts keep insertion order)
                    del self._local[next(iter(self._local))]
            self._local[key] = (value, self.clock() + ttl_seconds)

    def forget(self, key: str) -> None:
        if self.redis is not None:
            self.redis.delete(self._key(key))
            return
        with self._lock:
            self._local.pop(key, None)


def memo_of(services: Any) -> Memo:
    """The process's memo, kept beside the other channel services (one per app)."""
    found = services.extras.get("wechat_memo")
    if found is None:
        namespace = getattr(services.settings, "redis_namespace", "edudesk")
        found = services.extras.setdefault("wechat_memo", Memo(services.redis, namespace))
    return found  # type: ignore[no-any-return]
