"""The live wall: agents now (effective status, chats, load) and the visitors waiting now, longest wait first."""

from __future__ import annotations

import datetime as dt

from edudesk.analytics import service
from edudesk.auth.models import User
from edudesk.contacts.models import Contact
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState as S
from edudesk.db import Database, utcnow
from edudesk.routing import presence
from tests.analytics.seed import Seeded


def test_live_wall(database: Database, seeded: Seeded) -> None:
    now = utcnow()
    with database.session() as session:
        agent = session.get(User, seeded.agent_id)
        assert agent is not None
        presence.connected(session, agent)  # 王老师's console is open: online (李老师's is not)
        for minutes in (3, 9):
            contact = Contact(org_id=seeded.org_id)
            session.add(contact)
            session.flush()
            session.add(Conversation(org_id=seeded.org_id, contact_id=contact.id, channel="wechat", state=S.queued,
                                     queued_at=now - dt.timedelta(minutes=minutes), group_id=seeded.group_id))
        session.commit()
        wall = service.live_wall(session, seeded.org_id, now=now)
    figures = {f.key: f.value for f in wall.figures}
    assert figures == {"online": 1, "busy": 0, "away": 0, "chats": 1, "waiting": 2, "longest_wait": 540}
    agents = {r.cells["agent"]: r.cells for r in wall.agents.rows}
    assert agents["王老师"]["status"] == "在线" and agents["王老师"]["chats"] == 0
    # 李老师 is offline but still serving c4: listed, with the load of her two seats.
    assert agents["李老师"]["status"] == "离线" and agents["李老师"]["chats"] == 1 and agents["李老师"]["load"] == 0.5
    assert [r.cells["waited"] for r in wall.queue.rows] == [540, 180]
    assert all(r.href and r.href.startswith("/console/c/") for r in wall.queue.rows)
    assert {r.cells["group"] for r in wall.queue.rows} == {"小学数学"}
