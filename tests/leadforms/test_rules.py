"""The builder's rules (leadforms.rules) and the submitted values' checks (leadforms.values): pure, no database."""

from __future__ import annotations

import pytest

from edudesk.leadforms import values
from edudesk.leadforms.rules import (
    DEFAULT_SUBMIT,
    DEFAULT_SUCCESS,
    CardField,
    FieldChoice,
    FormError,
    FormInput,
    clean,
)

CARD = (CardField("name", "称呼", "text"), CardField("phone", "手机号", "phone"),
        CardField("grade", "年级", "single", ("一年级", "二年级", "三年级")), CardField("subject", "意向科目", "multi"),
        CardField("child_age", "孩子年龄", "number"), CardField("campus", "意向校区", "single"),
        CardField("trial_day", "试听日期", "date"), CardField("hobby", "兴趣", "multi", ("篮球", "钢琴")),
        CardField("old", "旧字段", "text", enabled=False))


def form(**kw: object) -> FormInput:
    data: dict[str, object] = {"name": "落地页", "title": "领取试听课"}
    data.update(kw)
    return FormInput(**data)  # type: ignore[arg-type]


def error_of(data: FormInput) -> FormError:
    with pytest.raises(FormError) as caught:
        clean(data, CARD)
    return caught.value


def test_phone_is_always_on_the_form_and_required_and_order_is_kept() -> None:
    cleaned = clean(form(fields=[FieldChoice("grade", True, False, "孩子年级", "20"),
                                 FieldChoice("name", True, True, "", "10"),
                                 FieldChoice("phone", False, False, "", "30"),
                                 FieldChoice("subject", False, True)]), CARD)
    assert cleaned.fields == [{"key": "name", "label": "", "required": True},
                              {"key": "grade", "label": "孩子年级", "required": False},
                              {"key": "phone", "label": "", "required": True}]
    assert clean(form(), CARD).fields == [{"key": "phone", "label": "", "required": True}]
    defaults = clean(form(), CARD)
    assert (defaults.submit_text, defaults.success_message) == (DEFAULT_SUBMIT, DEFAULT_SUCCESS)


@pytest.mark.parametrize(("data", "code", "field"), [
    (form(name="  "), "required", "name"),
    (form(title=""), "required", "title"),
    (form(name="名" * 101), "too_long", "name"),
    (form(intro="长" * 1001), "too_long", "intro"),
    (form(submit_text="按" * 21), "too_long", "submit_text"),
    (form(success_message="谢" * 301), "too_long", "success_message"),
    (form(fields=[FieldChoice("nope", True)]), "unknown_field", "fields"),
    (form(fields=[FieldChoice("old", True)]), "disabled_field", "fields"),
    (form(fields=[FieldChoice("name", True, order="abc")]), "bad_order", "order_name"),
    (form(fields=[FieldChoice("name", True, order="1000")]), "bad_order", "order_name"),
    (form(fields=[FieldChoice("name", True, label="标" * 41)]), "too_long", "label_name"),
    (form(allowed_origins="https://ok.example\nftp://bad.example"), "bad_origin", "allowed_origins"),
    (form(allowed_origins="https://site.example/landing"), "bad_origin", "allowed_origins"),
    (form(allowed_origins="\n".join(f"https://s{i}.example" for i in range(21))), "too_many_origins",
     "allowed_origins"),
])
def test_what_the_builder_refuses(data: FormInput, code: str, field: str) -> None:
    err = error_of(data)
    assert (err.code, err.field) == (code, field)


def test_origins_are_normalised_and_deduplicated() -> None:
    cleaned = clean(form(allowed_origins="https://WWW.School.example:443/ , https://www.school.example\n"
                                         "http://*.school.example，https://学校.example"), CARD)
    assert cleaned.allowed_origins == ["https://www.school.example", "http://*.school.example",
                                       "https://" + "学校".encode("idna").decode() + ".example"]


SHOWN = values.resolve([{"key": "name", "label": "家长称呼", "required": True}, {"key": "phone"},
                        {"key": "grade"}, {"key": "subject"}, {"key": "child_age"}, {"key": "trial_day"},
                        {"key": "hobby"}, {"key": "old"}, {"key": "gone"}], CARD)


def test_resolve_keeps_the_forms_labels_and_drops_fields_gone_from_the_card() -> None:
    assert [(f.key, f.label, f.required) for f in SHOWN] == [
        ("name", "家长称呼", True), ("phone", "手机号", True), ("grade", "年级", False), ("subject", "意向科目", False),
        ("child_age", "孩子年龄", False), ("trial_day", "试听日期", False), ("hobby", "兴趣", False)]


def test_values_are_normalised_like_a_chats() -> None:
    got = values.accept(SHOWN, {"name": "  王  妈妈 ", "phone": "＋86 138-0013-8000", "grade": "三年级",
                                "subject": "数学、英语，数学", "child_age": "８", "trial_day": "2026-07-01",
                                "hobby": ["钢琴"], "unknown": "ignored"})
    assert got.values == {"name": "王 妈妈", "phone": "13800138000", "grade": "三年级", "subject": ["数学", "英语"],
                          "child_age": 8, "trial_day": "2026-07-01", "hobby": ["钢琴"]}
    assert (got.phone, got.phone_e164) == ("13800138000", "+8613800138000")
    assert values.accept(SHOWN, {"name": "李", "phone": "0571-88881234"}).phone_e164 == "+8657188881234"


@pytest.mark.parametrize(("posted", "code", "field"), [
    ({"phone": "13800138000"}, "required", "name"),
    ({"name": "王", "phone": ""}, "required", "phone"),
    ({"name": "王", "phone": "12345"}, "bad_phone", "phone"),
    ({"name": "王", "phone": "138001380001"}, "bad_phone", "phone"),
    ({"name": "王", "phone": "13800138000 13900139000"}, "bad_phone", "phone"),
    ({"name": "王", "phone": "电话13800138000"}, "bad_phone", "phone"),
    ({"name": "王", "phone": "1" * 5000}, "bad_phone", "phone"),
    ({"name": "王" * 201, "phone": "13800138000"}, "too_long", "name"),
    ({"name": "王", "phone": "13800138000", "grade": "大学"}, "bad_option", "grade"),
    ({"name": "王", "phone": "13800138000", "hobby": ["足球"]}, "bad_option", "hobby"),
    ({"name": "王", "phone": "13800138000", "child_age": "八岁"}, "bad_number", "child_age"),
    ({"name": "王", "phone": "13800138000", "child_age": "99999999"}, "bad_number", "child_age"),
    ({"name": "王", "phone": "13800138000", "trial_day": "下周六"}, "bad_date", "trial_day"),
    ({"name": "王", "phone": "13800138000", "subject": ["科" * 41]}, "too_long", "subject"),
    ({"name": "王", "phone": "13800138000", "subject": [str(i) for i in range(21)]}, "too_many", "subject"),
    ({"name": ["王"], "phone": "13800138000"}, "bad_value", "name"),
])
def test_what_a_submission_may_not_contain(posted: dict[str, object], code: str, field: str) -> None:
    with pytest.raises(FormError) as caught:
        values.accept(SHOWN, posted)
    assert (caught.value.code, caught.value.field) == (code, field)
