"""Normalisation: the forms visitors actually type must fold to one canonical text."""

from __future__ import annotations

import threading

import pytest

from edudesk.nlp import normalise as normalise_mod
from edudesk.nlp.normalise import normalise, normalise_for_embedding, to_simplified


@pytest.mark.parametrize(("raw", "expected"), [
    ("ＡＢＣ１２３", "abc123"),  # full-width letters and digits from a Chinese IME
    ("學費多少", "学费多少"),  # traditional -> simplified
    ("請問週末有試聽課嗎？", "请问周末有试听课吗"),
    ("VIP課程？？😀👍🏻", "vip课程"),  # case, punctuation, emoji with skin tone
    ("  学费 \t\n  多少  ", "学费 多少"),  # whitespace collapsed
    ("学费，多少！", "学费 多少"),  # punctuation separates like a space
    ("调频FM98.4，8:30上课", "调频fm98.4 8:30上课"),  # a decimal point or a time colon inside a number stays
    ("👨‍👩‍👧 1️⃣ 号校区", "1 号校区"),  # ZWJ sequences, keycaps
    ("a_b-c", "a b c"),
    ("", ""),
    ("！？。…😀🎉 ~~", ""),
])
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_normalise_is_idempotent() -> None:
    for text in ("請問　ＶＩＰ學費多少？？😀", "调频FM98.4", "Hello World", "学费 多少"):
        once = normalise(text)
        assert normalise(once) == once


def test_embedding_form_keeps_punctuation_but_not_emoji() -> None:
    assert normalise_for_embedding("請問　ＶＩＰ學費多少？？😀") == "请问 vip学费多少??"
    assert normalise_for_embedding("你好，在吗👋") == "你好,在吗"
    assert normalise_for_embedding("😀😀") == ""


def test_ascii_passes_through_the_converter_untouched() -> None:
    assert to_simplified("Python 3.11") == "Python 3.11"


def test_converter_is_created_once_and_shared_between_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[object] = []
    real = normalise_mod.opencc.OpenCC

    def counting(config: str) -> object:
        converter = real(config)
        created.append(converter)
        return converter

    monkeypatch.setattr(normalise_mod, "_converter", None)
    monkeypatch.setattr(normalise_mod.opencc, "OpenCC", counting)
    texts = ["學費多少", "補習班在哪個校區", "退費流程怎麼辦理"] * 50
    results: list[list[str]] = []
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        results.append([normalise(t) for t in texts])

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 1
    assert all(r == results[0] for r in results)
    assert results[0][:3] == ["学费多少", "补习班在哪个校区", "退费流程怎么办理"]
