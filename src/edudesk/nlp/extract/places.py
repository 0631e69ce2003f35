"""Province, city and district from a lexicon of China's administrative divisions (``nlp/data/regions.tsv``).

The lexicon (3,219 divisions, generated from the MIT-licensed ``cpca`` package's adcode table, see
``nlp/data/README.md``) holds each official name (``杭州市``, ``海淀区``) and the short form people write (``杭州``,
``海淀``). Short forms that are also common words (``朝阳``, ``和平``, ``新华``, ``城关``…) were left out when the data
file was generated, so "朝阳区" is recognised but a lone "朝阳" is not. Right after its own city those short forms
are unambiguous and people write them so: "北京朝阳", "深圳南山", "北京通州" name the district (:func:`_city_bound`).
"威信" is a county and also how people spell 微信 to dodge filters: followed by an ID it is the latter.

Values are official names, so leads can be grouped: ``city`` = 杭州市 / 北京市 (municipalities are cities here),
``district`` = 西湖区, ``province`` = 浙江省. A district implies its city and province when the district name is unique
in China or the city was also named; a name shared by several districts (朝阳区, 西湖区) without its city gives the
district alone. ``address`` is the location phrase as written: the run of division names plus what follows up to a
road / street / community word ("杭州市西湖区文三路").

Matching is a dictionary lookup at each position, longest name first (names are 2–15 characters): a few hundred
dict probes per message, no regex alternation over 6,000 names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["Place", "Region", "find_place"]

_MUNICIPALITIES = frozenset({"北京市", "天津市", "上海市", "重庆市"})
_ADDRESS_TAIL = re.compile(
    r"(?:(?![有吗的在是了吧呢和或附近])[\u4e00-\u9fff\dA-Za-z]){0,10}?(?:大道|大街|路|街道|街|巷|弄|胡同|镇|乡|村|小区|花园|广场|大厦)"
    r"(?:\d{1,4}[号弄栋幢]|[\u4e00-\u9fff]{0,2}\d{1,4}号)?"
)
_LEVEL_RANK = {"district": 0, "city": 1, "province": 2}
_DISTRICT_SUFFIXES = ("新区", "区", "县")
# A place name that, followed by an ID, is a WeChat cue ("威信 abc_123", "威信号：…").
_CUE_NOT_PLACE = re.compile(r"威信号?[\s:：是]*[A-Za-z0-9]")


@dataclass(frozen=True)
class Region:
    adcode: str
    name: str
    level: str  # "province", "city" or "district"
    province: str
    city: str  # the city a district belongs to; for a municipality, the municipality


@dataclass(frozen=True)
class Place:
    province: str | None
    city: str | None
    district: str | None
    address: str | None
    spans: tuple[tuple[str, str, int, int], ...]  # (field, value, start, end)


def _lexicon() -> tuple[dict[str, tuple[Region, ...]], int]:
    table, longest, _ = _tables()
    return table, longest


@cache
def _longest_from() -> dict[str, int]:
    """First character of a lexicon form → the length of the longest form starting with it: the scan of a message
    skips at once the characters that start no place name (nearly all of them) and tries no longer slice than can
    match, instead of every length up to the lexicon's longest at every character."""
    longest: dict[str, int] = {}
    for form in _lexicon()[0]:
        longest[form[0]] = max(longest.get(form[0], 0), len(form))
    return longest


def _city_bound() -> dict[tuple[str, str], Region]:
    """(city, short form) → district, for districts whose short form is left out of the lexicon as a common word
    ("朝阳", "南山", "通州"): found only right after that city's name."""
    return _tables()[2]


@cache
def _tables() -> tuple[dict[str, tuple[Region, ...]], int, dict[tuple[str, str], Region]]:
    """Surface form → the regions it may name, and the city-bound short forms; built once per process (~3 ms)."""
    table: dict[str, list[Region]] = {}
    bound: dict[tuple[str, str], Region] = {}
    text = resources.files("edudesk.nlp").joinpath("data/regions.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        adcode, name, alias, level, province, city = line.split("\t")
        if level == "province" and name in _MUNICIPALITIES:
            level, city = "city", name
        region = Region(adcode, name, level, province, city)
        if level == "district" and not alias:
            short = next((name[: -len(x)] for x in _DISTRICT_SUFFIXES if name.endswith(x)), "")
            if len(short) >= 2:
                bound[(city, short)] = region
        for form in (name, alias):
            if form:
                table.setdefault(form, []).append(region)
    longest = max(len(form) for form in table)
    return {form: tuple(regions) for form, regions in table.items()}, longest, bound


def _mentions(text: str) -> list[tuple[int, int, tuple[Region, ...]]]:
    table, _ = _lexicon()
    longest_from = _longest_from()
    found: list[tuple[int, int, tuple[Region, ...]]] = []
    i, n = 0, len(text)
    while i < n - 1:
        if not "\u4e00" <= text[i] <= "\u9fff":
            i += 1
            continue
        longest = longest_from.get(text[i], 0)  # 0: no form starts here, the loop below is empty
        for size in range(min(longest, n - i), 1, -1):
            regions = table.get(text[i:i + size])
            if regions:
                if _CUE_NOT_PLACE.match(text, i):
                    continue
                found.append((i, i + size, regions))
                i += size
                bound = _bound_after(text, i, regions)
                if bound:
                    found.append(bound)
                    i = bound[1]
                break
        else:
            i += 1
    return found


def _bound_after(text: str, i: int, regions: tuple[Region, ...]) -> tuple[int, int, tuple[Region, ...]] | None:
    """A city-bound short form ("朝阳") right after a mention of its city ("北京"), not followed by its suffix
    (the full name is in the lexicon anyway)."""
    cities = {r.city for r in regions if r.level == "city"}
    if not cities:
        return None
    bound = _city_bound()
    for size in (3, 2):
        short = text[i:i + size]
        for city in cities:
            region = bound.get((city, short))
            if region is not None and not text.startswith(_DISTRICT_SUFFIXES, i + size):
                return i, i + size, (region,)
    return None


def find_place(text: str) -> Place | None:
    """Province/city/district/address named in ``text`` (folded); ``None`` when no division is named."""
    mentions = _mentions(text)
    if not mentions:
        return None
    named_cities = {r.city for _, _, regions in mentions for r in regions if r.level == "city"}
    named_provinces = {r.province for _, _, regions in mentions for r in regions if r.level == "province"}
    province = city = district = None
    spans: list[tuple[str, str, int, int]] = []
    for start, end, regions in mentions:
        # A written official name ("长沙县") means that region; a short form shared by a city and a county
        # ("长沙": 长沙市 and 长沙县, "河南": 河南省 and 河南县) means the larger one, as people use it.
        exact = [r for r in regions if r.name == text[start:end]]
        regions = tuple(exact) or regions
        best = min(regions, key=lambda r: _LEVEL_RANK[r.level] if exact else -_LEVEL_RANK[r.level])
        if best.level == "district":
            candidates = [r for r in regions if r.level == "district"]
            if len(candidates) > 1:
                narrowed = [r for r in candidates if r.city in named_cities or r.province in named_provinces]
                candidates = narrowed or candidates
            if district is None:
                district = candidates[0].name
                spans.append(("district", district, start, end))
                if len(candidates) == 1:
                    city = city or candidates[0].city
                    province = province or candidates[0].province
        elif best.level == "city" and (city is None or not any(s[0] == "city" for s in spans)):
            city, province = best.city, best.province
            spans.append(("city", best.name, start, end))
        elif best.level == "province" and province is None:
            province = best.name
            spans.append(("province", best.name, start, end))
    # Address: from the first mention through adjacent mentions and a street-level tail, as written.
    first_start, end = mentions[0][0], mentions[0][1]
    for start, stop, _ in mentions[1:]:
        if start != end:
            break
        end = stop
    tail = _ADDRESS_TAIL.match(text, end)
    if tail:
        end = tail.end()
    return Place(province, city, district, text[first_start:end], tuple(spans))
