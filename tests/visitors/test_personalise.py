from __future__ import annotations

import pytest

from edudesk.visitors import attribution, personalise
from edudesk.visitors.personalise import Audience, PersonalSpec


@pytest.mark.parametrize(("url", "referrer", "expected"), [
    ("https://s.example/?utm_campaign=exam-prep&utm_source=baidu&utm_medium=cpc", "", ("exam-prep", "ad", "baidu")),
    ("https://s.example/?bd_vid=123", "https://www.baidu.com/s?wd=x", ("", "ad", "")),
    ("https://s.example/?gdt_vid=9&utm_source=wx", "", ("", "ad", "wx")),
    ("https://s.example/?utm_campaign=summer", "", ("summer", "campaign", "")),
    ("https://s.example/#/home?utm_campaign=spa", "", ("spa", "campaign", "")),  # a hash router's query
    ("https://s.example/", "https://www.baidu.com/s?wd=考研", ("", "search", "")),
    ("https://s.example/", "https://m.sogou.com/web?query=x", ("", "search", "")),
    ("https://s.example/", "https://www.douyin.com/video/1", ("", "social", "")),
    ("https://s.example/", "https://blog.example/post", ("", "referral", "")),
    # Nothing on the page says where the visitor came from: direct (the caller looks at their latest visit).
    ("https://s.example/b", "https://s.example/a", ("", "direct", "")),
    ("https://s.example/", "", ("", "direct", "")),
    ("::not a url::", "::", ("", "direct", "")),
])
def test_source_of_page_is_the_trails_classification(url: str, referrer: str, expected: tuple[str, str, str]) -> None:
    assert personalise.source_of_page(url, referrer) == expected
    # One classifier: the kind is the one the trail stores for a visit landing there.
    source = attribution.attribution(url, referrer)
    assert expected[1] == attribution.source_kind(source) and expected[1] in attribution.SOURCE_KINDS


@pytest.mark.parametrize(("match", "who", "holds"), [
    ({}, Audience(), True),
    ({"url_pattern": "/courses/kaoyan"}, Audience(page_url="https://s.example/courses/kaoyan/x"), True),
    ({"url_pattern": "/courses/kaoyan"}, Audience(page_url="https://s.example/courses/art"), False),
    ({"url_pattern": "/courses/kaoyan"}, Audience(), False),
    ({"campaign": "exam"}, Audience(campaign="EXAM-prep"), True),
    ({"campaign": "exam"}, Audience(campaign=""), False),
    ({"source_kind": "search"}, Audience(source_kind="search"), True),
    ({"source_kind": "search"}, Audience(source_kind="ad"), False),
    ({"utm_source": "douyin"}, Audience(utm_source="douyin_feed"), True),
    ({"tag": "价格敏感"}, Audience(tags=["价格敏感"]), True),
    ({"tag": "价格敏感"}, Audience(tags=[]), False),
    ({"campaign": "exam", "tag": "高意向"}, Audience(campaign="exam", tags=[]), False),
])
def test_holds(match: dict[str, str], who: Audience, holds: bool) -> None:
    assert personalise.holds(match, who) is holds


def test_choose_takes_the_lowest_priority_that_matches() -> None:
    rules = [PersonalSpec(1, 100, {}), PersonalSpec(2, 10, {"campaign": "exam"}), PersonalSpec(3, 10, {"tag": "x"}),
             PersonalSpec(4, 5, {"source_kind": "ad"})]
    assert personalise.choose(rules, Audience(campaign="exam-prep")).id == 2  # type: ignore[union-attr]
    assert personalise.choose(rules, Audience(campaign="exam-prep", source_kind="ad")).id == 4  # type: ignore[union-attr]
    assert personalise.choose(rules, Audience()).id == 1  # type: ignore[union-attr]
    assert personalise.choose(rules[1:3], Audience()) is None
