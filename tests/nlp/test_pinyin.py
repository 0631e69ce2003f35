"""Pinyin-level repair towards a knowledge base's own words: homophone typos, pinyin and initials are repaired;
real words, function words and anything the knowledge base does not say are left alone."""

from __future__ import annotations

import subprocess
import sys

import pytest

from edudesk.nlp.colloquial import rewrite
from edudesk.nlp.lexical import terms
from edudesk.nlp.normalise import normalise
from edudesk.nlp.pinyin import KbSpeller, initials, readings, sound, spellings
from edudesk.nlp.tokenise import words
from tests.nlp.conftest import EDU_KB

EXTRA = ("能停车吗", "体验课怎么约", "发票怎么开", "有网课吗", "教师资格证", "会计培训多少钱", "剑桥英语 KET 考试班")


@pytest.fixture(scope="module")
def speller() -> KbSpeller:
    texts = [rewrite(normalise(t)) for doc in EDU_KB for t in (doc.question, *doc.similar)] + list(EXTRA)
    known = {term for text in texts for term in terms(text)}
    return KbSpeller.build([words(t) for t in texts], known)


def test_readings() -> None:
    assert readings("学") == ("xue",)
    assert readings("行")[:2] == ("xing", "hang")  # every reading, the most common first
    assert readings("绿")[0] == "lv"  # ü as v, the way it is typed
    assert readings("a") == ()
    assert sound("学费") == "xue fei"
    assert sound("学a") == ""
    assert initials("体验课") == "tyk"
    assert "kuaiji" in spellings("会计")  # letters typed on purpose may use a heteronym's other reading


def test_the_table_is_read_without_pypinyin_s_phrase_dictionary() -> None:
    code = ("import sys; from edudesk.nlp.pinyin import readings; readings('学'); "
            "print('pypinyin' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("typed", "repaired"), [
    ("学废多少", "学费多少"),
    ("试厅课怎么约", "试听课怎么约"),
    ("挺车方便吗", "停车方便吗"),
    ("发飘能开吗", "发票能开吗"),
    ("免废试听", "免费试听"),
    ("退废流程", "退费流程"),
])
def test_homophone_typos_become_kb_words(speller: KbSpeller, typed: str, repaired: str) -> None:
    assert speller.correct(typed) == repaired


@pytest.mark.parametrize("text", [
    "我要是听说",  # 是听 sounds like 试听 but cuts through 要是
    "教室有摄像头吗",  # 教室 is a real word, however close to 教师
    "有什么课",  # function characters are never swapped (有 / 为)
    "今天天气怎么样", "股票涨了吗", "北京到广州的火车",  # nothing the KB says sounds like these
    "学费多少钱",  # already KB words
    "",
])
def test_real_words_and_off_topic_text_are_left_alone(speller: KbSpeller, text: str) -> None:
    assert speller.correct(text) == text


@pytest.mark.parametrize(("typed", "repaired"), [
    ("xuefei", "学费"),
    ("xuefei duoshao", "学费多少"),  # a phrase typed with spaces is read as one
    ("shi ting ke", "试听课"),
    ("fenqi keyi ma", "分期可以吗"),
    ("tingche", "停车"),
    ("zenmeyang", "怎么样"),  # a common word the KB does not use: the input method's vocabulary
    ("tyk怎么约", "体验课怎么约"),  # initials of a KB word
    ("bm流程", "报名流程"),
])
def test_pinyin_and_initials_become_chinese(speller: KbSpeller, typed: str, repaired: str) -> None:
    assert speller.correct(typed) == repaired


@pytest.mark.parametrize("text", [
    "ok", "lol", "time", "ket", "vip", "iphone", "can i get a refund", "a", "wx_abc123", "sfx",
])
def test_english_and_codes_stay_latin(speller: KbSpeller, text: str) -> None:
    assert speller.correct(text) == text


def test_an_empty_knowledge_base_repairs_nothing() -> None:
    empty = KbSpeller.build([], set())
    assert len(empty) == 0
    assert empty.correct("学废多少 xuefei") == "学废多少 xuefei"


def test_long_and_hostile_input(speller: KbSpeller) -> None:
    for text in ("学废" * 2000, "a" * 5000, "shi " * 2000, "<script>alert(1)</script>", "' or 1=1 --"):
        assert isinstance(speller.correct(text), str)
