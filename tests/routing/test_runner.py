"""Which events make the in-process dispatcher look at an org's queue."""

from __future__ import annotations

import pytest

from edudesk.conversations import service as conversations_service
from edudesk.db import Database
from edudesk.events import DomainEvent, EventBus
from edudesk.routing import runner
from edudesk.routing import service as routing_service
from tests.conftest import TwoOrgs
from tests.routing.conftest import assignee, queue


@pytest.mark.parametrize(("event_type", "data", "asks"), [
    ("conversation.resolved", {}, True),
    ("conversation.queued", {}, True),
    ("agent.status", {}, True),
    ("conversation.assigned", {"previous_assignee_id": 3}, True),  # a transfer frees the previous agent's seat
    ("conversation.assigned", {}, False),  # the dispatcher's own assignment frees nothing
    ("message.created", {}, False),
])
def test_events_that_free_a_seat(event_type: str, data: dict[str, object], asks: bool) -> None:
    dispatcher = runner.Dispatcher(Database("sqlite://"))
    dispatcher.on_event(DomainEvent(type=event_type, org_id=7, data=data, topics=()))
    assert dispatcher.pending == ({7} if asks else set())


def test_take_over_names_the_agent_it_was_taken_from(database: Database, orgs: TwoOrgs) -> None:
    conv = queue(database, orgs.a.id, "v1", group_id=None)
    with database.session() as session:
        conversations_service.accept(session, orgs.a.users["agent"], conv)
        session.commit()
    bus = EventBus()
    bus.attach(database.sessionmaker)
    got: list[DomainEvent] = []
    bus.subscribe(got.append)
    with database.session() as session:
        routing_service.take_over(session, orgs.a.users["supervisor"], conv)
        session.commit()
    assert assignee(database, conv) == orgs.a.users["supervisor"].id
    [assigned] = [e for e in got if e.type == "conversation.assigned"]
    assert assigned.data["previous_assignee_id"] == orgs.a.users["agent"].id
