"""The load balancer in front of several ``edudesk serve`` instances: Debian's HAProxy, run with the sample
configuration of ``deploy/haproxy.cfg`` (only its ``bind`` and ``server`` lines replaced), so what the benchmark
measures and what the README tells an operator to deploy are one file.

Used by ``benchmarks/scaleout.py`` and ``tests/test_deployment_config.py``; standard library only, so the test can
import it without the benchmarks' other dependencies.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "deploy" / "haproxy.cfg"
BACKEND = "edudesk"
INSTALL_HINT = "make bench-deps   (apt-get install -y haproxy)"

_BIND = re.compile(r"^(\s*)bind\s+:80\s*$", re.MULTILINE)
_SERVER = re.compile(r"^\s*server\s+\S+\s+\S+.*$\n?", re.MULTILINE)
_GLOBAL = re.compile(r"^global\s*$", re.MULTILINE)


def haproxy_exe() -> str | None:
    return shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if Path(p).exists()), None)


def render(sample: str, bind: str, servers: list[str], stats_socket: Path | None = None) -> str:
    """The sample configuration listening on ``bind`` (``host:port``) with one ``server`` line per ``host:port`` in
    ``servers`` (named app1, app2, …) instead of the sample's; with ``stats_socket``, HAProxy's runtime API on that
    Unix socket (the benchmark reads each server's state and session count from it)."""
    text, n = _BIND.subn(rf"\1bind {bind}", sample)
    if n != 1:
        raise ValueError("the sample has no single `bind :80` line")
    lines = "".join(f"    server app{i} {addr} check\n" for i, addr in enumerate(servers, 1))
    first = _SERVER.search(text)
    if first is None:
        raise ValueError("the sample has no `server` line")
    text = text[:first.start()] + lines + _SERVER.sub("", text[first.start():])
    if stats_socket is not None:
        text = _GLOBAL.sub(f"global\n    stats socket {stats_socket} mode 600 level admin", text, count=1)
    return text


def check(exe: str, config: Path) -> str:
    """``haproxy -c``: HAProxy's own verdict on a configuration file; raises with its messages when invalid."""
    proc = subprocess.run([exe, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"haproxy -c refused {config}:\n{proc.stdout}{proc.stderr}")
    return (proc.stdout + proc.stderr).strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Haproxy:
    """One HAProxy process in the foreground (``-db``) with the rendered sample, in ``workdir``."""

    def __init__(self, workdir: Path, servers: list[str], exe: str | None = None) -> None:
        found = exe or haproxy_exe()
        if found is None:
            raise RuntimeError(f"haproxy is not installed: {INSTALL_HINT}")
        self.exe = found
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.servers = servers
        self.stats_path = workdir / f"haproxy-{self.port}.sock"
        self.config = workdir / f"haproxy-{self.port}.cfg"
        self.config.write_text(render(SAMPLE.read_text(), f"127.0.0.1:{self.port}", servers, self.stats_path))
        self.log_path = workdir / f"haproxy-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        """Starts HAProxy and returns once every server passed its health check (state UP on the runtime API)."""
        check(self.exe, self.config)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen([self.exe, "-db", "-f", str(self.config)], stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            with contextlib.suppress(OSError):
                states = [row["status"] for row in self.stats()]
                if len(states) == len(self.servers) and all(s == "UP" for s in states):
                    return
            time.sleep(0.2)
        raise RuntimeError(f"haproxy's servers were not all UP within {timeout} s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stats(self) -> list[dict[str, str]]:
        """One row per server of the backend (``show stat``): status, current and total sessions, …"""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.stats_path))
            s.sendall(b"show stat\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        text = b"".join(chunks).decode().lstrip("# ")
        return [row for row in csv.DictReader(io.StringIO(text))
                if row.get("pxname") == BACKEND and row.get("svname") not in ("FRONTEND", "BACKEND")]

    def sessions(self) -> dict[str, int]:
        """Total sessions (HTTP requests and sockets) each server took since start, by server name."""
        return {row["svname"]: int(row["stot"] or 0) for row in self.stats()}

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
