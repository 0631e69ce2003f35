"""Access tokens: one fetch for many callers and instances, refreshed before expiry and once on rejection."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from edudesk.channels.weixin.tokens import REFRESH_MARGIN, AccessTokens


class Platform:
    """Hands out numbered tokens, slowly, and counts how often it was asked."""

    def __init__(self, delay: float = 0.0, expires_in: int = 7200) -> None:
        self.fetches = 0
        self.delay = delay
        self.expires_in = expires_in
        self.lock = threading.Lock()

    def fetch(self) -> tuple[str, int]:
        with self.lock:
            self.fetches += 1
            number = self.fetches
        time.sleep(self.delay)
        return f"token-{number}", self.expires_in


@pytest.fixture
def shared(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def caches(kind: str, shared: redis.Redis, count: int, clock: Any = time.time) -> list[AccessTokens]:
    namespace = f"edudesk-test-{uuid.uuid4().hex[:8]}"
    if kind == "memory":
        one = AccessTokens(None, namespace, clock=clock)
        return [one] * count
    # Several instances: each its own client and cache object, one Redis.
    return [AccessTokens(redis.Redis(connection_pool=shared.connection_pool), namespace, clock=clock)
            for _ in range(count)]


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_many_callers_at_once_cause_one_fetch(kind: str, shared: redis.Redis) -> None:
    platform = Platform(delay=0.2)
    instances = caches(kind, shared, 6)
    got: list[str] = []

    def ask(cache: AccessTokens) -> None:
        got.append(cache.get("wechat:wx1", platform.fetch))

    threads = [threading.Thread(target=ask, args=(c,)) for c in instances for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert platform.fetches == 1
    assert set(got) == {"token-1"}


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_refreshed_before_expiry(kind: str, shared: redis.Redis) -> None:
    now = [1_000_000.0]
    platform = Platform(expires_in=7200)
    cache = caches(kind, shared, 1, clock=lambda: now[0])[0]
    assert cache.get("wecom:corp", platform.fetch) == "token-1"
    now[0] += 7200 - REFRESH_MARGIN - 10  # still comfortably valid
    assert cache.get("wecom:corp", platform.fetch) == "token-1"
    now[0] += 20  # within the margin: a new one, before WeChat would refuse the old
    assert cache.get("wecom:corp", platform.fetch) == "token-2"


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_rejected_token_is_refreshed_once_and_the_call_retried_once(kind: str, shared: redis.Redis) -> None:
    platform = Platform()
    cache = caches(kind, shared, 1)[0]
    seen: list[str] = []

    def request(token: str) -> dict[str, Any]:
        seen.append(token)
        return {"errcode": 40001, "errmsg": "invalid credential"} if token == "token-1" else {"errcode": 0}

    assert cache.call("wechat:wx1", platform.fetch, request) == {"errcode": 0}
    assert seen == ["token-1", "token-2"]
    # Rejected again after the refresh: not a loop, the second answer is returned.
    always: list[str] = []
    answer = cache.call("wechat:wx1", platform.fetch, lambda t: always.append(t) or {"errcode": 42001})
    assert answer == {"errcode": 42001}
    assert len(always) == 2


def test_an_instance_that_sees_another_already_refreshed_does_not_fetch_again(shared: redis.Redis) -> None:
    platform = Platform()
    first, second = caches("redis", shared, 2)
    assert first.get("wechat:wx1", platform.fetch) == "token-1"
    assert first.get("wechat:wx1", platform.fetch, stale="token-1") == "token-2"  # first saw the rejection
    # The second was also refused token-1 a moment ago: it finds token-2 stored and uses it.
    assert second.get("wechat:wx1", platform.fetch, stale="token-1") == "token-2"
    assert platform.fetches == 2


def test_tokens_are_kept_per_name(shared: redis.Redis) -> None:
    platform = Platform()
    cache = caches("redis", shared, 1)[0]
    assert cache.get("wechat:a", platform.fetch) == "token-1"
    assert cache.get("wechat:b", platform.fetch) == "token-2"
    assert cache.get("wechat:a", platform.fetch) == "token-1"
