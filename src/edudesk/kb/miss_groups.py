"""Grouping unanswered visitor questions so an editor handles "学费多少/学费多少钱？/学费是多少" once.

Pure: texts in, groups of indices out. The default is a character-bigram similarity that needs no model; a better
grouper (the embedding-based ``edudesk.nlp.cluster.group_similar``) can be passed in with the same signature.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Grouper = Callable[[list[str]], list[list[int]]]
DEFAULT_THRESHOLD = 0.4  # short Chinese questions share few bigrams: 暑假班几号开课 ~ 暑假班什么时候开课 is 0.43
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class MissItem:
    id: int
    text: str
    created_at: dt.datetime
    reason: str
    entry_id: int | None = None


@dataclass(frozen=True)
class MissGroup:
    miss_ids: tuple[int, ...]
    count: int
    # The most frequent wording (ties: the most recent); proposed as the standard question of a new entry.
    representative: str
    latest_at: dt.datetime
    # Distinct wordings, most frequent first, for the editor to see what the group holds.
    examples: tuple[str, ...]
    reasons: tuple[tuple[str, int], ...]
    # Entries the bot answered with when visitors down-voted (the likely candidates for "加为相似问"); not the
    # entries staff flagged as wrong answers.
    entry_ids: tuple[int, ...]


def match_key(text: str) -> str:
    """Letters and digits only, NFKC and lower case: punctuation and spaces never separate two questions."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LN")


def bigrams(key: str) -> frozenset[str]:
    if len(key) < 2:
        return frozenset({key})
    return frozenset(key[i:i + 2] for i in range(len(key) - 1))


def bigram_groups(texts: list[str], threshold: float = DEFAULT_THRESHOLD) -> list[list[int]]:
    """Leader clustering on the Dice coefficient of character bigrams.

    Identical keys always share a group. Distinct keys are visited most frequent first; each joins the most
    similar existing leader at or above ``threshold`` or leads a new group. Comparing with leaders only (not with
    every member) keeps a chain of small steps from gluing unrelated questions together, and an inverted index of
    the leaders' bigrams means only leaders that share a bigram are compared.
    """
    by_key: dict[str, list[int]] = {}
    for index, text in enumerate(texts):
        by_key.setdefault(match_key(text), []).append(index)
    keys = sorted(by_key, key=lambda k: (-len(by_key[k]), by_key[k][0]))
    leaders: list[tuple[frozenset[str], list[int]]] = []
    postings: dict[str, list[int]] = {}
    for key in keys:
        grams = bigrams(key)
        shared: Counter[int] = Counter()
        for gram in grams:
            shared.update(postings.get(gram, ()))
        best, best_score = -1, 0.0
        for leader in sorted(shared):  # ties go to the older (bigger) group
            score = 2 * shared[leader] / (len(grams) + len(leaders[leader][0]))
            if score >= threshold and score > best_score:
                best, best_score = leader, score
        if best >= 0:
            leaders[best][1].extend(by_key[key])
            continue
        leaders.append((grams, list(by_key[key])))
        for gram in grams:
            postings.setdefault(gram, []).append(len(leaders) - 1)
    groups = [sorted(members) for _, members in leaders]
    return sorted(groups, key=lambda g: g[0])


def group_indices(texts: list[str], grouper: Grouper | None = None) -> list[list[int]]:
    """Runs the grouper and repairs its output: every index in exactly one group, none invented."""
    raw = (grouper or bigram_groups)(texts) if texts else []
    seen: set[int] = set()
    groups: list[list[int]] = []
    for group in raw:
        members = [i for i in dict.fromkeys(group) if 0 <= i < len(texts) and i not in seen]
        seen.update(members)
        if members:
            groups.append(members)
    groups.extend([i] for i in range(len(texts)) if i not in seen)
    return groups


def summarise(items: Sequence[MissItem], groups: list[list[int]]) -> list[MissGroup]:
    """Groups of misses, the biggest and most recent first."""
    result = []
    for group in groups:
        members = [items[i] for i in group]
        # Wordings are counted by their match key: "能停车吗" and "能停车吗？" are the same wording twice.
        keys = [match_key(m.text) for m in members]
        by_key = Counter(keys)
        latest_of: dict[str, MissItem] = {}
        for key, m in zip(keys, members, strict=True):
            if key not in latest_of or (m.created_at, m.id) > (latest_of[key].created_at, latest_of[key].id):
                latest_of[key] = m
        ranked = sorted(by_key, key=lambda k: (-by_key[k], -latest_of[k].created_at.timestamp(),
                                               -latest_of[k].id))
        reasons = Counter(m.reason for m in members)
        result.append(MissGroup(
            miss_ids=tuple(sorted(m.id for m in members)),
            count=len(members),
            representative=latest_of[ranked[0]].text,
            latest_at=max(m.created_at for m in members),
            examples=tuple(latest_of[n].text for n in ranked[:MAX_EXAMPLES]),
            reasons=tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
            # A flagged miss's entry is the answer staff called wrong: never proposed as where the wording belongs.
            entry_ids=tuple(sorted({m.entry_id for m in members if m.entry_id is not None and m.reason != "flagged"})),
        ))
    return sorted(result, key=lambda g: (-g.count, -g.latest_at.timestamp(), g.miss_ids))
