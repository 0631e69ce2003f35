import pytest

from edudesk.visitors.attribution import attribution, is_internal, search_engine, source_kind

LAND = "https://school.example/course/math"


@pytest.mark.parametrize(("referrer", "engine", "keyword"), [
    ("https://www.baidu.com/s?wd=%E5%B0%8F%E5%AD%A6%E5%A5%A5%E6%95%B0&rsv_spt=1", "baidu", "小学奥数"),
    ("https://m.baidu.com/s?word=%E9%9B%85%E6%80%9D&from=1", "baidu", "雅思"),
    ("https://www.baidu.com/link?url=abc", "baidu", ""),
    ("https://www.sogou.com/web?query=%E8%80%83%E7%A0%94", "sogou", "考研"),
    ("https://m.sogou.com/web/searchList.jsp?keyword=abc", "sogou", "abc"),
    ("https://www.so.com/s?q=%E8%8B%B1%E8%AF%AD", "360", "英语"),
    ("https://cn.bing.com/search?q=ielts+course", "bing", "ielts course"),
    ("https://www.bing.com/search?q=", "bing", ""),
    ("https://m.sm.cn/s?q=%E7%BC%96%E7%A8%8B", "shenma", "编程"),
    ("https://yz.m.sm.cn/s?q=x", "shenma", "x"),
    ("https://www.google.com.hk/search?q=toefl", "google", "toefl"),
    ("https://www.google.com/", "google", ""),
])
def test_search_engines_and_keywords(referrer: str, engine: str, keyword: str) -> None:
    assert search_engine(referrer) == (engine, keyword)
    source = attribution(LAND, referrer)
    assert source["search_engine"] == engine
    assert source.get("search_keyword", "") == keyword
    assert source_kind(source) == "search"


@pytest.mark.parametrize("referrer", ["", "https://notbaidu.com.evil/s?wd=x", "https://baidu.com.evil.cn/?wd=x",
                                      "not a url", "https://google/?q=x", "http://[::1", "https://school.example/a"])
def test_not_a_search_engine(referrer: str) -> None:
    assert "search_engine" not in attribution(LAND, referrer)


@pytest.mark.parametrize(("landing", "referrer", "expected", "kind"), [
    (LAND + "?utm_source=baidu&utm_medium=cpc&utm_campaign=exam2026&utm_term=%E5%A5%A5%E6%95%B0&utm_content=a1",
     "https://www.baidu.com/s?wd=x",
     {"utm_source": "baidu", "utm_medium": "cpc", "utm_campaign": "exam2026", "utm_term": "奥数", "utm_content": "a1",
      "search_engine": "baidu", "search_keyword": "x", "referrer_host": "www.baidu.com"}, "ad"),
    (LAND + "?bd_vid=1234567", "", {"click_id_kind": "bd_vid", "click_id": "1234567"}, "ad"),
    (LAND + "?clickid=EQdxyz&adid=1", "https://www.douyin.com/", {"click_id_kind": "clickid", "click_id": "EQdxyz",
                                                                   "referrer_host": "www.douyin.com"}, "ad"),
    (LAND + "?gdt_vid=wx0abc", "", {"click_id_kind": "gdt_vid", "click_id": "wx0abc"}, "ad"),
    (LAND + "?qz_gdt=qz1", "", {"click_id_kind": "qz_gdt", "click_id": "qz1"}, "ad"),
    (LAND + "?UTM_SOURCE=newsletter&utm_campaign=spring", "", {"utm_source": "newsletter",
                                                              "utm_campaign": "spring"}, "campaign"),
    ("https://school.example/#/course?utm_campaign=spa", "", {"utm_campaign": "spa"}, "campaign"),
    (LAND, "https://mp.weixin.qq.com/s/abc", {"referrer_host": "mp.weixin.qq.com"}, "social"),
    (LAND, "https://www.zhihu.com/question/1", {"referrer_host": "www.zhihu.com"}, "social"),
    (LAND, "https://partner.example.org/links", {"referrer_host": "partner.example.org"}, "referral"),
    (LAND, "https://school.example/other", {}, "direct"),
    (LAND, "", {}, "direct"),
    (LAND + "?utm_medium=PPC", "", {"utm_medium": "PPC"}, "ad"),
    (LAND + "?utm_source=", "", {}, "direct"),
])
def test_attribution_table(landing: str, referrer: str, expected: dict[str, str], kind: str) -> None:
    source = attribution(landing, referrer)
    assert source.pop("landing_page") == landing
    assert source == expected
    assert source_kind(source) == kind


def test_values_are_clipped_and_hostile_text_kept_as_text() -> None:
    source = attribution(LAND + "?utm_campaign=" + "x" * 5000 + "&utm_source=<script>alert(1)</script>",
                         "https://www.baidu.com/s?wd=" + "y" * 900)
    assert len(source["utm_campaign"]) == 200 and len(source["search_keyword"]) == 200
    assert source["utm_source"] == "<script>alert(1)</script>"  # escaped where shown, not mangled here
    assert len(source["landing_page"]) <= 1000


def test_internal_referrer() -> None:
    assert is_internal("https://a.example/x", "https://a.example/y")
    assert not is_internal("https://a.example/x", "https://b.example/y")
    assert not is_internal("https://a.example/x", "")
