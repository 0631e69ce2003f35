"""The slang, dialect and abbreviation lexicon: colloquial forms become the written word, ordinary words that
contain such a form stay as they are, and nothing off-topic is pulled towards the knowledge base."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterable

import pytest

from edudesk.nlp import colloquial
from edudesk.nlp.colloquial import CONCEPT_INDEX, CONCEPTS, LEXICON, concept_clauses, concepts, rewrite
from edudesk.nlp.embedding import Embedder
from edudesk.nlp.matcher import Band, FaqIndex
from edudesk.nlp.normalise import normalise
from tests.nlp.conftest import EDU_KB, OFF_TOPIC


@pytest.mark.parametrize(("typed", "written"), [
    ("咋收费", "怎么收费"),
    ("几多钱", "多少钱"),
    ("美术班多钱", "美术班多少钱"),
    ("多钱一节课", "多少钱一节课"),
    ("有木有停车位", "有没有停车位"),
    ("娃几岁能学", "孩子几岁能学"),
    ("娃娃几岁能学", "孩子几岁能学"),  # the longer form wins: not 孩子孩子
    ("讲些啥子", "讲些什么"),
    ("礼拜六有课伐", "周六有课吗"),
    ("周六日有课吗", "周末有课吗"),
    ("可以试听么", "可以试听吗"),
    ("tyk咋约", "体验课怎么约"),
    ("sf多少", "收费多少"),
    ("能1v1上吗", "能一对一上吗"),
    ("how much for english class", "多少钱 英语 课"),
    ("贵不", "贵不贵"),
    ("贵不贵", "贵不贵"),  # not 贵不贵贵
])
def test_colloquial_forms_become_the_written_word(typed: str, written: str) -> None:
    assert rewrite(normalise(typed)) == written


@pytest.mark.parametrize("text", [
    "学什么", "为什么", "这么贵", "干嘛呢",  # 么 / 嘛 are particles only at the end of a clause, not in 什么
    "父亲节有活动吗", "亲子课有吗",  # 亲 as a greeting only
    "还有名额吗", "艰巨的任务", "宝宝巴士",
    "sfx 音效", "wx_abc123", "tfboys",  # Latin abbreviations are whole tokens only
    "步伐", "一下子",
])
def test_ordinary_words_are_left_alone(text: str) -> None:
    assert rewrite(text) == text


def test_greetings_and_fillers_are_dropped_unless_nothing_else_is_left() -> None:
    assert rewrite(normalise("亲 在吗 请问一下哈哈 学费多少")) == "学费多少"
    assert rewrite(normalise("你好，老师好")) == normalise("你好，老师好")  # a greeting alone stays a greeting
    assert rewrite("你好") == "你好"
    assert rewrite("你好 学费", fillers=False) == "你好 学费"  # the encoder's form keeps them
    assert rewrite("") == ""


def test_every_form_has_one_meaning() -> None:
    forms = Counter(form for _, found in LEXICON for form in found)
    assert [form for form, n in forms.items() if n > 1] == []
    assert all(form and form == form.lower() for form in forms)  # matched against lower-cased, folded text


def test_rewriting_is_stable() -> None:
    for text in ("咋收费呀", "娃几岁能学", "tyk怎么约", "有木有停车位", "how much"):
        once = rewrite(normalise(text))
        assert rewrite(once) == once


def test_concepts() -> None:
    assert concepts("二建学费多少") == ["§price"]
    assert concepts("培训费用是多少") == ["§price"]
    assert set(concepts("退费要多久 能分期吗")) == {"§refund", "§instalment"}
    assert concepts("今天天气怎么样") == []
    assert concepts("") == []
    assert set(CONCEPT_INDEX) == {"§" + name for name in CONCEPTS}


def test_concept_clauses_name_the_first_clause_of_each_concept() -> None:
    assert concept_clauses("地址在哪 有停车位吗") == {"§place": 0, "§parking": 1}
    assert concept_clauses("你们 学费多少 能分期吗 学费贵吗") == {"§price": 1, "§instalment": 2}
    assert concept_clauses("几月开班") == {"§schedule": 0}
    assert concept_clauses("今天天气怎么样") == {}
    assert concept_clauses("") == {}


# Off-topic questions written the way people type, each with its written form: slang, abbreviations and fillers
# must not make answerable what the written question is not.
SLANG_OFF_TOPIC = (
    ("亲 今天天气咋样", "今天天气怎么样"), ("啥电影好看", "什么电影好看"),
    ("哈喽 附近有木有好吃的", "附近有没有好吃的"), ("你好 帮我订个机票呗", "帮我订个机票呗"),
    ("北京到广州高铁几点", "北京到广州高铁几点"), ("周六日去哪玩", "周末去哪玩"),
    ("iphone几多钱", "iphone多少钱"), ("how much is an iphone", "iphone多少钱"), ("lol", "lol"), ("ok", "ok"),
    ("哈哈哈哈", "哈哈哈哈"), ("股票涨了木有", "股票涨了没有"),
)


@pytest.mark.parametrize("mode", ["semantic", "bm25"])
def test_slang_does_not_make_off_topic_questions_answerable(mode: str, embedder: Embedder) -> None:
    index = FaqIndex.build(EDU_KB, embedder if mode == "semantic" else None)
    for query in OFF_TOPIC:
        assert index.match(query).band is not Band.ANSWER, query
    for slang, written in SLANG_OFF_TOPIC:
        if index.match(written).band is not Band.ANSWER:
            result = index.match(slang)
            assert result.band is not Band.ANSWER, (slang, index.understand(slang), result.best)


def test_grouped_patterns_match_exactly_what_a_plain_alternation_matches() -> None:
    """The patterns are grouped by first character for speed (``_alternation``); they must find the same forms as
    the plain longest-first alternation they replace, guards included, on texts dense in forms and near misses."""
    def plain(forms: Iterable[str], pattern_of: Callable[[str], str]) -> re.Pattern[str]:
        return re.compile("|".join(pattern_of(f) for f in sorted(set(forms), key=lambda f: (-len(f), f))))

    pairs = [
        (colloquial._PATTERN, plain(colloquial._CANONICAL, colloquial._pattern_of)),
        (colloquial._WORDS_ONLY, plain((f for f, c in colloquial._CANONICAL.items() if c), colloquial._pattern_of)),
        (colloquial._CONCEPT_PATTERN, plain(colloquial._CONCEPT_OF, re.escape)),
    ]
    rng = random.Random(17)
    pieces = [*colloquial._CANONICAL, *colloquial._CONCEPT_OF, *"什么怎多亲子在吗好你学费父哈的了", "abc", "1", " "]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        for grouped, reference in pairs:
            assert [m.span() for m in grouped.finditer(text)] == [m.span() for m in reference.finditer(text)], text
