"""Contacts: identity per channel, visits, last seen, masking and validation."""

from __future__ import annotations

import datetime as dt

import pytest

from edudesk.contacts import service as contacts_service
from edudesk.db import Database
from edudesk.errors import DomainError
from tests.conftest import TwoOrgs


def test_identity_is_per_org_and_channel(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        a = contacts_service.find_or_create(session, orgs.a.id, "web", "v1", page_url="https://a.example/")
        again = contacts_service.find_or_create(session, orgs.a.id, "web", "v1")
        other_org = contacts_service.find_or_create(session, orgs.b.id, "web", "v1")
        other_channel = contacts_service.find_or_create(session, orgs.a.id, "wechat", "v1")
        session.commit()
    assert a.id == again.id
    assert len({a.id, other_org.id, other_channel.id}) == 3
    assert a.first_page_url == "https://a.example/"


@pytest.mark.parametrize(("name", "shown"), [
    (None, "访客{id}"), ("李", "李家长"), ("欧阳", "欧阳家长"), ("李妈妈", "李妈妈"), ("李小明", "李小明"),
    ("乐乐妈妈", "乐乐妈妈"), ("小", "小"),
])
def test_display_name(name: str | None, shown: str) -> None:
    contact = contacts_service.Contact(id=7, org_id=1, name=name)
    assert contacts_service.display_name(contact) == shown.format(id=7)


def test_last_seen_moves_by_the_minute_and_visits_after_half_an_hour(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        contact = contacts_service.find_or_create(session, orgs.a.id, "web", "v1")
        seen = contact.last_seen_at
        contacts_service.touch(session, contact)
        assert contact.last_seen_at == seen and contact.visits == 1  # within the minute: no write
        contact.last_seen_at = seen - dt.timedelta(minutes=2)
        contacts_service.touch(session, contact, page_url="https://a.example/price")
        assert contact.last_seen_at > seen and contact.visits == 1
        assert contact.last_page_url == "https://a.example/price"
        contact.last_seen_at -= dt.timedelta(minutes=31)
        contacts_service.touch(session, contact)
        assert contact.visits == 2


@pytest.mark.parametrize(("phone", "masked"), [("13812345678", "138****5678"), ("+8613812345678", "+86138****5678"),
                                                ("12345", "*****"), (None, None), ("", "")])
def test_mask_phone(phone: str | None, masked: str | None) -> None:
    assert contacts_service.mask_phone(phone) == masked


@pytest.mark.parametrize(("field", "value", "code"), [("phone", "12", "bad_phone"), ("phone", "1" * 20, "bad_phone"),
                                                      ("name", "名" * 101, "too_long"),
                                                      ("wechat_id", "w" * 65, "too_long"),
                                                      ("notes", "x" * 5001, "too_long")])
def test_bad_details_are_refused_and_nothing_changes(database: Database, orgs: TwoOrgs, field: str, value: str,
                                                     code: str) -> None:
    with database.session() as session:
        contact = contacts_service.find_or_create(session, orgs.a.id, "web", "v1")
        contacts_service.update_details(session, contact, name="张妈妈", phone="138 1234 5678")
        session.commit()
        with pytest.raises(DomainError) as exc:
            contacts_service.update_details(session, contact, **{field: value})
        assert exc.value.code == code
        session.rollback()
        contact = contacts_service.get(session, orgs.a.id, contact.id)
        assert contact.name == "张妈妈" and contact.phone == "13812345678"


@pytest.mark.parametrize(("text", "masked"), [
    ("电话 13912345678", "电话 139****5678"),
    ("139-1234-5678 或 139 1234 5678", "139****5678 或 139****5678"),
    ("订单号 213912345678 不是手机号", "订单号 213912345678 不是手机号"),  # digits around: not a phone
    ("12345678901", "12345678901"),
    ("", ""),
])
def test_mask_phones_in_text(text: str, masked: str) -> None:
    assert contacts_service.mask_phones_in(text) == masked
