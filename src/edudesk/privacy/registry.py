"""The purger registry: every area that holds personal data with a retention period registers what it holds.

A purger obeys one retention kind (``conversations``, ``attachments``, ``recordings``, ``leads``) and deletes one
bounded batch per call. An area may also register a contact-data holder so that a person's export and erasure
cover its rows (the voice area will register both for call recordings and transcripts; it does not exist yet, so
the recordings period is stored and shown but nothing is purged under it). The registry is built by the app
factory and the CLI (``privacy.service.make_registry``), never at import time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Batch:
    """What one purge call removed: rows of its kind, the files to delete, and side counts for the audit log."""

    count: int
    files: list[Path] = field(default_factory=list)
    detail: dict[str, int] = field(default_factory=dict)


class Purger(Protocol):
    kind: str

    def purge_batch(self, session: Session, org_id: int, before: dt.datetime, limit: int) -> Batch:
        """Removes up to ``limit`` items of the org older than ``before``; never commits."""
        ...


class ContactDataHolder(Protocol):
    name: str

    def export(self, session: Session, org_id: int, contact_id: int) -> tuple[Any, list[tuple[str, Path]]]:
        """The person's rows as JSON-able data, and files to add to the zip as (name in zip, path)."""
        ...

    def erase(self, session: Session, org_id: int, contact_id: int, now: dt.datetime) -> Batch:
        """Deletes or anonymises the person's rows; returns the files to delete. Never commits."""
        ...


class PrivacyRegistry:
    def __init__(self, upload_dir: Path, batch_size: int = 200) -> None:
        self.upload_dir = upload_dir
        self.batch_size = batch_size
        self._purgers: list[Purger] = []
        self._holders: dict[str, ContactDataHolder] = {}

    def register_purger(self, purger: Purger) -> None:
        self._purgers.append(purger)

    def register_holder(self, holder: ContactDataHolder) -> None:
        if holder.name in self._holders:
            raise ValueError(f"contact data holder {holder.name!r} registered twice")
        self._holders[holder.name] = holder

    @property
    def purgers(self) -> list[Purger]:
        return list(self._purgers)

    @property
    def holders(self) -> list[ContactDataHolder]:
        return list(self._holders.values())

    def purges(self, kind: str) -> bool:
        """Whether anything registered deletes data under this retention kind (the admin page says so)."""
        return any(p.kind == kind for p in self._purgers)
