"""千人千面: which personalisation rule speaks to this visitor. Pure: the caller says who the visitor is (``Audience``:
the page, where they came from, their tags) and gets the first matching rule by priority.

Where a visitor came from is read from the page URL the widget sends and its referrer by the trail's classifier
(``attribution``, the same ``source_kind`` values as reports); a visitor whose page says nothing of it (``direct``)
keeps the source of their latest visit.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from edudesk.visitors import attribution, patterns

MATCH_KEYS = ("url_pattern", "campaign", "source_kind", "utm_source", "tag")


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
    """(campaign, source_kind, utm_source) of a page as the trail classifies it (``attribution``: one classifier
    for reports, leads and 千人千面). ``direct`` when nothing on the page says where the visitor came from (no UTM,
    click id or outside referrer): the caller then looks at their latest visit."""
    source = attribution.attribution(page_url, referrer)
    return source.get("utm_campaign", ""), attribution.source_kind(source), source.get("utm_source", "")


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
