"""The call robot over the fake phone, on SQLite and PostgreSQL: a whole dialogue (notice, greeting, grade,
interest, a price question answered mid-script, a callback booked at a time), barge-in, no input, the keypad,
别再打了, 转人工, a take-over, and a recogniser that is not configured."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select

from edudesk.conversations.models import Conversation, Message, SenderKind
from edudesk.conversations.states import ConversationState
from edudesk.leads import service as leads_service
from edudesk.leads.models import Lead
from edudesk.voice.engines.base import EngineStatus
from edudesk.voice.models import Call, CallOutcome, CallState, CallTurn, Speaker
from edudesk.voice.robot.intents import TZ
from tests.voice.fakes import HangUp, Press, Say, Silence, WaitForBot, WaitForBotSpeaking
from tests.voice.robot.conftest import NOTICE, PRICE_ANSWER, RobotWorld


def _call(world: RobotWorld, call_id: int) -> tuple[Call, list[CallTurn]]:
    with world.database.session() as session:
        call = session.get(Call, call_id)
        assert call is not None
        turns = list(session.scalars(select(CallTurn).where(CallTurn.call_id == call_id).order_by(CallTurn.seq)))
        session.expunge_all()
        return call, turns


def test_full_dialogue_books_a_callback(world: RobotWorld) -> None:
    call_id, port = world.call(
        [
            WaitForBot(),
            Say("孩子三年级"),
            WaitForBot(),
            Say("试听课多少钱？"),
            WaitForBot(),
            Say("有兴趣"),
            WaitForBot(),
            Say("明天下午三点吧"),
            WaitForBot(),
            Silence(200),
        ]
    )
    world.run(call_id, port)
    call, turns = _call(world, call_id)
    assert call.state == CallState.completed and call.hangup_by == "bot"
    assert call.outcome == CallOutcome.callback
    assert call.callback_at is not None
    local = call.callback_at.astimezone(TZ)
    assert (local.hour, local.minute) == (15, 0)
    assert local.date() > dt.datetime.now(TZ).date()
    assert call.meta["interested"] is True and call.talk_seconds > 0
    speakers = [t.speaker for t in turns]
    texts = [t.text for t in turns]
    assert speakers[0] == Speaker.system and texts[0] == NOTICE
    assert "小安" in texts[1]  # the script's greeting
    customer = [t for t in turns if t.speaker == Speaker.customer]
    assert [t.text for t in customer] == ["孩子三年级", "试听课多少钱？", "有兴趣", "明天下午三点吧"]
    assert all(t.end_ms > t.start_ms for t in turns)
    assert [t.start_ms for t in turns] == sorted(t.start_ms for t in turns)
    # The price question was answered from the knowledge base and the script came back to its question.
    after_price = " ".join(t.text for t in turns[turns.index(customer[1]) + 1 : turns.index(customer[2])])
    assert PRICE_ANSWER in after_price and "有兴趣" in after_price
    assert "明天下午3点" in turns[-1].text and turns[-1].speaker == Speaker.bot
    with world.database.session() as session:
        conv = session.get(Conversation, call.conversation_id)
        assert conv is not None and conv.channel == "phone" and conv.contact_id == world.contact_id
        assert conv.state == ConversationState.closed  # the parent's next chat opens a conversation of its own
        messages = list(session.scalars(select(Message).where(Message.conversation_id == conv.id).order_by(Message.id)))
        visitor = [m.text for m in messages if m.sender == SenderKind.visitor]
        assert visitor == ["孩子三年级", "试听课多少钱？", "有兴趣", "明天下午三点吧"]
        assert any(PRICE_ANSWER in m.text for m in messages if m.sender == SenderKind.bot)
        known = leads_service.known_values(session, world.org_id, world.contact_id)
        assert known["grade"] == "三年级"
        lead = session.scalars(select(Lead).where(Lead.contact_id == world.contact_id)).one()
        assert lead.phone_e164 == "+8613800138000"
        assert any("价" in r or "费" in r for r in lead.score_reasons)  # asking the price is a buying signal


def test_barge_in_clears_our_audio(world: RobotWorld) -> None:
    call_id, port = world.call(
        [
            WaitForBotSpeaking(300),
            Say("喂", ms=120),  # a sound during the notice (too short to be an answer) does not cut it…
            WaitForBot(),
            Say("三年级"),
            WaitForBotSpeaking(400),
            Say("别再给我打电话了"),  # …an answer during a question does
            WaitForBot(),
            Silence(100),
        ],
        recogniser_lines=["三年级", "别再给我打电话了"],
    )
    world.run(call_id, port)
    call, turns = _call(world, call_id)
    assert len(port.timeline.clears) == 1, "only the question after the greeting was cut"
    assert call.meta["barge_ins"] >= 1
    assert any(t.text.endswith("（被打断）") for t in turns)
    assert call.outcome == CallOutcome.refused
    assert call.outcome_reason.startswith("别再打了")
    assert call.hangup_by == "bot" and "不会再给您打电话" in turns[-1].text


def test_no_input_reprompts_once_then_says_goodbye(world: RobotWorld) -> None:
    call_id, port = world.call([])
    world.run(call_id, port)
    call, turns = _call(world, call_id)
    assert call.meta["no_input"] == 2
    bot = [t.text for t in turns if t.speaker == Speaker.bot]
    assert any(t.startswith("喂，您好，能听到吗？") for t in bot)
    assert "听不清楚" in bot[-1]
    assert call.outcome == CallOutcome.connected and call.outcome_reason == "无应答"
    assert call.state == CallState.completed and port.timeline.hangup_reason == "no_input"


def test_keypad_interest_and_refusal(world: RobotWorld) -> None:
    call_id, port = world.call([WaitForBot(), Say("二年级"), WaitForBot(), Press("1"), WaitForBot(), HangUp()])
    world.run(call_id, port)
    call, turns = _call(world, call_id)
    assert call.outcome == CallOutcome.interested and call.hangup_by == "customer"
    assert [t.text for t in turns if t.speaker == Speaker.customer] == ["二年级", "有兴趣"]
    assert "什么时间方便" in [t.text for t in turns if t.speaker == Speaker.bot][-1]

    call_id, port = world.call([WaitForBot(), Press("2"), WaitForBot(), Silence(100)], phone="+8613900139000")
    world.run(call_id, port)
    call, _ = _call(world, call_id)
    assert call.outcome == CallOutcome.refused and call.outcome_reason == "没兴趣"


def test_human_transfer_returns_with_the_call_up(world: RobotWorld) -> None:
    call_id, port = world.call([WaitForBot(), Press("0"), WaitForBot(), Silence(10_000)])
    world.run(call_id, port)
    call, turns = _call(world, call_id)
    assert call.state == CallState.dialing or call.state == CallState.in_progress
    assert call.meta["transfer_requested"] is True
    assert "正在为您转接" in turns[-1].text


def test_takeover_stops_the_robot(world: RobotWorld) -> None:
    call_id, port = world.call([WaitForBot(), Silence(60_000)])

    async def main() -> None:
        from edudesk.voice.live import LiveCall
        from edudesk.voice.models import CallMode
        from edudesk.voice.robot import run_robot_call

        live = LiveCall(
            public_id=port.call_public_id,
            call_id=call_id,
            org_id=world.org_id,
            mode=CallMode.robot,
            port=port,
            sample_rate=port.sample_rate,
        )

        async def take() -> None:
            for _ in range(100_000):  # the robot reads the port meanwhile: media time moves
                if port.now_ms >= 2000:
                    break
                await asyncio.sleep(0)
            live.takeover.set()

        taker = asyncio.create_task(take())
        await asyncio.wait_for(run_robot_call(live, world.services), timeout=30)
        await taker

    asyncio.run(main())
    call, _ = _call(world, call_id)
    assert call.state in (CallState.dialing, CallState.in_progress)  # the agent's now; nothing ended it
    assert port.now_ms < 10_000


def test_recogniser_not_configured_refuses_the_call(world: RobotWorld) -> None:
    class NoAsr:
        name = "none"

        def status(self) -> EngineStatus:
            return EngineStatus("none", False, "未配置语音识别")

        def stream(self, *a: object, **kw: object) -> object:
            raise AssertionError("not used")

    world.services.recogniser = NoAsr()  # type: ignore[assignment]
    call_id, port = world.call([WaitForBot()])
    world.run(call_id, port)
    call, turns = _call(world, call_id)
    assert call.state == CallState.failed and call.outcome == CallOutcome.failed
    assert "未配置语音识别" in call.outcome_reason and turns == []
    assert port.timeline.hangup_reason == "未配置语音识别"


def test_warm_prompts_synthesises_what_every_call_says(world: RobotWorld) -> None:
    from edudesk.voice.robot.warm import warm_prompts

    count = asyncio.run(warm_prompts(world.services, world.org_id, 8000))
    assert count > 10
    assert any(NOTICE.rstrip("。") in s for s in world.synth.said)
    assert any("几年级" in s for s in world.synth.said)  # the script's question


def test_repeat_key_and_a_question_while_waiting_for_the_time(world: RobotWorld) -> None:
    call_id, port = world.call(
        [
            WaitForBot(),
            Press("*"),
            WaitForBot(),
            Say("三年级"),
            WaitForBot(),
            Say("有兴趣"),
            WaitForBot(),
            Say("你们在哪个校区？"),
            WaitForBot(),
            Say("周六上午"),
            WaitForBot(),
            Silence(100),
        ]
    )
    world.run(call_id, port)
    call, turns = _call(world, call_id)
    customer = [t.text for t in turns if t.speaker == Speaker.customer]
    assert customer == ["请再说一遍", "三年级", "有兴趣", "你们在哪个校区？", "周六上午"]
    after_star = turns[[t.text for t in turns].index("请再说一遍") + 1]
    assert after_star.speaker == Speaker.bot and "几年级" in after_star.text  # the question again
    after_question = [t.text for t in turns[[t.text for t in turns].index("你们在哪个校区？") + 1 :]]
    assert any("比如明天下午三点" in t for t in after_question)  # asked for the time again
    assert call.outcome == CallOutcome.callback and call.callback_at is not None
    assert call.callback_at.astimezone(TZ).weekday() == 5
