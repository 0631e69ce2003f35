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


def test_p99_by_second_groups_turns_by_when_they_were_sent() -> None:
    # Sent at 0.2 s, 0.9 s (second 0), none in second 1, 2.5 s (second 2); a turn stamped before the origin
    # (clock skew between the phases) counts in second 0.
    assert bench.p99_by_second([10.2, 10.9, 12.5, 9.99], [5.0, 50.0, 7.0, 1.0], origin=10.0) == [50.0, 0.0, 7.0]
    assert bench.p99_by_second([], [], origin=0.0) == []


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
    assert lat["p99_by_second"] and max(lat["p99_by_second"]) <= lat["max"] + 0.05  # rounded to 0.1 ms
    # Every visitor's conversation was opened as it connected, and that first answer is counted apart.
    first = result["first_reply_ms"]
    assert first["answered"] == 4 and 0 < first["p50"] <= first["p99"]
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
    assert result["messages"]["handed_off_visitors"] == 1  # by the message that opened the conversation
    assert result["messages"]["answered"] == 0
    assert result["first_reply_ms"]["answered"] == 0
    assert "first_no_reply" not in result["errors"]  # the hand-over settled the opening turn, no time-out
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
