"""The live-visitor registry: the same behaviour in process and on real Redis (the Lua merge and the Python merge
are two copies of one rule), with a frozen clock."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest

from edudesk.visitors.live import (
    DROP_SECONDS,
    RENEW_CHUNK,
    MemoryRegistry,
    RedisRegistry,
    Registry,
    view_patch,
)
from tests.visitors.live_helpers import page_view

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def registry(request: pytest.FixtureRequest) -> Iterator[tuple[Registry, Clock]]:
    clock = Clock()
    if request.param == "memory":
        yield MemoryRegistry(clock), clock
        return
    url = request.getfixturevalue("redis_url")
    reg = RedisRegistry(url, f"edudesk-test-{uuid.uuid4().hex[:8]}", clock)
    yield reg, clock
    reg.clear([1, 2])
    reg.close()


def at(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(T0 + seconds, dt.UTC)


def view(key: str, url: str, seconds: float = 0, **kw: object) -> tuple[str, dict[str, object]]:
    found = view_patch(page_view(key, url, at=at(seconds), **kw), T0 + seconds)  # type: ignore[arg-type]
    assert found is not None
    return found


def test_page_views_make_one_entry_per_visitor_with_the_latest_page(registry: tuple[Registry, Clock]) -> None:
    reg, clock = registry
    source = {"search_engine": "baidu", "search_keyword": "少儿编程"}  # every view carries its visit's source
    reg.apply(1, [view("v1", "https://s.example/", 0, landing=True, title="首页", source=source,
                       source_kind="search")])
    clock.now = T0 + 30
    [entry] = reg.apply(1, [view("v1", "https://s.example/price", 30, title="价格", source=source,
                                 source_kind="search")])
    assert (entry.url, entry.title, entry.views) == ("https://s.example/price", "价格", 2)
    assert entry.keyword == "少儿编程" and entry.engine == "baidu" and entry.source_kind == "search"
    clock.now = T0 + 45
    [listed] = reg.visitors(1)
    assert listed.seconds_on_site(clock.now) == 45 and listed.seconds_on_page(clock.now) == 15
    assert reg.visitors(2) == []  # another org's list


def test_a_repeated_or_older_view_never_replaces_the_current_page(registry: tuple[Registry, Clock]) -> None:
    reg, _clock = registry
    first = view("v1", "https://s.example/a", 0, landing=True, view_key="pv1")
    second = view("v1", "https://s.example/b", 10, view_key="pv2")
    reg.apply(1, [first, second])
    entry = reg.apply(1, [first, second])[-1]  # another instance applies the same events (the bus fans out)
    assert (entry.url, entry.views, entry.view_key) == ("https://s.example/b", 2, "pv2")


def test_a_landing_page_starts_a_new_visit(registry: tuple[Registry, Clock]) -> None:
    reg, clock = registry
    reg.apply(1, [view("v1", "https://s.example/a", 0, landing=True), view("v1", "https://s.example/b", 5)])
    clock.now = T0 + 60
    [entry] = reg.apply(1, [view("v1", "https://s.example/c", 60, landing=True)])
    assert entry.views == 1 and entry.first_at == T0 + 60


def test_a_visitor_drops_off_without_socket_or_page_view(registry: tuple[Registry, Clock]) -> None:
    reg, clock = registry
    reg.apply(1, [view("v1", "https://s.example/", 0, landing=True)])
    reg.apply(1, [("v2", {"contact_id": 7, "socket_until": T0 + 40, "touch": T0, "socket_page": True,
                          "url": "https://s.example/x", "title": "X", "view_at": T0})])
    v2 = reg.get(1, "v2")
    assert v2 is not None and v2.online(T0) and v2.contact_id == 7 and v2.url == "https://s.example/x"
    clock.now = T0 + DROP_SECONDS + 1
    assert [v.visitor_key for v in reg.visitors(1)] == ["v2"]  # the socket's heartbeat keeps v2 a little longer
    clock.now = T0 + 40 + DROP_SECONDS + 1
    assert reg.visitors(1) == [] and reg.get(1, "v2") is None


def test_an_entry_that_expired_between_sweeps_is_gone_for_every_reader(registry: tuple[Registry, Clock]) -> None:
    """The in-process registry sweeps at most once a second; readers must not see what expired in between, and a
    patch for an expired visitor starts a new entry instead of merging into the old one."""
    reg, clock = registry
    reg.apply(1, [view("v1", "https://s.example/a", 0, landing=True)])
    clock.now = T0 + DROP_SECONDS - 0.5
    reg.apply(1, [view("v2", "https://s.example/b", DROP_SECONDS - 0.5, landing=True)])  # a sweep runs here
    clock.now = T0 + DROP_SECONDS + 0.1  # v1 expired 0.6 s after that sweep
    assert [v.visitor_key for v in reg.visitors(1)] == ["v2"]
    assert reg.get(1, "v1") is None
    assert reg.claim_invite(1, "v1", "k") is False
    (fresh,) = reg.apply(1, [("v1", {"touch": clock.now})])
    assert fresh.url == "" and fresh.views == 0


def test_a_heartbeat_renews_in_place_what_apply_would(registry: tuple[Registry, Clock]) -> None:
    """``renew`` is ``apply`` of ``{"socket_until": …}`` for many keys at once (more than one chunk), without reading
    anything back: kept entries keep their page, an expired or unknown key starts an entry of its own."""
    reg, clock = registry
    reg.apply(1, [view("v1", "https://s.example/a", 0, landing=True, title="A"),
                  view("old", "https://s.example/o", 0, landing=True)])
    clock.now = T0 + DROP_SECONDS - 10
    reg.apply(1, [view("v1", "https://s.example/b", DROP_SECONDS - 10, title="B")])
    clock.now = T0 + DROP_SECONDS + 1  # "old" expired
    many = [f"s{i}" for i in range(RENEW_CHUNK + 7)]
    version = reg.version(1)
    reg.renew(1, ["v1", "old", *many], T0 + 500)
    assert reg.version(1) > version
    v1, old, last = reg.get(1, "v1"), reg.get(1, "old"), reg.get(1, many[-1])
    assert v1 is not None and (v1.url, v1.title, v1.views, v1.socket_until) == ("https://s.example/b", "B", 2, T0 + 500)
    assert old is not None and (old.url, old.views, old.socket_until) == ("", 0, T0 + 500)
    assert last is not None and last.online(clock.now)
    by_apply = MemoryRegistry(clock)
    by_apply.apply(1, [("old", {"socket_until": T0 + 500})])
    assert by_apply.get(1, "old") == old
    assert len(reg.visitors(1)) == len(many) + 2
    clock.now = T0 + 500 + DROP_SECONDS + 1
    assert reg.visitors(1) == []
    assert reg.visitors(2) == []


def test_the_socket_page_yields_to_page_views(registry: tuple[Registry, Clock]) -> None:
    reg, _clock = registry
    reg.apply(1, [view("v1", "https://s.example/beacon", 0, landing=True)])
    [entry] = reg.apply(1, [("v1", {"contact_id": 3, "socket_until": T0 + 40, "socket_page": True,
                                    "url": "https://s.example/socket", "title": "", "view_at": T0 + 1})])
    assert entry.url == "https://s.example/beacon" and entry.contact_id == 3


def test_a_page_view_stamped_before_the_socket_opened_still_replaces_the_socket_page(
        registry: tuple[Registry, Clock]) -> None:
    """The beacon and the socket race after the widget's session call: the socket may be applied first with a later
    time than the beacon's. The beacon's page, with its source, must still win."""
    reg, _clock = registry
    reg.apply(1, [("v1", {"contact_id": 3, "socket_until": T0 + 40, "socket_page": True,
                          "url": "https://s.example/?utm_medium=cpc", "title": "", "view_at": T0 + 1})])
    [entry] = reg.apply(1, [view("v1", "https://s.example/?utm_medium=cpc", 0, landing=True, title="首页",
                                 source={"utm_medium": "cpc"}, source_kind="ad")])
    assert entry.title == "首页" and entry.source_kind == "ad" and entry.contact_id == 3
    [entry] = reg.apply(1, [("v1", {"contact_id": 3, "socket_until": T0 + 40, "socket_page": True,
                                    "url": "https://s.example/other", "title": "", "view_at": T0 + 2})])
    assert entry.title == "首页" and entry.source_kind == "ad"


def test_the_version_moves_with_every_change(registry: tuple[Registry, Clock]) -> None:
    reg, _clock = registry
    before = reg.version(1)
    reg.apply(1, [view("v1", "https://s.example/", 0, landing=True)])
    assert reg.version(1) > before
    version, visitors = reg.snapshot(1)
    assert version == reg.version(1) and [v.visitor_key for v in visitors] == ["v1"]


def test_one_invitation_per_page_view(registry: tuple[Registry, Clock]) -> None:
    reg, _clock = registry
    reg.apply(1, [view("v1", "https://s.example/", 0, landing=True, view_key="pv1")])
    assert reg.claim_invite(1, "v1", "pv1") is True
    assert reg.claim_invite(1, "v1", "pv1") is False
    assert reg.claim_invite(1, "nobody", "pv1") is False
    assert reg.get(1, "v1").invited_view == "pv1"  # type: ignore[union-attr]
    reg.apply(1, [view("v1", "https://s.example/next", 5, view_key="pv2")])
    assert reg.claim_invite(1, "v1", "pv2") is True


@pytest.mark.parametrize("data", [{}, {"visitor_key": ""}, {"visitor_key": 5}])
def test_an_event_without_a_visitor_is_ignored(data: dict[str, object]) -> None:
    assert view_patch(data, T0) is None


def test_hostile_event_fields_are_cut_and_typed() -> None:
    found = view_patch({"visitor_key": "v" * 500, "url": "<script>" * 1000, "title": None, "at": "not a date",
                        "contact_id": True, "source": "nope"}, T0)
    assert found is not None
    key, patch = found
    assert len(key) == 64 and len(patch["url"]) == 1000 and patch["title"] == "" and patch["view_at"] == T0
    assert "contact_id" not in patch
