"""千人千面: which personalisation rule speaks to this visitor. Pure: the caller says who the visitor is (``Audience``:
the page, where they came from, their tags) and gets the first matching rule by priority.

Where a visitor came from is read from the page URL the widget sends (its UTM parameters and ad click ids) and the
referrer; a returning contact without UTM on this page keeps the source of their latest visit (the profile).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from edudesk.visitors import patterns

MATCH_KEYS = ("url_pattern", "campaign", "source_kind", "utm_source", "tag")
CLICK_IDS = ("bd_vid", "clickid", "gdt_vid", "qz_gdt")
PAID_MEDIUMS = ("cpc", "ppc", "paid", "cpm", "paidsearch")
SEARCH_HOSTS = ("baidu.", "sogou.", "so.com", "bing.", "google.", "sm.cn", "yandex.", "duckduckgo.")
SOCIAL_HOSTS = ("weixin.qq.com", "douyin.", "weibo.", "xiaohongshu.", "zhihu.", "kuaishou.", "bilibili.")


@dataclass(frozen=True)
class Audience:
    page_url: str = ""
    campaign: str = ""
    source_kind: str = ""
    utm_source: str = ""
    tags: Collection[str] = ()


@dataclass(frozen=True)
class PersonalSpec:
    id: int
    priority: int
    match: Mapping[str, str]


def source_of_page(page_url: str, referrer: str) -> tuple[str, str, str]:
    """(campaign, source_kind, utm_source) of a landing: UTM and click ids of the page URL, else the referrer's
    kind; empty strings where unknown. The same classes as the trail's ``source_kind`` (docs/visitors.md)."""
    try:
        query = {k: v[0] for k, v in parse_qs(urlsplit(page_url).query).items() if v}
    except ValueError:
        query = {}
    campaign, utm_source = query.get("utm_campaign", "")[:100], query.get("utm_source", "")[:100]
    medium = query.get("utm_medium", "").lower()
    if any(k in query for k in CLICK_IDS) or medium in PAID_MEDIUMS:
        return campaign, "ad", utm_source
    if campaign or utm_source or medium:
        return campaign, "campaign", utm_source
    host, _ = patterns.split_url(referrer) if referrer else ("", "")
    page_host, _ = patterns.split_url(page_url)
    if not host or host == page_host:
        return "", "", ""
    if any(s in host for s in SEARCH_HOSTS):
        return "", "search", ""
    if any(s in host for s in SOCIAL_HOSTS):
        return "", "social", ""
    return "", "referral", ""


def holds(match: Mapping[str, str], who: Audience) -> bool:
    """Every condition given holds (a rule with none matches everyone: the org-wide default)."""
    pattern = match.get("url_pattern")
    if pattern and not (who.page_url and patterns.matches(pattern, who.page_url)):
        return False
    campaign = match.get("campaign")
    if campaign and campaign.casefold() not in who.campaign.casefold():
        return False
    kind = match.get("source_kind")
    if kind and kind != who.source_kind:
        return False
    utm = match.get("utm_source")
    if utm and utm.casefold() not in who.utm_source.casefold():
        return False
    tag = match.get("tag")
    return not (tag and tag not in who.tags)


def choose(rules: Sequence[PersonalSpec], who: Audience) -> PersonalSpec | None:
    """The matching rule with the lowest priority (then the oldest), or None."""
    for rule in sorted(rules, key=lambda r: (r.priority, r.id)):
        if holds(rule.match, who):
            return rule
    return None
