"""Tokenising: jieba words and character n-grams, initialised once, quietly, without writing files."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edudesk.nlp import tokenise
from edudesk.nlp.lexical import terms
from edudesk.nlp.tokenise import char_ngrams, char_units, words


def test_words_finds_chinese_words() -> None:
    found = words("请问你们周末有没有少儿编程的试听课")
    assert {"周末", "少儿", "编程"} <= set(found)
    assert all(w.strip() for w in found)
    assert words("") == []


def test_char_units_keep_latin_words_and_numbers_whole() -> None:
    assert char_units("打开qq音乐 fm98.4") == [["打", "开", "qq", "音", "乐"], ["fm98.4"]]


def test_char_ngrams_stay_inside_segments() -> None:
    assert char_ngrams("学费 多少", 2) == ["学费", "多少"]
    assert char_ngrams("打开qq音乐", 2) == ["打开", "开qq", "qq音", "音乐"]
    assert char_ngrams("学费多少", 1) == ["学", "费", "多", "少"]
    assert char_ngrams("", 2) == []
    with pytest.raises(ValueError):
        char_ngrams("学费", 0)


def test_terms_are_words_plus_unigrams_and_bigrams() -> None:
    found = terms("学费多少")
    assert {"学费", "多少", "学", "费", "费多"} <= set(found)
    assert terms("") == []


def test_first_use_is_quiet_and_writes_no_cache_file(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path), "TEMP": str(tmp_path), "TMP": str(tmp_path)}
    code = "from edudesk.nlp.tokenise import words; print('|'.join(words('学费多少钱')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.strip() == "学费|多少|钱"
    assert list(tmp_path.iterdir()) == []  # jieba's default would drop jieba.cache into the temp directory


def test_tokenizer_is_built_once_under_concurrent_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[object] = []
    real = tokenise.CompactTokenizer

    def counting() -> object:
        tok = real()
        built.append(tok)
        return tok

    monkeypatch.setattr(tokenise, "_tokenizer", None)
    monkeypatch.setattr(tokenise, "CompactTokenizer", counting)
    results: list[list[str]] = []
    start = threading.Barrier(4)

    def work() -> None:
        start.wait()
        results.append(words("请问周末有没有编程课"))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1
    assert all(r == results[0] for r in results)
