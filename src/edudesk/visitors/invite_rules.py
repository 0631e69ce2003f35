"""Which auto-invite rule fits a visitor right now: pure, no session, no clock of its own (tests freeze time by
passing the facts).

A rule fits when every condition it sets holds (an empty condition holds always): the page URL matches its pattern,
the visitor has been on the page at least ``min_seconds``, the visit's source kind / campaign / search keyword
match, the org is in business hours (when the rule asks), and the visitor has had fewer than ``max_per_day``
invitations today (from any rule or agent: a visitor is one person, not one per rule). No rule fits a visitor in a
conversation with a human, or one already invited on this page view. Rules are tried in their order; the first
that fits is used.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from edudesk.visitors import attribution

SOURCE_KINDS = attribution.SOURCE_KINDS


@dataclass(frozen=True)
class RuleSpec:
    id: int
    url_pattern: str = ""
    min_seconds: int = 0
    source_kind: str = ""
    campaign: str = ""
    keyword: str = ""
    business_hours_only: bool = False
    max_per_day: int = 1


@dataclass(frozen=True)
class VisitorFacts:
    url: str
    seconds_on_page: int
    source_kind: str = ""
    campaign: str = ""
    keyword: str = ""
    sent_today: int = 0
    with_human: bool = False
    invited_this_view: bool = False


@lru_cache(maxsize=512)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.IGNORECASE | re.DOTALL)


def url_matches(pattern: str, url: str) -> bool:
    """``*`` stands for any run of characters; a pattern without ``*`` only has to appear in the URL, and a
    pattern with one must match the whole URL ("*/price*", "https://school.example/course/*")."""
    pattern = pattern.strip()
    if not pattern:
        return True
    if "*" not in pattern:
        return pattern.casefold() in url.casefold()
    return _glob(pattern).fullmatch(url) is not None


def fits(rule: RuleSpec, facts: VisitorFacts, *, hours_open: bool) -> bool:
    if facts.with_human or facts.invited_this_view:
        return False
    if facts.sent_today >= rule.max_per_day:
        return False
    if facts.seconds_on_page < rule.min_seconds:
        return False
    if rule.source_kind and facts.source_kind != rule.source_kind:
        return False
    if rule.campaign and facts.campaign.casefold() != rule.campaign.casefold():
        return False
    if rule.keyword and rule.keyword.casefold() not in facts.keyword.casefold():
        return False
    if rule.business_hours_only and not hours_open:
        return False
    return url_matches(rule.url_pattern, facts.url)


def without_database(rule: RuleSpec, facts: VisitorFacts) -> bool:
    """The conditions that need no query (page, seconds, source): checked first, so a visitor no rule could fit
    costs no database round trip."""
    return fits(rule, VisitorFacts(facts.url, facts.seconds_on_page, facts.source_kind, facts.campaign,
                                   facts.keyword), hours_open=True)


def pick(rules: Iterable[RuleSpec], facts: VisitorFacts, *, hours_open: bool) -> RuleSpec | None:
    return next((r for r in rules if fits(r, facts, hours_open=hours_open)), None)
