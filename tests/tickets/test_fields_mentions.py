"""Pure parts: custom field values against their definitions, and @mentions in Chinese text."""

from __future__ import annotations

import pytest

from edudesk.tickets import fields, mentions
from edudesk.tickets.models import TicketFieldDef

DEFS = [
    TicketFieldDef(key="campus", label="校区", kind="select", options=["西湖校区", "滨江校区"], required=True,
                   enabled=True),
    TicketFieldDef(key="order_no", label="订单号", kind="text", options=[], required=False, enabled=True),
    TicketFieldDef(key="refund", label="退费金额", kind="number", options=[], required=False, enabled=True),
    TicketFieldDef(key="class_date", label="上课日期", kind="date", options=[], required=False, enabled=True),
    TicketFieldDef(key="old", label="旧字段", kind="text", options=[], required=True, enabled=False),
]


def test_values_are_cleaned_by_kind() -> None:
    got = fields.merge(DEFS, {"order_no": "A1"}, {"campus": "西湖校区", "refund": "1,280.50",
                                                  "class_date": "2026-09-01", "order_no": "  "})
    assert got == {"campus": "西湖校区", "refund": 1280.5, "class_date": "2026-09-01"}
    assert fields.merge(DEFS, {}, {"refund": 300})["refund"] == 300
    assert fields.missing_required(DEFS, got) == []
    assert [d.key for d in fields.missing_required(DEFS, {})] == ["campus"]  # disabled fields are not required


@pytest.mark.parametrize(("changes", "code"), [
    ({"campus": "火星校区"}, "bad_option"),
    ({"refund": "一百"}, "bad_number"),
    ({"refund": "inf"}, "bad_number"),
    ({"refund": True}, "bad_number"),
    ({"class_date": "2026-02-30"}, "bad_date"),
    ({"class_date": "明天"}, "bad_date"),
    ({"order_no": "x" * 501}, "too_long"),
    ({"salary": "1"}, "unknown_field"),
    ({"old": "x"}, "unknown_field"),
    ({"order_no": ["a"]}, "bad_value"),
])
def test_bad_values_name_the_field(changes: dict[str, object], code: str) -> None:
    with pytest.raises(fields.FieldError) as err:
        fields.merge(DEFS, {}, changes)
    assert err.value.code == code and err.value.field is not None and err.value.field.startswith("custom_fields.")


def test_definitions_are_checked() -> None:
    assert fields.check_definition(" Campus ", "校区", "select", ["西湖", " 西湖", "滨江", ""]) == (
        "campus", "校区", "select", ["西湖", "滨江"])
    assert fields.check_definition("note", "说明", "text", ["ignored"])[3] == []
    for args, field in ((("1abc", "x", "text", []), "key"), (("ok", "", "text", []), "label"),
                        (("ok", "x", "color", []), "kind"), (("ok", "x", "select", []), "options")):
        with pytest.raises(fields.FieldError) as err:
            fields.check_definition(*args)  # type: ignore[arg-type]
        assert err.value.field == field


PEOPLE = [mentions.Person(1, "wang", "王老师"), mentions.Person(2, "li", "李老师"), mentions.Person(3, "lina", "李娜"),
          mentions.Person(4, "wangx", "王老")]


@pytest.mark.parametrize(("text", "ids"), [
    ("@王老师请跟进一下", [1]),  # the longest name wins: not 王老
    ("@王老 在吗", [4]),
    ("@li 和 @lina 看一下", [2, 3]),
    ("@lina", [3]),  # a username must end where the name ends: not li
    ("@LI，请回电", [2]),
    ("＠李娜 全角也行", [3]),
    ("邮件 a@wang.com 不算提到 wang", []),
    ("@王老师 @王老师 重复", [1]),
    ("没有提到任何人", []),
    ("@nobody", []),
])
def test_mentions(text: str, ids: list[int]) -> None:
    assert mentions.find(text, PEOPLE) == ids
