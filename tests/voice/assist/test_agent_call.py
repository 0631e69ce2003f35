"""An agent's call with the assist: both sides become turns, alert rules fire per side and publish ``call.alert``
on the call's topic, the console's audio (agent and barging supervisor) is mixed to the phone and transcribed as
its own speaker, and the call returns on the port's hang-up."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

import pytest
from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.db import Database
from edudesk.events import DomainEvent, EventBus
from edudesk.voice import service as voice_service
from edudesk.voice.assist import alerts, bridge, run_agent_call
from edudesk.voice.assist.agent_call import CALL_ALERT_EVENT
from edudesk.voice.media import Audio, Hangup, Track
from edudesk.voice.models import CallTurn, Speaker
from tests.conftest import TwoOrgs
from tests.voice.assist.fakes import FakePort, live_call, said, services, tone
from tests.voice.assist.seed import call_in_progress


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """In a thread of its own: a test that ran earlier may have left an event loop running in this one."""
    out: list[Any] = []
    runner = threading.Thread(target=lambda: out.append(asyncio.run(coro)))
    runner.start()
    runner.join(30)
    assert out, "the call did not finish"
    return out[0]


@pytest.fixture
def published(database: Database) -> list[DomainEvent]:
    bus = EventBus()
    bus.attach(database.sessionmaker)
    got: list[DomainEvent] = []
    bus.subscribe(got.append)
    return got


def turns(database: Database, call_id: int) -> list[CallTurn]:
    with database.session() as session:
        return list(session.scalars(select(CallTurn).where(CallTurn.call_id == call_id).order_by(CallTurn.seq)))


def test_both_sides_transcribed_with_alerts_per_side(
    database: Database, orgs: TwoOrgs, published: list[DomainEvent]
) -> None:
    call = call_in_progress(database, orgs.a.id, agent_id=orgs.a.users["agent"].id)
    with database.session() as session:  # an agent-side rule: promising a refund is the agent's risk
        alerts.create_rule(
            session,
            Actor(orgs.a.id, label="t"),
            alerts.RuleInput(
                name="承诺", words="保证退费\n百分百", side="agent", severity="warning", suggestion="不要承诺结果"
            ),
        )
        session.commit()
    live = live_call(call.id, orgs.a.id, call.public_id)
    port = live.port
    assert isinstance(port, FakePort)
    port.say("老师你好，我想问一下退费怎么办")
    port.say("可以保证退费，百分百", Track.ours)
    port.say("学费多少钱一期")
    port.say("退费你们说了算吗", Track.ours)  # 退费 is a customer-side rule: the agent saying it raises nothing
    port.send(Audio(Track.phone, tone(3)))  # noise: no text, no turn
    port.send(Hangup("bye"))

    run(run_agent_call(live, services(database)))

    rows = turns(database, call.id)
    assert [(t.speaker, t.text, t.alerts, t.intent) for t in rows] == [
        (Speaker.customer, "老师你好，我想问一下退费怎么办", ["退费"], None),
        (Speaker.agent, "可以保证退费，百分百", ["承诺"], None),
        (Speaker.customer, "学费多少钱一期", ["价格"], "asked_price"),
        (Speaker.agent, "退费你们说了算吗", [], None),
    ]
    topic = voice_service.call_topic(orgs.a.id, call.id)
    fired = [e for e in published if e.type == CALL_ALERT_EVENT]
    assert [e.topics for e in fired] == [(topic,)] * 3
    first = fired[0].data
    assert first["speaker"] == "customer" and first["alerts"][0]["name"] == "退费"
    assert first["alerts"][0]["severity"] == "critical" and "政策" in first["alerts"][0]["suggestion"]
    assert [a["because"] for a in fired[2].data["alerts"]] == ["多少钱"]
    assert sum(e.type == voice_service.CALL_TURN_EVENT for e in published) == 4
    # Org B's rules and calls are untouched: its defaults are seeded on its own first call only.
    with database.session() as session:
        assert alerts.rules_of(session, orgs.b.id) == []


def test_console_audio_is_mixed_to_the_phone_and_barge_in_is_a_supervisor_turn(
    database: Database, orgs: TwoOrgs
) -> None:
    call = call_in_progress(database, orgs.a.id, agent_id=orgs.a.users["agent"].id)
    live = live_call(call.id, orgs.a.id, call.public_id)
    port = live.port
    assert isinstance(port, FakePort)

    async def talk() -> None:
        task = asyncio.create_task(run_agent_call(live, services(database)))
        live.agent_audio.put_nowait(bridge.Sourced(tone(1000, 4), "agent"))
        live.agent_audio.put_nowait(bridge.Sourced(tone(30000, 2), "supervisor"))
        await asyncio.sleep(0.1)
        live.agent_audio.put_nowait(bridge.Sourced(said("我是班长，这周六可以试听"), "supervisor"))
        await asyncio.sleep(0.1)
        port.say("carrier echo of our side", Track.ours)  # ignored once the browser carries the agent
        port.send(Hangup())
        await task

    run(talk())
    assert list(bridge.samples(port.played[0])) == [31000, 31000, 1000, 1000]
    rows = turns(database, call.id)
    assert [(t.speaker, t.text, t.alerts) for t in rows] == [(Speaker.supervisor, "我是班长，这周六可以试听", [])]


def test_rules_match_pure() -> None:
    rules = [
        alerts.Rule(1, "投诉", ("投诉", "ＶＩＰ"), None, alerts.AlertSide.customer, alerts.AlertSeverity.critical, ""),
        alerts.Rule(2, "价格", (), "asked_price", alerts.AlertSide.either, alerts.AlertSeverity.info, ""),
    ]
    assert [f.rule.name for f in alerts.match(rules, Speaker.customer, "我要投诉你们 vip")] == ["投诉"]
    assert alerts.match(rules, Speaker.agent, "我要投诉") == []
    assert alerts.match(rules, Speaker.bot, "投诉") == []
    assert [f.because for f in alerts.match(rules, Speaker.agent, "多少钱", "asked_price")] == ["问价格"]
    assert alerts.intent_of("一节课多少钱") == "asked_price" and alerts.intent_of("你好") is None
    assert alerts.parse_words("学而思，新东方、 猿辅导\n\n学而思;高途") == ["学而思", "新东方", "猿辅导", "高途"]
