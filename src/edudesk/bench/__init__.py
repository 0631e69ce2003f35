"""``edudesk bench``: drive many concurrent widget visitors against a running server and measure it.

Each visitor does what the real widget does (docs/protocol.md): ``POST /api/v1/widget/session`` for a token, then
``/ws/visitor?token=…``, waits for ``hello`` and keeps the socket open until the end of the run. Connections are
opened gradually (``ramp`` per second, a bounded number in flight) so the server's accept queue is not flooded.

Load is open-loop: the total message rate is spread evenly over the visitors, each on a fixed schedule with its own
phase, so a slow server cannot slow the senders down and hide its own latency. A turn's round trip runs from the
moment its ``message`` frame is written to the moment the first bot ``message`` frame stored after the visitor's
message arrives (the visitor's message id comes from its echo or its ``ack``; the welcome text that opens a
conversation is older and is not counted).

Each visitor's first message opens its conversation (welcome text, the bot's state: about twice the statements of a
later turn), so it is sent as the visitor connects, answered before the measured load starts and reported apart
(``first_reply_ms``): 200 visitors opening their conversations in the same second is a burst of 200 new chats per
second, not the steady load a message rate describes, and it would otherwise fill the first seconds' p99.

Server memory and CPU are read with psutil from ``--server-pid``; the bench itself runs on the same machine, so
its own CPU use is reported beside the server's.

The package is split by purpose: ``stats`` (configuration, tallies, percentiles), ``visitor`` (one simulated
widget), ``machine`` (server and machine measurements), ``runner`` (one run) and ``report`` (table, JSON); their
public names are re-exported here for ``edudesk bench`` and the benchmark scripts.
"""

from __future__ import annotations

from edudesk.bench.machine import (
    ServerSampler,
    python_core_ms,
    raise_open_file_limit,
)
from edudesk.bench.report import (
    render_table,
    to_json,
)
from edudesk.bench.runner import (
    run,
    run_async,
)
from edudesk.bench.stats import (
    DEFAULT_SERVER_LIMIT_PER_MINUTE,
    DEFAULT_TEXTS,
    MAX_OPENING,
    SAMPLE_SECONDS,
    BenchConfig,
    BenchError,
    Stats,
    Turn,
    p99_by_second,
    percentile,
)
from edudesk.bench.visitor import (
    Visitor,
)

__all__ = [
    "DEFAULT_SERVER_LIMIT_PER_MINUTE",
    "DEFAULT_TEXTS",
    "MAX_OPENING",
    "SAMPLE_SECONDS",
    "BenchConfig",
    "BenchError",
    "ServerSampler",
    "Stats",
    "Turn",
    "Visitor",
    "p99_by_second",
    "percentile",
    "python_core_ms",
    "raise_open_file_limit",
    "render_table",
    "run",
    "run_async",
    "to_json",
]



