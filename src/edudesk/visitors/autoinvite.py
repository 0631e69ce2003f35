"""The auto-invite engine: runs on the instance that holds a visitor's widget socket (``visitors.tracker``), on
each of their page views and every couple of seconds (for "seconds on page").

Cheap by construction: an org's rules are cached for ``RULES_TTL`` seconds; the conditions that need no query
(page, seconds, source) are checked first, so a visitor no rule could fit costs nothing; only then are the
database facts read (a conversation with a human, invitations today, business hours). The registry's
``claim_invite`` makes "never twice for the same page view" hold across instances and tabs.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import structlog

from edudesk.db import Database, NotFoundError
from edudesk.hours import service as hours_service
from edudesk.visitors import invitations
from edudesk.visitors.invite_rules import RuleSpec, VisitorFacts, fits, without_database
from edudesk.visitors.live import LiveVisitor, Registry

log = structlog.get_logger(__name__)

RULES_TTL = 10.0


class AutoInviter:
    def __init__(self, db: Database, registry: Registry, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.registry = registry
        self.clock = clock
        self._rules: dict[int, tuple[float, list[RuleSpec]]] = {}
        self.sent = 0

    def rules(self, org_id: int) -> list[RuleSpec]:
        now = time.monotonic()
        cached = self._rules.get(org_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        with self.db.session() as session:
            found = [invitations.spec(r) for r in invitations.list_rules(session, org_id) if r.enabled]
        self._rules[org_id] = (now + RULES_TTL, found)
        return found

    def forget(self, org_id: int) -> None:
        """The rules changed (the admin page saved): read them again on the next check."""
        self._rules.pop(org_id, None)

    def on_views(self, org_id: int, visitors: list[LiveVisitor]) -> None:
        self.check(org_id, visitors)

    def on_timer(self, org_id: int, visitors: list[LiveVisitor]) -> None:
        self.check(org_id, visitors)

    def wants_timer(self, org_id: int) -> bool:
        return any(r.min_seconds > 0 for r in self.rules(org_id))

    def check(self, org_id: int, visitors: list[LiveVisitor]) -> int:
        """Sends at most one invitation per visitor (the first rule that fits); returns how many were sent."""
        rules = self.rules(org_id)
        if not rules:
            return 0
        now = self.clock()
        sent = 0
        for v in visitors:
            if v.contact_id is None or not v.online(now) or v.invited_view == v.view_key:
                continue
            facts = VisitorFacts(v.url, v.seconds_on_page(now), v.source_kind, v.campaign, v.keyword)
            maybe = [r for r in rules if without_database(r, facts)]
            if maybe and self._invite(org_id, v, facts, maybe):
                sent += 1
        self.sent += sent
        return sent

    def _invite(self, org_id: int, v: LiveVisitor, facts: VisitorFacts, maybe: list[RuleSpec]) -> bool:
        assert v.contact_id is not None
        at = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        with self.db.session() as session:
            busy = invitations.with_human(session, org_id, v.contact_id) is not None
            today = invitations.sent_today(session, org_id, v.visitor_key, at)
            hours_open = (hours_service.status(session, org_id, None, at).is_open
                          if any(r.business_hours_only for r in maybe) else True)
            full = VisitorFacts(facts.url, facts.seconds_on_page, facts.source_kind, facts.campaign, facts.keyword,
                                sent_today=today, with_human=busy)
            rule = next((r for r in maybe if fits(r, full, hours_open=hours_open)), None)
            if rule is None:
                return False
            if not self.registry.claim_invite(org_id, v.visitor_key, v.view_key):
                return False  # another tab or instance got this page view first
            try:
                row = invitations.get_rule(session, org_id, rule.id)
            except NotFoundError:  # deleted since the rules were cached
                self.forget(org_id)
                return False
            invitations.send(session, org_id, visitor_key=v.visitor_key, contact_id=v.contact_id, text=row.message,
                             speaker_name=invitations.speaker_name(session, row), view_key=v.view_key,
                             page_url=v.url, agent_id=row.agent_id, group_id=row.group_id, rule_id=row.id, now=at)
            session.commit()
        log.info("auto_invite_sent", org_id=org_id, rule_id=rule.id)
        return True
