from edudesk.bot import sensitive
from edudesk.bot.sensitive import SensitiveFilter, parse_words


def test_default_words_are_masked_with_evasions() -> None:
    f = SensitiveFilter()
    assert f.apply("你们是傻逼吗").text == "你们是**吗"
    assert f.apply("傻 逼机构").text == "* *机构"
    assert f.apply("傻*逼").text == "***"
    assert f.apply("ＳＨＩＴ happens").text == "**** happens"


def test_clean_text_is_untouched_and_not_a_hit() -> None:
    result = SensitiveFilter().apply("请问一年级数学一期多少钱？")
    assert result.text == "请问一年级数学一期多少钱？"
    assert not result.hit


def test_org_words_and_an_empty_list() -> None:
    assert SensitiveFilter(["竞品A"]).apply("竞品a更便宜").text == "***更便宜"
    assert SensitiveFilter(()).apply("傻逼").text == "傻逼"


def test_words_that_look_like_regex_are_literal() -> None:
    f = SensitiveFilter(["a.b", "(x)"])
    assert f.apply("acb").text == "acb"
    assert f.apply("a.b (x)").text == "*** ***"


def test_parse_words_accepts_lines_and_both_commas() -> None:
    assert parse_words("甲，乙,丙\n丁、甲\n\n") == ["甲", "乙", "丙", "丁"]


def test_results_are_remembered_and_the_memory_is_bounded() -> None:
    f = SensitiveFilter()
    first = f.apply("你们是傻逼吗")
    assert f.apply("你们是傻逼吗") is first  # the same text again: the remembered result
    for i in range(sensitive.SEEN_TEXTS + 5):
        assert f.apply(f"第{i}个问题").text == f"第{i}个问题"
    assert len(f._seen) <= sensitive.SEEN_TEXTS
    assert f.apply("你们是傻逼吗").text == "你们是**吗"
    long = "傻逼" + "啊" * sensitive.SEEN_MAX_CHARS
    assert f.apply(long).text.startswith("**啊") and long not in f._seen
