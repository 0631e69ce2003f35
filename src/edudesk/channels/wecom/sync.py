"""The ``wecom.sync`` job: pull an inbox's new messages with ``kf/sync_msg`` and hand each to the orchestrator.

A callback only says "there is something new"; the messages are pulled here, in a durable job, so the callback is
answered at once whatever the pull costs and a pull that fails is tried again. WeCom's cursor marks what was
pulled: it is stored in ``inbox.state`` after each page (a message pulled again after a crash is recognised by its
msgid and stored once).

One puller per inbox at a time: two pullers with the same cursor would each pull the same page. The job takes a
lease in ``inbox.state`` under the inbox row's write lock, holds no transaction while WeCom answers, renews the
lease with each page and drops it at the end. A job that finds the lease taken asks the holder for one more round
(``sync_again``: the holder may have pulled just before the new messages arrived) and schedules itself for when
the lease would run out, in case the holder died.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.channels.base import InboxInfo
from edudesk.channels.wecom.api import SyncPage, WeComApi, WeComError
from edudesk.channels.wecom.config import KIND, SYNC_JOB, WeComConfig
from edudesk.channels.wecom.memo import memo_of
from edudesk.channels.wecom.pulled import Puller
from edudesk.context import AppContext
from edudesk.db import NotFoundError, utcnow
from edudesk.inboxes import service as inboxes_service
from edudesk.inboxes.models import Inbox

log = structlog.get_logger(__name__)

LEASE = dt.timedelta(seconds=120)
CHUNK = 100  # messages handled between two renewals of the lease
MAX_PAGES_PER_RUN = 50  # then a fresh job goes on, so one busy account cannot hold a worker for ever
INVALID_SYNC_TOKEN = frozenset({95007})  # the callback's token is older than its 10 minutes: pull without it


def enqueue(session: Session, inbox: Inbox, token: str) -> None:
    jobs.enqueue(session, SYNC_JOB, {"inbox_id": inbox.id, "token": token[:128]}, org_id=inbox.org_id,
                 max_attempts=20)


def locked(session: Session, org_id: int, inbox_id: int) -> Inbox:
    """The inbox row read again under its write lock: SELECT … FOR UPDATE on PostgreSQL; SQLite has no row locks,
    so a no-op UPDATE first takes its database write lock (and this process's write gate), which no other writer
    can take before the commit."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(Inbox).where(Inbox.id == inbox_id, Inbox.org_id == org_id)
                        .values(enabled=Inbox.enabled).execution_options(synchronize_session=False))
    inbox = inboxes_service.get(session, org_id, inbox_id)
    session.refresh(inbox, with_for_update=True)
    return inbox


def _lease_of(inbox: Inbox) -> tuple[str, dt.datetime] | None:
    lease = (inbox.state or {}).get("sync_lease")
    if not isinstance(lease, dict):
        return None
    try:
        return str(lease["owner"]), dt.datetime.fromisoformat(str(lease["until"]))
    except (KeyError, ValueError):
        return None


@dataclass
class SyncJob:
    """The job handler, registered by ``WeComChannel.register_jobs``."""

    ctx: AppContext
    clock: Callable[[], dt.datetime] = utcnow
    lease: dt.timedelta = LEASE

    def __call__(self, session: Session, payload: dict[str, Any]) -> None:
        inbox_id, token = int(payload["inbox_id"]), str(payload.get("token") or "")
        # The org is read from the inbox itself: a job's payload is trusted only for ids.
        org_id = session.scalar(select(Inbox.org_id).where(Inbox.id == inbox_id))
        if org_id is None:
            return
        owner = secrets.token_hex(8)
        try:
            inbox = locked(session, org_id, inbox_id)
        except NotFoundError:
            return  # deleted since: nothing to pull for
        if not inbox.enabled or inbox.kind != KIND:
            session.commit()
            return
        if not self.claim(session, inbox, owner, token, payload):
            return
        try:
            self.pull(session, org_id, inbox_id, owner, token)
        finally:
            session.rollback()
            self.release(session, org_id, inbox_id, owner)

    # --- the lease -----------------------------------------------------------------------------------------------

    def claim(self, session: Session, inbox: Inbox, owner: str, token: str, payload: dict[str, Any]) -> bool:
        now = self.clock()
        held = _lease_of(inbox)
        if held is not None and held[1] > now:
            # Someone is pulling: they pull once more before letting go; this job looks again if they die.
            inboxes_service.set_state(session, inbox, sync_again=True,
                                      sync_token=token or (inbox.state or {}).get("sync_token", ""))
            jobs.enqueue(session, SYNC_JOB, payload, org_id=inbox.org_id, run_at=held[1] + dt.timedelta(seconds=1),
                         max_attempts=20)
            session.commit()
            log.info("wecom_sync_busy", inbox_id=inbox.id)
            return False
        inboxes_service.set_state(session, inbox, sync_lease={"owner": owner, "until": (now + self.lease).isoformat()},
                                  sync_again=False, sync_token="")
        session.commit()
        return True

    def renew(self, session: Session, org_id: int, inbox_id: int, owner: str, **state: Any) -> dict[str, Any] | None:
        """Writes ``state`` and extends the lease if this run still holds it; None when it lost it."""
        inbox = locked(session, org_id, inbox_id)
        held = _lease_of(inbox)
        if held is None or held[0] != owner:
            session.commit()
            log.warning("wecom_sync_lease_lost", inbox_id=inbox_id)
            return None
        until = (self.clock() + self.lease).isoformat()
        inboxes_service.set_state(session, inbox, sync_lease={"owner": owner, "until": until}, **state)
        current = dict(inbox.state or {})
        session.commit()
        return current

    def release(self, session: Session, org_id: int, inbox_id: int, owner: str) -> None:
        try:
            inbox = locked(session, org_id, inbox_id)
        except NotFoundError:
            session.rollback()
            return
        held = _lease_of(inbox)
        if held is not None and held[0] == owner:
            state = dict(inbox.state or {})
            if state.pop("sync_lease", None) and state.get("sync_again"):
                # Announced after this run's last look: pulled by a fresh job now rather than when the waiting
                # job's timer runs out.
                enqueue(session, inbox, str(state.get("sync_token") or ""))
                state.update(sync_again=False, sync_token="")
            inbox.state = state
        session.commit()

    # --- pulling -------------------------------------------------------------------------------------------------

    def pull(self, session: Session, org_id: int, inbox_id: int, owner: str, token: str) -> None:
        inbox = inboxes_service.get(session, org_id, inbox_id)
        services = self.ctx.channels.services
        assert services is not None
        adapter = self.ctx.channels.get(KIND)
        info: InboxInfo = inboxes_service.info_of(inbox, adapter, inboxes_service.secret_box(
            self.ctx.settings.secret_key))
        config = info.config
        assert isinstance(config, WeComConfig)
        api = WeComApi(services, config)
        puller = Puller(self.ctx, inbox, info, config, api, memo_of(services))
        cursor = str((inbox.state or {}).get("cursor") or "")
        session.commit()  # no transaction stays open while WeCom answers
        for _ in range(MAX_PAGES_PER_RUN):
            page = self.fetch(api, cursor, token, inbox_id)
            for start in range(0, len(page.messages), CHUNK):
                if start and self.renew(session, org_id, inbox_id, owner) is None:
                    return  # a long page outlived the lease and another run took over: it goes on from the cursor
                puller.page(session, page.messages[start:start + CHUNK])
            again = page.has_more
            state = self.renew(session, org_id, inbox_id, owner, cursor=page.next_cursor)
            if state is None:
                return
            cursor = page.next_cursor
            if not again and state.get("sync_again"):
                # New messages were announced while this run pulled: one more round, with the newest token.
                token = str(state.get("sync_token") or token)
                if self.renew(session, org_id, inbox_id, owner, sync_again=False, sync_token="") is None:
                    return
                again = True
            if not again:
                return
        log.info("wecom_sync_continues", inbox_id=inbox_id)
        enqueue(session, inboxes_service.get(session, org_id, inbox_id), token)
        session.commit()

    def fetch(self, api: WeComApi, cursor: str, token: str, inbox_id: int) -> SyncPage:
        try:
            return api.sync_msg(cursor, token)
        except WeComError as exc:
            if exc.errcode not in INVALID_SYNC_TOKEN or not token:
                raise
            log.info("wecom_sync_token_expired", inbox_id=inbox_id)
            return api.sync_msg(cursor, "")

