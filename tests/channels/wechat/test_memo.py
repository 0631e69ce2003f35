"""The sender's memo (media_ids, parts already sent): in the process, with expiry and a bound, or in Redis, where
every instance sees it."""

from __future__ import annotations

import uuid

import redis

from edudesk.channels.wechat.memo import LOCAL_MAX, Memo


def test_local_memo_expires_and_stays_bounded() -> None:
    now = [1000.0]
    memo = Memo(clock=lambda: now[0])
    memo.put("media:a", "MEDIA-1", ttl_seconds=60)
    assert memo.get("media:a") == "MEDIA-1"
    now[0] += 61
    assert memo.get("media:a") is None
    for n in range(LOCAL_MAX + 5):
        memo.put(f"k{n}", "v", ttl_seconds=60)
    assert len(memo._local) == LOCAL_MAX
    assert memo.get("k0") is None and memo.get(f"k{LOCAL_MAX + 4}") == "v"  # the oldest went first
    memo.forget(f"k{LOCAL_MAX + 4}")
    assert memo.get(f"k{LOCAL_MAX + 4}") is None


def test_redis_memo_is_shared_by_instances(redis_url: str) -> None:
    namespace = f"edudesk-test-{uuid.uuid4().hex[:8]}"
    first = Memo(redis.Redis.from_url(redis_url), namespace)
    second = Memo(redis.Redis.from_url(redis_url), namespace)
    other_install = Memo(redis.Redis.from_url(redis_url), namespace + "-other")
    first.put("sent:wx1:edk-1:0", "1", ttl_seconds=30)
    assert second.get("sent:wx1:edk-1:0") == "1"
    assert other_install.get("sent:wx1:edk-1:0") is None
    assert 0 < first.redis.ttl(f"{namespace}:wxmemo:sent:wx1:edk-1:0") <= 30
    second.forget("sent:wx1:edk-1:0")
    assert first.get("sent:wx1:edk-1:0") is None
