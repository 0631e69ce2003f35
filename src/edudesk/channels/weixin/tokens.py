"""Access tokens of WeChat and WeCom, shared by every instance and refreshed by one of them at a time.

WeChat allows a limited number of token fetches a day and invalidates the previous token when a new one is
fetched, so instances must not each fetch their own. With Redis the token lives under one key; a refresher takes a
short lock (SET NX PX), fetches, stores the token with its expiry and releases the lock, while the others wait for
the new value. Tokens are refreshed ``REFRESH_MARGIN`` before they expire. On the embedded setup (no Redis) a
process-local cache with a lock does the same for the one process.

When the platform says a token is invalid or expired although it has not expired by the clock (someone fetched a
new one elsewhere, or WeChat rotated it), ``call`` refreshes once — unless another instance already did, which it
sees because the stored token changed — and retries the call once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

log = structlog.get_logger(__name__)

REFRESH_MARGIN = 300.0  # seconds before expiry
LOCK_MS = 15_000
WAIT_SECONDS = 10.0
# WeChat / WeCom errcodes that mean "this access token is not valid any more".
TOKEN_ERRCODES = frozenset({40001, 40014, 42001, 42007})


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: float


Fetch = Callable[[], tuple[str, int]]  # → (access_token, expires_in seconds)


class TokenError(RuntimeError):
    """No token could be had (the platform refused the credentials, or a refresher never finished)."""


class AccessTokens:
    def __init__(self, redis: Any = None, namespace: str = "edudesk", clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.namespace = namespace
        self.clock = clock
        self._local: dict[str, Token] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    # --- reading and storing -----------------------------------------------------------------------------------

    def _key(self, name: str) -> str:
        return f"{self.namespace}:wxtoken:{name}"

    def peek(self, name: str) -> Token | None:
        if self.redis is None:
            return self._local.get(name)
        raw = self.redis.get(self._key(name))
        if not raw:
            return None
        data = json.loads(raw)
        return Token(str(data["value"]), float(data["expires_at"]))

    def _store(self, name: str, token: Token) -> None:
        if self.redis is None:
            self._local[name] = token
            return
        ttl = max(1, int(token.expires_at - self.clock()))
        self.redis.set(self._key(name), json.dumps({"value": token.value, "expires_at": token.expires_at}), ex=ttl)

    def forget(self, name: str) -> None:
        if self.redis is None:
            self._local.pop(name, None)
        else:
            self.redis.delete(self._key(name))

    def _fresh(self, token: Token | None) -> bool:
        return token is not None and token.expires_at - self.clock() > REFRESH_MARGIN

    # --- getting -----------------------------------------------------------------------------------------------

    def get(self, name: str, fetch: Fetch, *, stale: str | None = None) -> str:
        """A valid token for ``name`` (e.g. "wechat:wx123"). ``stale``: the token the platform just refused; a
        stored token equal to it is refreshed even if the clock says it is still good."""
        current = self.peek(name)
        if self._fresh(current) and (stale is None or current is None or current.value != stale):
            assert current is not None
            return current.value
        if self.redis is None:
            return self._refresh_local(name, fetch, stale)
        return self._refresh_shared(name, fetch, stale)

    def _refresh_local(self, name: str, fetch: Fetch, stale: str | None) -> str:
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            current = self._local.get(name)
            if self._fresh(current) and (stale is None or current is None or current.value != stale):
                assert current is not None
                return current.value
            return self._fetch_and_store(name, fetch)

    def _refresh_shared(self, name: str, fetch: Fetch, stale: str | None) -> str:
        lock_key = self._key(name) + ":lock"
        me = f"{threading.get_ident()}-{time.monotonic_ns()}"
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            if self.redis.set(lock_key, me, nx=True, px=LOCK_MS):
                try:
                    current = self.peek(name)  # another instance may have refreshed just before we got the lock
                    if self._fresh(current) and (stale is None or current is None or current.value != stale):
                        assert current is not None
                        return current.value
                    return self._fetch_and_store(name, fetch)
                finally:
                    if self.redis.get(lock_key) in (me, me.encode()):
                        self.redis.delete(lock_key)
            time.sleep(0.05)
            current = self.peek(name)
            if self._fresh(current) and (stale is None or current is None or current.value != stale):
                assert current is not None
                return current.value
            if time.monotonic() > deadline:
                raise TokenError(f"waited {WAIT_SECONDS:.0f}s for another instance to refresh {name}")

    def _fetch_and_store(self, name: str, fetch: Fetch) -> str:
        value, expires_in = fetch()
        token = Token(value, self.clock() + max(60, int(expires_in)))
        self._store(name, token)
        log.info("channel_token_refreshed", name=name, expires_in=expires_in)
        return value

    # --- calling -----------------------------------------------------------------------------------------------

    def call(self, name: str, fetch: Fetch, request: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
        """Runs ``request(token)``; when the answer's errcode says the token is invalid, refreshes once and runs it
        once more. The second answer is returned whatever it is."""
        token = self.get(name, fetch)
        answer = request(token)
        if _errcode(answer) in TOKEN_ERRCODES:
            log.info("channel_token_rejected", name=name, errcode=_errcode(answer))
            token = self.get(name, fetch, stale=token)
            answer = request(token)
        return answer


def _errcode(answer: dict[str, Any]) -> int:
    try:
        return int(answer.get("errcode") or 0)
    except (TypeError, ValueError):
        return -1


def tokens_of(services: Any) -> AccessTokens:
    """The process's token cache, kept beside the other channel services (one per app)."""
    found = services.extras.get("weixin_tokens")
    if found is None:
        namespace = getattr(services.settings, "redis_namespace", "edudesk")
        found = services.extras.setdefault("weixin_tokens", AccessTokens(services.redis, namespace))
    return found  # type: ignore[no-any-return]
