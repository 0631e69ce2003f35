"""Stored business hours through the service: saving (validated, audited, the bot told to reload) and what the bot
says off hours, for the org and for a skill group with its own hours; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.db import Database, NotFoundError
from edudesk.events import DomainEvent, EventBus
from edudesk.hours import service as hours_service
from edudesk.hours.models import BusinessHoursRecord
from edudesk.hours.schedule import HoursError
from edudesk.orgs import service as orgs_service
from edudesk.routing.models import SkillGroup
from tests.conftest import TwoOrgs

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEKDAYS = {day: [["08:30", "12:00"], ["13:30", "21:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
SPEC: dict[str, Any] = {"weekly": {**WEEKDAYS, "sat": [["09:00", "17:00"]]}, "holidays": ["2026-10-01"]}
# Thursday 26 November 2026 in Shanghai.
THU_MORNING = dt.datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
THU_LUNCH = dt.datetime(2026, 11, 26, 12, 30, tzinfo=SHANGHAI)
THU_NIGHT = dt.datetime(2026, 11, 26, 22, 0, tzinfo=SHANGHAI)


def admin_actor(orgs: TwoOrgs, org: str = "a") -> Actor:
    fx = getattr(orgs, org)
    return Actor(org_id=fx.id, user_id=fx.users["admin"].id, label="admin")


def make_group(database: Database, org_id: int, name: str) -> int:
    with database.session() as session:
        group = SkillGroup(org_id=org_id, name=name)
        session.add(group)
        session.commit()
        return group.id


def save(database: Database, actor: Actor, *, group_id: int | None = None, spec: dict[str, Any] | None = None,
         enabled: bool = True, closed_message: str = "") -> BusinessHoursRecord:
    with database.session() as session:
        record = hours_service.save(session, actor, group_id=group_id, spec=spec or SPEC, enabled=enabled,
                                    closed_message=closed_message)
        session.commit()
        session.refresh(record)
        session.expunge(record)
        return record


def off_hours(database: Database, org_id: int, group_id: int | None, now: dt.datetime) -> str | None:
    with database.session() as session:
        return hours_service.off_hours_text(session, org_id, group_id, now)


@pytest.fixture
def published(database: Database) -> list[DomainEvent]:
    bus = EventBus()
    bus.attach(database.sessionmaker)
    got: list[DomainEvent] = []
    bus.subscribe(got.append)
    return got


def test_save_stores_the_normal_form_audits_and_reloads_the_bot(database: Database, orgs: TwoOrgs,
                                                                published: list[DomainEvent]) -> None:
    with database.session() as session:
        version_before = orgs_service.bot_version(session, orgs.a.id)
    record = save(database, admin_actor(orgs), closed_message="  老师 {next_open} 上班  ")
    assert record.org_id == orgs.a.id and record.group_id is None and record.enabled
    assert record.spec["weekly"]["sat"] == [["09:00", "17:00"]] and record.spec["weekly"]["sun"] == []
    assert record.spec["timezone"] == "Asia/Shanghai" and record.spec["holidays"] == ["2026-10-01"]
    assert record.closed_message == "老师 {next_open} 上班"
    with database.session() as session:
        assert orgs_service.bot_version(session, orgs.a.id) == version_before + 1
        assert orgs_service.bot_version(session, orgs.b.id) == 0
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "business_hours.create")).one()
        assert entry.org_id == orgs.a.id and entry.target_id == str(record.id)
    assert [e.type for e in published] == [hours_service.HOURS_CHANGED]
    assert published[0].org_id == orgs.a.id

    again = save(database, admin_actor(orgs), spec={"weekly": WEEKDAYS}, enabled=False)
    assert again.id == record.id and not again.enabled and again.spec["weekly"]["sat"] == []
    with database.session() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "business_hours.update")).one()
        assert hours_service.record_for(session, orgs.b.id) is None


@pytest.mark.parametrize(("spec", "closed_message", "field"), [
    ({"weekly": {"mon": [["25:00", "26:00"]]}}, "", "weekly.mon"),
    ({"weekly": {"mon": [["08:00", "12:00"], ["11:00", "13:00"]]}}, "", "weekly.mon"),
    ({"weekly": {}, "timezone": "Mars/Olympus"}, "", "timezone"),
    ({"weekly": {}, "holidays": ["2026-02-30"]}, "", "holidays"),
    ({"weekly": {}, "holidays": ["2026-10-10"], "workdays": ["2026-10-10"]}, "", "workdays"),
    ({"holidays": []}, "", "weekly"),
    ({"weekly": {}}, "长" * 501, "closed_message"),
])
def test_bad_input_names_its_field_and_stores_nothing(database: Database, orgs: TwoOrgs, spec: dict[str, Any],
                                                      closed_message: str, field: str) -> None:
    save(database, admin_actor(orgs))
    with database.session() as session, pytest.raises(HoursError) as exc:
        hours_service.save(session, admin_actor(orgs), group_id=None, spec=spec, enabled=True,
                           closed_message=closed_message)
    assert exc.value.field == field and exc.value.message
    with database.session() as session:
        record = hours_service.record_for(session, orgs.a.id)
        assert record is not None and record.spec["weekly"]["sat"] == [["09:00", "17:00"]]


def test_a_group_of_another_org_is_not_found(database: Database, orgs: TwoOrgs) -> None:
    theirs = make_group(database, orgs.b.id, "乙的售后")
    with database.session() as session, pytest.raises(NotFoundError):
        hours_service.save(session, admin_actor(orgs), group_id=theirs, spec=SPEC, enabled=True, closed_message="")
    with database.session() as session:
        assert session.scalars(select(BusinessHoursRecord)).first() is None
        assert [g.name for g in hours_service.groups(session, orgs.a.id)] == []
        assert [g.name for g in hours_service.groups(session, orgs.b.id)] == ["乙的售后"]


def test_off_hours_text_for_the_org(database: Database, orgs: TwoOrgs) -> None:
    assert off_hours(database, orgs.a.id, None, THU_NIGHT) is None  # no hours: always open
    save(database, admin_actor(orgs))
    assert off_hours(database, orgs.a.id, None, THU_MORNING) is None
    assert off_hours(database, orgs.a.id, None, THU_NIGHT) == (
        "现在是非工作时间，人工客服将于明天 08:30上线。您可以先留言或留下联系方式，老师上班后会第一时间联系您。")
    assert "今天 13:30" in (off_hours(database, orgs.a.id, None, THU_LUNCH) or "")
    assert off_hours(database, orgs.b.id, None, THU_NIGHT) is None  # the other org has no hours

    save(database, admin_actor(orgs), closed_message="老师{next_open}回来，{别的括号}原样保留")
    assert off_hours(database, orgs.a.id, None, THU_NIGHT) == "老师明天 08:30回来，{别的括号}原样保留"
    saturday_night = dt.datetime(2026, 11, 28, 18, 0, tzinfo=SHANGHAI)
    assert off_hours(database, orgs.a.id, None, saturday_night) == "老师周一（11月30日）08:30回来，{别的括号}原样保留"

    save(database, admin_actor(orgs), enabled=False)  # disabled: always open
    assert off_hours(database, orgs.a.id, None, THU_NIGHT) is None


def test_never_open_says_working_hours(database: Database, orgs: TwoOrgs) -> None:
    save(database, admin_actor(orgs), spec={"weekly": {}})
    text = off_hours(database, orgs.a.id, None, THU_MORNING)
    assert text is not None and "人工客服将于工作时间上线" in text
    with database.session() as session:
        status = hours_service.status(session, orgs.a.id, None, THU_MORNING)
    assert not status.is_open and status.next_open == "工作时间"


def test_a_group_with_its_own_hours(database: Database, orgs: TwoOrgs) -> None:
    night_desk = make_group(database, orgs.a.id, "夜间咨询")
    other = make_group(database, orgs.a.id, "售后")
    save(database, admin_actor(orgs))
    evening = {"weekly": {d: [["18:00", "23:30"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
    save(database, admin_actor(orgs), group_id=night_desk, spec=evening, closed_message="夜间组{next_open}上线")
    assert off_hours(database, orgs.a.id, night_desk, THU_NIGHT) is None  # the group works evenings
    assert off_hours(database, orgs.a.id, night_desk, THU_MORNING) == "夜间组今天 18:00上线"
    assert off_hours(database, orgs.a.id, other, THU_MORNING) is None  # no own hours: the org's
    assert off_hours(database, orgs.a.id, other, THU_NIGHT) is not None
    with database.session() as session:
        assert hours_service.status(session, orgs.a.id, night_desk, THU_MORNING).text == (
            "现在：已下班，下次上线 今天 18:00")
        assert hours_service.status(session, orgs.a.id, None, THU_MORNING).text == "现在：营业中"

    save(database, admin_actor(orgs), group_id=night_desk, spec=evening, enabled=False,
         closed_message="夜间组{next_open}上线")  # kept, but the group follows the org again
    assert off_hours(database, orgs.a.id, night_desk, THU_MORNING) is None
    with database.session() as session:
        assert hours_service.closed_message_for(session, orgs.a.id, night_desk) == ""
        own = hours_service.record_for(session, orgs.a.id, night_desk)
        assert own is not None and own.closed_message == "夜间组{next_open}上线"
