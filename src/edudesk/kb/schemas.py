"""Plain data the knowledge base hands to other areas and to its own edges (no ORM objects leave through these)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EntryInput:
    """What an editor (form, import, CLI) submits for one entry; the service validates every field."""

    question: str
    answer: str
    similar: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    buttons: list[dict[str, Any]] = field(default_factory=list)
    category_id: int | None = None
    enabled: bool = True
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    related_ids: list[int] = field(default_factory=list)
    hot_pinned: bool = False
    hot_position: int = 0


@dataclass(frozen=True)
class EntryCard:
    """What the bot shows when it answers with an entry."""

    entry_id: int
    question: str
    answer: str
    images: tuple[str, ...] = ()
    # Quick replies as stored: {"label": "预约试听", "payload": "我想预约试听课"}.
    buttons: tuple[dict[str, str], ...] = ()
    # Standard questions of the related entries that are active today ("您可能还想问"), in the editor's order.
    related: tuple[str, ...] = ()
    category: str = ""


@dataclass(frozen=True)
class EntryRow:
    """One line of the admin list."""

    id: int
    question: str
    answer: str
    category: str
    similar_count: int
    enabled: bool
    active: bool
    hot_pinned: bool
    ask_count: int
    deleted: bool
    updated_at: dt.datetime
    updated_by: str


@dataclass(frozen=True)
class SearchPage:
    items: list[EntryRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class CategoryNode:
    id: int
    name: str
    parent_id: int | None
    path: str
    depth: int
    position: int
    entry_count: int = 0
