"""Trail rows for tests of the areas that read the trail (profiles, live visitors, the console), written directly
so those tests do not depend on the beacon path."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.db import Database
from edudesk.visitors import service as visitors_service
from edudesk.visitors.models import PageView, Visit


def add_visit(session: Session, org_id: int, *, visitor_key: str | None = None, contact_id: int | None = None,
              pages: Sequence[str | tuple[str, str]] = ("https://school.example/",),
              started_at: dt.datetime | None = None, seconds_per_page: int = 30, source: dict[str, Any] | None = None,
              source_kind: str = "direct", referrer: str = "", is_bot: bool = False, **columns: Any) -> Visit:
    """A visit with one page view per entry of ``pages`` (a URL, or a (URL, title) pair), 30 s apart. ``columns``
    sets any other Visit column (device, province, campaign, …). Flushed, not committed."""
    start = started_at or dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_per_page * len(pages))
    urls = [p if isinstance(p, tuple) else (p, "") for p in pages]
    visit = Visit(org_id=org_id, visitor_key=visitor_key or "v_" + secrets.token_urlsafe(8), contact_id=contact_id,
                  started_at=start, last_seen_at=start + dt.timedelta(seconds=seconds_per_page * max(len(urls) - 1, 0)),
                  page_views=len(urls), landing_url=urls[0][0] if urls else "", referrer=referrer,
                  current_url=urls[-1][0] if urls else "", current_title=urls[-1][1] if urls else "",
                  source=dict(source or {}), source_kind=source_kind, is_bot=is_bot, **columns)
    session.add(visit)
    session.flush()
    for i, (url, title) in enumerate(urls):
        session.add(PageView(org_id=org_id, visit_id=visit.id, view_key=f"pv{i}_{secrets.token_hex(4)}", url=url,
                             title=title, referrer=referrer if i == 0 else urls[i - 1][0],
                             viewed_at=start + dt.timedelta(seconds=seconds_per_page * i),
                             seconds=seconds_per_page if i < len(urls) - 1 else None))
    session.flush()
    return visit


def run_classify_jobs(database: Database) -> int:
    """Runs the queued classification jobs now (their debounce skipped); returns how many ran."""
    registry = jobs.JobRegistry()
    visitors_service.register_jobs(registry)
    with database.session() as session:
        session.execute(update(jobs.Job).where(jobs.Job.kind == visitors_service.CLASSIFY_JOB)
                        .values(run_at=jobs.utcnow() - dt.timedelta(seconds=1)))
        session.commit()
    return jobs.Worker(database, registry, worker_id="t").run_pending()
