"""Which flow an event starts: trigger kinds, their precedence, and flows a conversation already ran."""

from __future__ import annotations

from typing import Any

from edudesk.bot.flows.spec import Flow, load_flow
from edudesk.bot.flows.triggers import PRECEDENCE, FlowEvent, matching_trigger, pick_flow


def flow(key: str, *triggers: dict[str, Any], enabled: bool = True) -> Flow:
    return load_flow({"key": key, "name": key, "enabled": enabled, "triggers": list(triggers),
                      "steps": [{"kind": "end", "id": "bye", "text": "再见"}]})


OPENED = {"kind": "widget_opened"}
KEYWORDS = {"kind": "keywords", "keywords": ["报名", "价格", "KET"]}
CATEGORY = {"kind": "faq_category", "category": "课程"}
TURNS = {"kind": "turns_without_contact", "turns": 3}
OFF_HOURS = {"kind": "off_hours"}


def message(text: str = "你好", **extra: Any) -> FlowEvent:
    return FlowEvent("message", text=text, **extra)


def test_widget_opened_fires_only_on_the_open_event() -> None:
    greet = flow("greet", OPENED)
    assert pick_flow([greet], FlowEvent("widget_opened")) is greet
    assert pick_flow([greet], message()) is None


def test_keywords_match_case_and_width_insensitively() -> None:
    sign_up = flow("sign_up", KEYWORDS)
    assert pick_flow([sign_up], message("我想给孩子报名")) is sign_up
    assert pick_flow([sign_up], message("ｋｅｔ考试怎么准备")) is sign_up
    assert pick_flow([sign_up], message("你们在哪里")) is None
    assert pick_flow([sign_up], FlowEvent("widget_opened", text="报名")) is None


def test_faq_category_matches_the_category_and_below() -> None:
    courses = flow("courses", CATEGORY)
    assert pick_flow([courses], message(faq_category="课程")) is courses
    assert pick_flow([courses], message(faq_category="课程/价格")) is courses
    assert pick_flow([courses], message(faq_category="课程表")) is None
    assert pick_flow([courses], message()) is None


def test_turns_without_contact() -> None:
    nudge = flow("nudge", TURNS)
    assert pick_flow([nudge], message(turns=2)) is None
    assert pick_flow([nudge], message(turns=3)) is nudge
    assert pick_flow([nudge], message(turns=5)) is nudge
    assert pick_flow([nudge], message(turns=5, has_contact=True)) is None


def test_off_hours_fires_on_open_and_on_messages() -> None:
    night = flow("night", OFF_HOURS)
    assert pick_flow([night], FlowEvent("widget_opened", off_hours=True)) is night
    assert pick_flow([night], message(off_hours=True)) is night
    assert pick_flow([night], message()) is None


def test_precedence_beats_list_order() -> None:
    assert PRECEDENCE == ("off_hours", "keywords", "faq_category", "turns_without_contact", "widget_opened")
    nudge, courses, sign_up, night = flow("n", TURNS), flow("c", CATEGORY), flow("s", KEYWORDS), flow("o", OFF_HOURS)
    event = message("报名", faq_category="课程", turns=4)
    assert pick_flow([nudge, courses, sign_up], event) is sign_up
    assert pick_flow([nudge, courses], event) is courses
    assert pick_flow([nudge, courses, sign_up, night], message("报名", off_hours=True)) is night


def test_within_one_kind_the_admin_order_decides() -> None:
    first, second = flow("first", KEYWORDS), flow("second", KEYWORDS)
    assert pick_flow([first, second], message("价格")) is first
    assert pick_flow([second, first], message("价格")) is second


def test_disabled_and_already_run_flows_are_skipped() -> None:
    off, done, fresh = flow("off", KEYWORDS, enabled=False), flow("done", KEYWORDS), flow("fresh", TURNS)
    event = message("报名", turns=3, done=frozenset({"done"}))
    assert pick_flow([off, done, fresh], event) is fresh
    assert pick_flow([off, done], event) is None


def test_matching_trigger_reports_the_strongest() -> None:
    both = flow("both", TURNS, KEYWORDS)
    trigger = matching_trigger(both, message("价格", turns=3))
    assert trigger is not None and trigger.kind == "keywords"
    assert matching_trigger(both, message("你好", turns=1)) is None
