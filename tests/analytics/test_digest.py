"""The summary built from hand-made dashboards: figures with their change, small tables, links, escaping, privacy."""

from __future__ import annotations

import datetime as dt

import pytest

from edudesk.analytics import digest
from edudesk.analytics.shapes import Column, Panel, Row
from tests.analytics.dashboards import PHONE, XSS, dashboards

DAY = dt.date(2026, 12, 6)  # a Sunday
PERIOD = digest.Period("daily", DAY, DAY)
BASE = "https://kefu.alpha.example/"


def build(org: str = "阿尔法教育", agent: str = "王老师") -> digest.Digest:
    current = dashboards(PERIOD.filters(), scale=2, agent=agent)
    previous = dashboards(PERIOD.previous().filters(), scale=1, agent=agent)
    return digest.build(org, PERIOD, current, previous, BASE)


def test_periods() -> None:
    assert PERIOD.label == "2026-12-06（周日）" and PERIOD.previous() == digest.Period("daily", DAY - dt.timedelta(1),
                                                                                     DAY - dt.timedelta(1))
    week = digest.Period("weekly", dt.date(2026, 11, 30), dt.date(2026, 12, 6))
    assert week.label == "2026-11-30 至 2026-12-06" and week.days == 7
    assert week.previous() == digest.Period("weekly", dt.date(2026, 11, 23), dt.date(2026, 11, 29))


@pytest.mark.parametrize(("value", "kind", "shown"), [
    (1234, "count", "1,234"), (2.5, "score", "2.5"), (0.256, "percent", "25.6%"), (65, "seconds", "1分05秒"),
    (42.4, "seconds", "42秒"), (3725, "seconds", "1小时02分05秒"), (4.56, "score", "4.6"), (None, "count", "—"),
    ("网页", "text", "网页"),
])
def test_values(value: object, kind: str, shown: str) -> None:
    assert digest.format_value(value, kind) == shown  # type: ignore[arg-type]


@pytest.mark.parametrize(("now", "before", "kind", "change", "trend"), [
    (80, 40, "count", "+40，+100.0%", "up"), (30, 40, "count", "−10，−25.0%", "down"), (5, 0, "count", "+5", "up"),
    (7, 7, "count", "持平", "flat"), (0.7, 0.6, "percent", "+10.0 个百分点", "up"),
    (60.0, 125.0, "seconds", "−1分05秒", "down"), (4.4, 4.2, "score", "+0.2", "up"), (3, None, "count", "", ""),
])
def test_changes(now: object, before: object, kind: str, change: str, trend: str) -> None:
    assert digest.format_change(now, before, kind) == (change, trend)  # type: ignore[arg-type]


def test_the_summary_has_each_dashboards_figures_changes_tables_and_links() -> None:
    summary = build()
    assert summary.subject == "【阿尔法教育】每日服务摘要 2026-12-06（周日）"
    text = summary.text
    for line in ("【人员】", "  接待会话：80（+40，+100.0%）", "平均首次响应：1分00秒（+30秒）",
                 "满意度：4.4（+0.2）", "机器人解决率：70.0%（+10.0 个百分点）", "放弃会话：0（持平）", "新线索：20"):
        assert line in text, line
    assert "王老师 | 50 | 2分05秒" in text
    assert f"打开看板：{BASE.rstrip('/')}/admin/dashboards/people?start=2026-12-06&end=2026-12-06" in text
    assert "……另有 4 行，见看板" in text  # 12 channels, 8 shown
    html = summary.html
    assert html.count("<table") >= 6
    assert 'href="https://kefu.alpha.example/admin/dashboards/outcome?start=2026-12-06&amp;end=2026-12-06"' in html
    assert "转化漏斗" in html and "报名" in html and "↑ +40，+100.0%" in html
    assert "数据截至 2026-12-07 08:05" in html and "数据截至 2026-12-07 08:05" in text


def test_names_arrive_escaped_in_the_html_part() -> None:
    summary = build(org=f"阿尔法{XSS}", agent=f"王{XSS}")
    assert XSS not in summary.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in summary.html
    assert XSS in summary.text  # the plain part is text: nothing to escape, nothing to run


def test_a_subject_cannot_carry_a_second_header() -> None:
    summary = digest.build("阿尔法\r\nBcc: all@evil.example", PERIOD, {}, {}, BASE)
    assert "\n" not in summary.subject and "\r" not in summary.subject
    assert "本期暂无统计数据" in summary.text and "本期暂无统计数据" in summary.html


def test_only_aggregates_leave_no_visitor_words_no_phone_numbers() -> None:
    summary = build()
    for part in (summary.text, summary.html):
        assert PHONE not in part and "张三" not in part and "未解决问题" not in part  # a free-text panel: never mailed
        assert "会话时段" not in part  # a heat map has no small-table form


def test_text_cells_are_scrubbed() -> None:
    assert digest.safe_text(f"顾问 {PHONE}") == "顾问 ＊＊＊"
    assert digest.safe_text("家长 zhang@example.com 来电 139-1234-5678") == "家长 ＊＊＊ 来电 ＊＊＊"
    assert digest.safe_text("2026-12-06") == "2026-12-06"  # a date is not a phone number
    assert len(digest.safe_text("长" * 500)) == digest.TEXT_CELL_MAX


def test_panels_that_quote_visitors_are_recognised() -> None:
    assert digest.quotes_visitors(Panel("top_unanswered", "未解决", (Column("query", "问题"),), (Row({}),)))
    assert digest.quotes_visitors(Panel("misses", "搜索词", (Column("keyword", "词"),), ()))
    assert not digest.quotes_visitors(Panel("by_channel", "按渠道", (Column("channel", "渠道"),), ()))
