"""A robot call against the fake phone: an org with the phone script and a price FAQ, a queued call to a lead,
and the services the media plane would hand the robot (scripted recogniser, an instant tone synthesiser)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from edudesk.audit.service import Actor
from edudesk.bot import scripts
from edudesk.bot import service as bot_service
from edudesk.bot.flows.templates import PHONE_CALL_FLOW
from edudesk.contacts import service as contacts_service
from edudesk.db import Database
from edudesk.kb import service as kb_service
from edudesk.kb.schemas import EntryInput
from edudesk.leads import service as leads_service
from edudesk.nlp.extract import extract
from edudesk.settings import Settings
from edudesk.voice import service as voice_service
from edudesk.voice.engines.base import EngineStatus
from edudesk.voice.engines.scripted import ScriptedRecogniser
from edudesk.voice.live import LiveCall, LiveCalls, VoiceServices
from edudesk.voice.models import CallMode, CallState, VoiceSettings
from edudesk.voice.robot import RobotConfig, run_robot_call
from tests.conftest import TwoOrgs
from tests.voice.fakes import Action, FakePhone

PHONE = "+8613800138000"
NOTICE = "本次通话可能被录音。"
PRICE_ANSWER = "一对一试听课免费，正式课程每课时两百元。"


class ToneSynth:
    """Instant TTS for dialogue tests: 30 ms of tone per character (what was said is checked in the transcript)."""

    name = "tone"

    def __init__(self) -> None:
        self.said: list[str] = []

    def status(self) -> EngineStatus:
        return EngineStatus(self.name, True)

    async def synthesise(self, text: str, sample_rate: int) -> bytes:
        self.said.append(text)
        n = sample_rate * 30 * len(text) // 1000
        return (np.sin(np.arange(n) * 2 * np.pi * 440 / sample_rate) * 3000).astype("<i2").tobytes()


@dataclass
class RobotWorld:
    database: Database
    org_id: int
    contact_id: int
    recogniser: ScriptedRecogniser
    synth: ToneSynth
    services: VoiceServices

    def call(
        self,
        script: list[Action],
        *,
        phone: str = PHONE,
        flow_key: str | None = None,
        recogniser_lines: list[str] | None = None,
    ) -> tuple[int, FakePhone]:
        with self.database.session() as session:
            call = voice_service.place_call(
                session,
                voice_service.CallRequest(
                    org_id=self.org_id, phone_e164=phone, line_id=None, contact_id=self.contact_id, flow_key=flow_key
                ),
            )
            voice_service.set_state(session, call, CallState.dialing)
            session.commit()
            call_id, public_id = call.id, call.public_id
        port = FakePhone(script, call_public_id=public_id)
        self.recogniser.register(public_id, port.lines() if recogniser_lines is None else recogniser_lines)
        return call_id, port

    def run(self, call_id: int, port: FakePhone, before: Callable[[LiveCall], None] | None = None) -> LiveCall:
        live = LiveCall(
            public_id=port.call_public_id,
            call_id=call_id,
            org_id=self.org_id,
            mode=CallMode.robot,
            port=port,
            sample_rate=port.sample_rate,
        )
        if before is not None:
            before(live)
        asyncio.run(asyncio.wait_for(run_robot_call(live, self.services), timeout=60))
        return live


@pytest.fixture
def world(database: Database, orgs: TwoOrgs, settings: Settings) -> RobotWorld:
    org_id = orgs.a.id
    actor = Actor(org_id, label="test")
    with database.session() as session:
        scripts.save_flow(session, actor, json.dumps(PHONE_CALL_FLOW, ensure_ascii=False))
        kb_service.create_entry(
            session,
            actor,
            EntryInput(
                question="试听课多少钱",
                answer=PRICE_ANSWER,
                similar=["价格是多少", "收费标准", "学费多少钱", "怎么收费"],
            ),
        )
        session.add(VoiceSettings(org_id=org_id, robot_notice=NOTICE))
        contact = contacts_service.find_or_create(session, org_id, "phone", PHONE)
        text = "电话13800138000"
        leads_service.capture(
            session,
            contact,
            text,
            extraction=extract(text, use_model=False),
            channel="phone",
            conversation_id=None,
            message_id=None,
        )
        session.commit()
        contact_id = contact.id
    recogniser = ScriptedRecogniser()
    synth = ToneSynth()
    services = VoiceServices(
        db=database,
        settings=settings,
        recogniser=recogniser,
        synthesiser=synth,
        live=LiveCalls(),
        bots=bot_service.make_runtime(database),
        extras={"robot_config": RobotConfig(no_input_ms=3000)},
    )
    return RobotWorld(database, org_id, contact_id, recogniser, synth, services)
