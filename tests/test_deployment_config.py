"""The sample load-balancer configuration (deploy/haproxy.cfg) is one that HAProxy accepts, and edudesk works behind
it as the README says: an instance accepts a visitor token that another one issued (so the balancer needs no sticky
sessions), and the balancer upgrades the widget's WebSocket and spreads the sockets over the instances.

Cross-instance fan-out itself (a visitor on one instance, an agent on the other) is tests/test_scaleout.py's; this
module reuses its two-instance cluster. HAProxy comes from Debian (the Makefile's apt step, or `make bench-deps`).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from benchmarks.balancer import SAMPLE, Haproxy, check, haproxy_exe, render
from websockets.sync.client import connect

from tests.conftest import unavailable
from tests.test_scaleout import (
    AWAY_TEXT,
    Instance,
    is_message,
    running_cluster,
    say,
    visitor,
    wait_for,
)


@pytest.fixture
def haproxy() -> str:
    exe = haproxy_exe()
    if exe is None:
        unavailable("haproxy", "apt-get install haproxy, or make bench-deps")
    assert exe is not None
    return exe


def test_sample_config_is_valid_as_committed_and_as_rendered(haproxy: str, tmp_path: Path) -> None:
    check(haproxy, SAMPLE)

    rendered = tmp_path / "haproxy.cfg"
    rendered.write_text(render(SAMPLE.read_text(), "127.0.0.1:8080", ["127.0.0.1:8001", "127.0.0.1:8002"],
                               tmp_path / "stats.sock"))
    check(haproxy, rendered)
    text = rendered.read_text()
    assert "bind 127.0.0.1:8080" in text and "bind :80" not in text
    assert "server app1 127.0.0.1:8001 check" in text and "server app2 127.0.0.1:8002 check" in text
    assert "10.0.0.1" not in text  # the sample's own servers are gone
    # What the README promises of the sample: WebSocket upgrade kept open, health checks, no stickiness.
    directives = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    assert "timeout tunnel 1h" in directives and "option httpchk GET /healthz" in directives
    assert not [d for d in directives if d.startswith(("cookie", "stick", "balance source", "hash-type"))]


def test_render_refuses_a_sample_it_cannot_place() -> None:
    with pytest.raises(ValueError, match="bind"):
        render("frontend f\n    bind :8080\nbackend b\n    server a 1.2.3.4:1\n", "127.0.0.1:1", ["127.0.0.1:2"])
    with pytest.raises(ValueError, match="server"):
        render("frontend f\n    bind :80\n", "127.0.0.1:1", ["127.0.0.1:2"])


@pytest.mark.redis
@pytest.mark.xdist_group("scaleout")
def test_two_instances_behind_haproxy(haproxy: str, pg_url: str, redis_url: str, tmp_path: Path) -> None:
    with running_cluster(pg_url, redis_url, tmp_path) as (one, two, org):
        # A token issued by instance 1 opens a socket on instance 2: nothing ties a visitor to the instance that
        # issued its token, so a balancer may send its next request anywhere.
        resp = httpx.post(f"{one.url}/api/v1/widget/session", json={"org_key": org.public_key}, timeout=10)
        assert resp.status_code == 200, resp.text
        with connect(f"{two.ws}/ws/visitor?token={resp.json()['token']}", open_timeout=10, close_timeout=2) as ws:
            wait_for(ws, "hello on the other instance", lambda f: f.get("type") == "hello")

        lb = Haproxy(tmp_path, [one.url.removeprefix("http://"), two.url.removeprefix("http://")], exe=haproxy)
        try:
            lb.start()
            assert lb.proc is not None
            front = Instance(lb.url, lb.proc, lb.log_path)
            assert httpx.get(f"{lb.url}/healthz", timeout=10).json()["ok"] is True
            # Two visitors through the balancer: both sockets upgraded, one on each instance (leastconn), and a
            # visitor's message answered over the balanced socket.
            with visitor(front, org.public_key) as first, visitor(front, org.public_key) as second:
                held = {row["svname"]: int(row["scur"]) for row in lb.stats()}
                assert held == {"app1": 1, "app2": 1}, held
                for ws in (first, second):
                    say(ws, "转人工")
                    wait_for(ws, f"system message {AWAY_TEXT!r}", is_message("system", AWAY_TEXT))
        finally:
            lb.stop()
