"""Cities and districts from the administrative-division lexicon, with the shared-name cases."""

from __future__ import annotations

import pytest

from edudesk.nlp.extract import extract


@pytest.mark.parametrize(("text", "city", "district"), [
    ("我们在杭州西湖区", "杭州市", "西湖区"),
    ("北京海淀有校区吗", "北京市", "海淀区"),
    ("海淀有校区吗", "北京市", "海淀区"),
    ("上海浦东", "上海市", "浦东新区"),
    ("长沙岳麓区", "长沙市", "岳麓区"),
    ("长春朝阳区", "长春市", "朝阳区"),
    ("孩子在朝阳区上学", None, "朝阳区"),
    ("你们苏州有分校吗", "苏州市", None),
])
def test_place(text: str, city: str | None, district: str | None) -> None:
    result = extract(text)
    assert (result.city, result.district) == (city, district)


def test_province_and_address() -> None:
    assert extract("住在浙江").province == "浙江省"
    assert extract("北京市东城区王府井大街218号").address == "北京市东城区王府井大街218号"


@pytest.mark.parametrize("text", ["明天下雨吗", "准备上高一", "朝阳很好看", "和平年代"])
def test_no_place(text: str) -> None:
    result = extract(text)
    assert result.city is None and result.district is None


@pytest.mark.parametrize(("text", "city", "district"), [
    # Short forms left out of the lexicon as common words name the district right after their city.
    ("北京朝阳有考研的校区吗", "北京市", "朝阳区"),
    ("深圳南山 雅思班", "深圳市", "南山区"),
    ("北京通州 事业单位考试", "北京市", "通州区"),
    ("北京西城", "北京市", "西城区"),
    ("重庆江北", "重庆市", "江北区"),
    ("杭州西湖 有二建面授吗", "杭州市", "西湖区"),
    ("南昌西湖区 二建", "南昌市", "西湖区"),
    ("我在福田上班", "深圳市", "福田区"),
    # …and not after another city, nor alone.
    ("上海朝阳路", "上海市", None),
    ("南山公园", None, None),
])
def test_district_with_or_without_suffix(text: str, city: str | None, district: str | None) -> None:
    result = extract(text)
    assert (result.city, result.district) == (city, district)


def test_weixin_spelt_as_a_county_is_a_cue() -> None:
    result = extract("公务员面试，威信 gwy_shangan2024")
    assert result.district is None and result.wechat == "gwy_shangan2024"
    assert extract("云南威信县").district == "威信县"
