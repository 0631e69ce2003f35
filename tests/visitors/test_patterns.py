from __future__ import annotations

import pytest

from edudesk.visitors import patterns


@pytest.mark.parametrize(("pattern", "url", "expected"), [
    ("/courses/math", "https://s.example/courses/math", True),
    ("/courses/math", "https://s.example/courses/math/price?utm_source=baidu", True),
    ("/courses/math", "https://s.example/courses/english", False),
    ("/courses/math", "https://s.example/about/courses/math", False),
    ("*price*", "https://s.example/courses/math/price", True),
    ("*price*", "https://s.example/courses/math?tab=price", False),  # the query is not the page
    ("/courses/*/fees", "https://s.example/courses/art/fees", True),
    ("/courses/*/fees", "https://s.example/courses/art/info", False),
    ("/课程/数学", "https://s.example/%E8%AF%BE%E7%A8%8B/%E6%95%B0%E5%AD%A6/intro", True),
    ("m.school.example/courses", "https://M.School.Example/courses/kaoyan", True),
    ("m.school.example/courses", "https://www.school.example/courses/kaoyan", False),
    ("m.school.example", "https://m.school.example/anything", True),
    ("*.school.example/*price*", "https://m.school.example/x/price", True),
    ("*.school.example/*price*", "https://evil.example/x/price", False),
    ("/", "not a url at all", False),
    ("/", "https://s.example", True),
    ("/courses", "", False),
])
def test_matches(pattern: str, url: str, expected: bool) -> None:
    assert patterns.matches(patterns.clean_pattern(pattern), url) is expected


@pytest.mark.parametrize(("raw", "stored"), [
    ("  /courses/math ", "/courses/math"),
    ("https://M.School.example/courses", "m.school.example/courses"),
    ("*price*", "*price*"),
])
def test_clean_pattern_accepts(raw: str, stored: str) -> None:
    assert patterns.clean_pattern(raw) == stored


@pytest.mark.parametrize("raw", ["", "   ", "/a b", "x" * 301, "<script>alert(1)</script>", "/a\x00", "中文域名/x",
                                 "/it's"])
def test_clean_pattern_refuses(raw: str) -> None:
    with pytest.raises(patterns.PatternError) as err:
        patterns.clean_pattern(raw, "url_pattern")
    assert err.value.field == "url_pattern"
