"""``edudesk bench`` against a real server: visitors connect, ask, get the bot's answers, and the figures add up."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from edudesk import bench
from edudesk.audit.service import Actor
from edudesk.bot import service as bot_service
from edudesk.cli import app as cli_app
from edudesk.db import Database
from tests.conftest import LiveServer, TwoOrgs, free_port


def test_percentile_is_nearest_rank() -> None:
    assert bench.percentile([], 50) is None
    assert bench.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert bench.percentile([float(i) for i in range(1, 101)], 99) == 99.0
    assert bench.percentile([5.0], 99) == 5.0


def answer_the_bench_questions(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        bot_service.save_rule(session, Actor(orgs.a.id, label="test"), keywords="学费,试听,上课时间,价格",
                              reply="学费按课时计算，试听免费。")
        session.commit()


def test_bench_answers_every_message_and_holds_every_connection(live_server: LiveServer, orgs: TwoOrgs,
                                                                database: Database) -> None:
    answer_the_bench_questions(database, orgs)
    result = bench.run(bench.BenchConfig(url=live_server.url, org_key=orgs.a.public_key, visitors=4, rate=4,
                                         duration=1.5, reply_timeout=5))
    assert result["connections"] == {**result["connections"], "opened": 4, "held": 4, "failed": 0}
    messages = result["messages"]
    assert messages["sent"] >= 4
    assert messages["answered"] == messages["sent"]
    assert messages["handed_off_visitors"] == 0
    assert result["errors"] == {"total": 0}
    lat = result["reply_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    assert result["server"]["rss_mb_peak"] is None  # no --server-pid given
    assert result["server"]["cpu_ms_per_answered"] is None  # nor its CPU
    assert result["machine"]["python_core_ms"] > 0
    json.loads(bench.to_json(result))


def test_bench_reports_the_server_cpu_per_answered_message(live_server: LiveServer, orgs: TwoOrgs,
                                                           database: Database) -> None:
    answer_the_bench_questions(database, orgs)
    # The live server runs in this process: its CPU is this process's.
    result = bench.run(bench.BenchConfig(url=live_server.url, org_key=orgs.a.public_key, visitors=2, rate=4,
                                         duration=1.0, reply_timeout=5, server_pid=os.getpid()))
    assert result["messages"]["answered"] >= 2
    assert result["server"]["cpu_ms_per_answered"] > 0


def test_bench_counts_a_visitor_the_bot_hands_over(live_server: LiveServer, orgs: TwoOrgs) -> None:
    result = bench.run(bench.BenchConfig(url=live_server.url, org_key=orgs.a.public_key, visitors=1, rate=2,
                                         duration=1, texts=("转人工",), reply_timeout=1))
    assert result["messages"]["handed_off_visitors"] == 1
    assert result["messages"]["answered"] == 0
    assert any("转人工" in note for note in result["notes"])


@pytest.mark.parametrize(("args", "message"), [
    (["--visitors", "1"], "--org-key"),
    (["--org-key", "pk_x", "--url", "ftp://example"], "--url"),
    (["--org-key", "pk_x", "--url", "http://127.0.0.1:{port}", "--duration", "1"], "无法连接"),
])
def test_bench_command_fails_in_one_line(args: list[str], message: str) -> None:
    args = [a.format(port=free_port()) for a in args]
    result = CliRunner().invoke(cli_app, ["bench", *args])
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("edudesk:")]
    assert len(lines) == 1 and message in lines[0], result.stderr
