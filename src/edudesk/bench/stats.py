"""What a bench run is configured with and what it counts: the settings, one measured turn, the tallies, and the
percentiles of the report."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

# Visitor questions the bench sends, in turn. ``benchmarks/run.py`` seeds a keyword rule that answers all of them;
# against another org, add a keyword rule for 学费/试听/上课时间/价格 or pass your own texts, otherwise the default
# bot hands a visitor over to a human after three questions it cannot answer (and then stays silent).
DEFAULT_TEXTS = (
    "请问学费是多少？",
    "试听课怎么预约",
    "周末的上课时间是什么时候",
    "价格可以优惠吗",
    "学费能分期吗",
    "想了解一下试听",
)
# The default per-visitor limit of the server (EDUDESK_VISITOR_MESSAGES_PER_MINUTE).
DEFAULT_SERVER_LIMIT_PER_MINUTE = 60
MAX_OPENING = 64
SAMPLE_SECONDS = 0.25


class BenchError(Exception):
    """A setup problem (server unreachable, unknown org key, too few file descriptors): one line for the user."""


@dataclass(frozen=True)
class BenchConfig:
    url: str
    org_key: str
    visitors: int
    rate: float  # visitor messages per second, over all visitors
    duration: float  # seconds of sending, after every connection is open
    server_pid: int | None = None
    ramp: float = 200.0  # new connections per second
    texts: Sequence[str] = DEFAULT_TEXTS
    reply_timeout: float = 10.0  # how long a turn may wait for its answer after the sending window
    open_timeout: float = 20.0
    open_conversations: bool = True  # each visitor's first message, as it connects (when rate > 0)


@dataclass
class Turn:
    client_id: str
    sent_at: float
    message_id: int | None = None
    first: bool = False  # the message that opened the conversation


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    sent_ats: list[float] = field(default_factory=list)  # when each answered turn was sent, beside its latency
    first_latencies: list[float] = field(default_factory=list)
    send_lags: list[float] = field(default_factory=list)
    sent: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    handed_off: int = 0
    last_reply_at: float = 0.0


def p99_by_second(sent_ats: Sequence[float], latencies_ms: Sequence[float], origin: float) -> list[float]:
    """The p99 of the turns sent in each second of the run: a p99 missed because of a few slow seconds (a pause,
    a neighbour on the machine) reads differently from one missed because every second is slow."""
    seconds: dict[int, list[float]] = {}
    for sent_at, latency in zip(sent_ats, latencies_ms, strict=True):
        seconds.setdefault(max(0, int(sent_at - origin)), []).append(latency)
    last = max(seconds, default=-1)
    return [round(percentile(seconds[k], 99) or 0.0, 1) if k in seconds else 0.0 for k in range(last + 1)]


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no data."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
