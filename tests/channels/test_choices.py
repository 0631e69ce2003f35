"""Choices as numbered lines on channels without buttons, and the visitor's answer read back."""

from __future__ import annotations

import pytest

from edudesk.channels import choices

BUTTONS = [{"label": "转人工", "payload": "转人工"}, {"label": "留下联系方式", "payload": "留下联系方式"},
           {"label": "试听课", "payload": "flow:trial"}]


def test_render_numbers_every_labelled_button_after_the_text() -> None:
    text = choices.render("没找到答案～", BUTTONS)
    assert text == "没找到答案～\n\n回复数字选择：\n1. 转人工\n2. 留下联系方式\n3. 试听课"


def test_render_without_buttons_is_the_text_and_skips_blank_labels() -> None:
    assert choices.render("你好", []) == "你好"
    assert choices.render("", [{"label": " "}, {"label": "是"}]) == "回复数字选择：\n1. 是"


@pytest.mark.parametrize(("said", "index"), [
    ("1", 0), (" 2 ", 1), ("３", 2), ("二", 1), ("第三个", 2), ("3.", 2), ("2。", 1), ("1）", 0),
    ("转人工", 0), ("留下联系方式！", 1), ("试听课", 2),
])
def test_pick_by_number_or_whole_label(said: str, index: int) -> None:
    assert choices.pick(said, BUTTONS) == BUTTONS[index]


@pytest.mark.parametrize("said", ["0", "4", "12", "我想转人工可以吗", "1 2", "", "   ", "一年级学费多少"])
def test_anything_else_is_not_a_choice(said: str) -> None:
    assert choices.pick(said, BUTTONS) is None


def test_no_offer_no_pick() -> None:
    assert choices.pick("1", []) is None
