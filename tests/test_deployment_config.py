"""The sample load-balancer configuration (deploy/haproxy.cfg) is one that HAProxy accepts, as committed and as
benchmarks/scaleout.py renders it, and it needs no sticky sessions: a visitor token is signed, not stored, so an
instance accepts one that another instance issued.

Two real instances behind the real HAProxy, with sockets split between them, are exercised by every run of
benchmarks/scaleout.py (HAProxy's counters printed per step); cross-instance fan-out is tests/test_scaleout.py's.
HAProxy comes from Debian (the Makefile's apt step, or `make bench-deps`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.balancer import SAMPLE, check, haproxy_exe, render

from edudesk.channels.web.visitor_token import VisitorTokens
from tests.conftest import unavailable


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


def test_a_token_from_one_instance_is_good_on_another() -> None:
    """Why the balancer needs no stickiness: instances sharing EDUDESK_SECRET_KEY read each other's visitor tokens
    (and console session cookies, signed the same way); an instance with another key refuses them."""
    token, ident = VisitorTokens("shared-secret-" + "x" * 24).issue(org_id=7)
    assert VisitorTokens("shared-secret-" + "x" * 24).read(token) == ident
    assert VisitorTokens("another-secret-" + "y" * 24).read(token) is None
