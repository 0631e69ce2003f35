"""套电率: conversations with contact details ÷ conversations in which the visitor said something."""

from __future__ import annotations

import datetime as dt

from edudesk.db import Database
from edudesk.leads import reports
from edudesk.localtime import LOCAL_TZ
from tests.conftest import TwoOrgs
from tests.leads.test_service import say


def test_capture_rate_by_day_and_channel(database: Database, orgs: TwoOrgs) -> None:
    say(database, orgs.a.id, "孩子三年级，电话 13800138000", 1, visitor="v1")  # captured
    say(database, orgs.a.id, "学费多少", 1, visitor="v2")  # valid, not captured
    say(database, orgs.a.id, "加我微信 wang_mama2020", 1, visitor="v3")  # captured (WeChat)
    say(database, orgs.b.id, "电话 13900139000", 1, visitor="v4")  # another org
    today = dt.datetime.now(LOCAL_TZ).date()
    with database.session() as session:
        by_day = reports.capture_rate(session, orgs.a.id, today - dt.timedelta(days=1), today)
        by_channel = reports.capture_rate(session, orgs.a.id, today, today, by="channel")
        empty = reports.capture_rate(session, orgs.a.id, today - dt.timedelta(days=9), today - dt.timedelta(days=8))
    assert [(r.key, r.conversations, r.captured) for r in by_day] == [(today.isoformat(), 3, 2)]
    assert [r.as_dict() for r in by_channel] == [{"key": "web", "conversations": 3, "captured": 2, "rate": 0.6667}]
    assert reports.overall(by_day).rate == 2 / 3
    assert empty == [] and reports.overall(empty).rate == 0.0
