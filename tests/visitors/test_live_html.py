"""The live list's rows are built outside Jinja: every field must still be escaped, in text and in attributes."""

from __future__ import annotations

import json
import re

from edudesk.visitors.live_html import rows_html
from edudesk.visitors.live_list import Row, duration

HOSTILE = "\"'><script>alert(1)</script>&"
LABELS = {k: k for k in ("visitor", "left", "keyword", "campaign", "visit", "page", "returning", "new", "visits",
                         "pages", "serving", "invite")}


def row(**kw: object) -> Row:
    base: dict[str, object] = dict(
        visitor_key="v1", contact_id=1, name="", phone="", url="https://s.example/", title="", source_kind="search",
        engine="百度", keyword="", campaign="", seconds_on_site=75, seconds_on_page=5, views=2, visits=1,
        returning=False, grade="", talking_with=None, talking_state=None, online=True, device="", place="",
        view_key="pv", invitable=True)
    base.update(kw)
    return Row(**base)  # type: ignore[arg-type]


def test_every_field_is_escaped() -> None:
    html = str(rows_html([row(visitor_key=HOSTILE, name=HOSTILE, phone=HOSTILE, url=HOSTILE, title=HOSTILE,
                              keyword=HOSTILE, campaign=HOSTILE, place=HOSTILE, device=HOSTILE, grade=HOSTILE,
                              talking_with=HOSTILE, talking_state="assigned", engine=HOSTILE)],
                         LABELS, {"search": "搜索"}, duration))
    assert "<script>" not in html and "'><" not in html
    vals = re.search(r"hx-vals='([^']*)'", html)
    assert vals is not None
    unescaped = vals.group(1).replace("&#34;", '"').replace("&#39;", "'").replace("&lt;", "<").replace(
        "&gt;", ">").replace("&amp;", "&")
    assert json.loads(unescaped) == {"visitor_key": HOSTILE}


def test_a_row_reads_as_the_console_shows_it() -> None:
    html = str(rows_html([row(keyword="少儿编程", talking_with="王老师", talking_state="assigned", invitable=False)],
                         LABELS, {"search": "搜索"}, duration))
    assert "搜索·百度" in html and "keyword少儿编程" in html and "王老师 serving" in html
    assert "visit 1分15秒" in html and "page 5秒" in html and "hx-post" not in html
