"""The compact dictionary must segment exactly as jieba's own dict does, and hold a fraction of its memory."""

from __future__ import annotations

import logging
import random

import jieba
import pytest

from edudesk.nlp.dictionary import CompactTokenizer, Frequencies
from edudesk.nlp.tokenise import dictionary_items, word_frequency
from tests.nlp.memory_probe import fresh_process_mb

SENTENCES = [
    "孩子今年三年级，数学不太好，想报个周末班",
    "你们学费多少钱一学期？有没有试听课",
    "我家在杭州西湖区文三路，离哪个校区最近",
    "一建二建消防工程师报名条件是什么",
    "请问少儿编程和机器人课有什么区别啊",
    "小明妈妈，手机13800138000，晚上七点以后方便接电话",
    "南京市长江大桥上的行人",
    "结婚的和尚未结婚的",
    "研究生命起源",
    "工信处女干事每月经过下属科室都要亲口交代24口交换机等技术性器件的安装工作",
    "他来到了网易杭研大厦",
    "ABC英语外教一对一，45分钟一节课，198元",
    "？？？！！！……",
    "",
    "a",
    "的",
    "上海自来水来自海上",
    "乒乓球拍卖完了",
]


@pytest.fixture(scope="module")
def stock() -> jieba.Tokenizer:
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ, tokenizer.total = tokenizer.gen_pfdict(tokenizer.get_dict_file())
    tokenizer.initialized = True
    return tokenizer


@pytest.fixture(scope="module")
def compact() -> CompactTokenizer:
    return CompactTokenizer()


def _random_texts(stock: jieba.Tokenizer, n: int) -> list[str]:
    """Runs of dictionary words and stray characters: many ambiguous joins, as in real typing."""
    rng = random.Random(20261207)
    words = [w for w, c in stock.FREQ.items() if c][::50]
    noise = list("的了吗呢啊我你他她它们在是不有和与或及之其这那哪么什怎样多少几个课班学费年级，。？！ ")
    return ["".join(rng.choice(words) if rng.random() < 0.7 else rng.choice(noise)
                    for _ in range(rng.randint(1, 12))) for _ in range(n)]


@pytest.mark.parametrize("hmm", [True, False])
def test_segmentation_equals_jieba(stock: jieba.Tokenizer, compact: CompactTokenizer, hmm: bool) -> None:
    texts = SENTENCES + _random_texts(stock, 400)
    for text in texts:
        assert compact.lcut(text, HMM=hmm) == stock.lcut(text, HMM=hmm), text


def test_frequencies_answer_as_jiebas_dict(stock: jieba.Tokenizer, compact: CompactTokenizer) -> None:
    freq = compact.FREQ
    assert isinstance(freq, Frequencies)
    assert compact.total == stock.total
    assert len(freq) == sum(1 for c in stock.FREQ.values() if c)
    for word in ("学费", "试听", "南京市", "长江大桥", "的", "南京市长江"):
        assert freq.get(word) == (stock.FREQ.get(word) or None), word
    # A prefix of a word is "in" the dict with count 0, as in jieba; a non-prefix is not.
    assert "长江大" in freq and freq["长江大"] == 0 and freq.get("长江大") is None
    assert "龘龘龘" not in freq and freq.get("龘龘龘", 7) == 7
    with pytest.raises(KeyError):
        freq["龘龘龘"]
    with pytest.raises(TypeError):
        freq["新词"] = 3


def test_tokenise_helpers_read_the_compact_dictionary(stock: jieba.Tokenizer) -> None:
    assert word_frequency("学费") == stock.FREQ["学费"] > 0
    assert word_frequency("不是一个词吧") == 0
    items = dict(dictionary_items())
    assert items["学费"] == stock.FREQ["学费"] and len(items) == sum(1 for c in stock.FREQ.values() if c)


def test_a_process_holds_a_fraction_of_jiebas_memory() -> None:
    """Measured in a fresh process: RSS growth of building each dictionary (jieba's: ~60 MB)."""
    body = (
        "import jieba, marisa_trie, edudesk.nlp.dictionary as d\n"
        "before = rss()\n"
        "if sys.argv[1] == 'compact':\n"
        "    t = d.CompactTokenizer(); d.release_free_memory()\n"
        "else:\n"
        "    t = jieba.Tokenizer(); t.FREQ, t.total = t.gen_pfdict(t.get_dict_file())\n"
        "print(rss() - before)\n"
    )
    grown = {kind: fresh_process_mb(body, kind) for kind in ("compact", "jieba")}
    assert grown["jieba"] > 40 and grown["compact"] < 12, grown
