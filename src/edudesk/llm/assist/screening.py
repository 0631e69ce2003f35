"""Which generated similar questions an entry may gain: the duplicate rules, pure (no session), shared by the
admin's "AI 生成相似问" (``kbgrowth.screen``) and ``edudesk eval kb-growth``, so the measurement drops exactly
what the admin page drops."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from edudesk.kb.miss_groups import match_key
from edudesk.kb.text import normalise


@dataclass(frozen=True)
class Candidate:
    text: str
    reason: str | None = None  # why it was dropped; None: the admin may accept it


@dataclass(frozen=True)
class Owner:
    entry_id: int
    question: str
    as_question: bool


def screen(
    own: Iterable[str], texts: Iterable[str], exact_owners: Mapping[str, Owner], other_keys: Mapping[str, Owner]
) -> list[Candidate]:
    """Each candidate once with the reason it is dropped, or None.

    ``own``: the entry's wordings; ``exact_owners``: another entry owning a text, by ``normalise``d text (what the
    KB itself refuses); ``other_keys``: another entry owning a wording by ``match_key`` (letters and digits only:
    the matcher ignores punctuation and spaces, so such a wording would compete with that entry)."""
    own_list = list(own)
    own_exact = {normalise(t) for t in own_list}
    own_keys = {match_key(t) for t in own_list}
    seen: set[str] = set()
    result = []
    for text in texts:
        norm, key = normalise(text), match_key(text)
        owner = exact_owners.get(norm)
        other = other_keys.get(key)
        if not key:
            reason: str | None = "没有文字内容"
        elif norm in own_exact:
            reason = "本词条已有这个问法"
        elif key in own_keys:
            reason = "和本词条已有的问法只差标点或空格"
        elif owner is not None:
            reason = f"已是词条 #{owner.entry_id}“{owner.question}”的{'标准问' if owner.as_question else '相似问'}"
        elif other is not None:
            reason = f"和词条 #{other.entry_id}“{other.question}”的问法重复（只差标点或空格）"
        elif key in seen:
            reason = "和前面的候选重复"
        else:
            reason = None
        seen.add(key)
        result.append(Candidate(text, reason))
    return result
