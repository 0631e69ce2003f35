"""The call robot (智能外呼): one answered call, from the notice and greeting to the outcome.

One loop reads the port; everything else hangs off the events it reads:

- **Audio** of the phone side goes to the recogniser and to a VAD. Speech starting while we play is a
  **barge-in**: the port is cleared and we listen. A final recognition is the callee's answer.
- An **answer** is first read for what it means on a call (``intents``: 别再打了, 打错了, 已经报了, 没兴趣, 在忙,
  转人工, a time for a callback); the rest goes through the chat's inbound turn (flow engine, FAQ, extraction)
  and the bot's replies are spoken. A question in the middle of the script is answered and the script resumes
  (the flow host's manners, as in chat).
- **DTMF**: 1 interested, 2 not interested, 0 a person, * say it again.
- **No input**: nothing said for ``no_input_ms`` after we stopped talking → the last prompt again, once; then
  a polite goodbye and the robot hangs up.
- **Transfer** (转人工, or the bot's hand-over rules): 正在为您转接, ``call.meta["transfer_requested"]`` is set and
  the robot returns with the call still up, for the runtime to bridge an agent.
- ``live.takeover`` set (an agent took over): the robot stops at once and returns; the call is the agent's.

Time is media time (ms of the phone side's audio read), so timeouts mean the same on a real line and in a test
that pushes audio as fast as it can.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from edudesk.db import utcnow
from edudesk.voice.engines.base import RecognitionStream
from edudesk.voice.engines.vad import Endpointer, SpeechStart, VadConfig
from edudesk.voice.live import LiveCall, VoiceServices
from edudesk.voice.media import Audio, Dtmf, Hangup, MediaEvent, Played, Track
from edudesk.voice.models import CallOutcome, CallState, Speaker
from edudesk.voice.robot import intents, store
from edudesk.voice.robot.speech import Mouth, Speech
from edudesk.voice.robot.store import CallStart

log = logging.getLogger(__name__)

TRANSFER_TEXT = "好的，正在为您转接人工老师，请稍候。"
ASK_TIME_TEXT = "不好意思打扰您了。您看什么时间方便，我们再给您打过来？"
ASK_TIME_AGAIN_TEXT = "您说个大概的时间就行，比如明天下午三点。"
NO_INPUT_TEXT = "喂，您好，能听到吗？"
GOODBYE = {
    intents.DO_NOT_CALL: "好的，非常抱歉打扰您了，以后不会再给您打电话。再见。",
    intents.WRONG_NUMBER: "不好意思，打扰您了，再见。",
    intents.ENROLLED: "好的，祝孩子学习进步！以后有需要随时联系我们，再见。",
    intents.REFUSED: "好的，不打扰您了，祝您生活愉快，再见。",
    "no_input": "好像听不清楚，那先不打扰您了，稍后老师再联系您，再见。",
    "later": "好的，那老师稍后再联系您，祝您生活愉快，再见。",
    "done": "感谢您的耐心，祝您生活愉快，再见。",
}
CALLBACK_TEXT = "好的，那我们{when}再给您打电话，祝您生活愉快，再见。"
REASONS = {
    intents.DO_NOT_CALL: "别再打了：客户要求不再来电",
    intents.WRONG_NUMBER: "对方说打错了",
    intents.ENROLLED: "已在其他机构报名",
    intents.REFUSED: "没兴趣",
}
ASR_NOT_READY = "未配置语音识别"


@dataclass(frozen=True)
class RobotConfig:
    no_input_ms: int = 7000
    max_call_ms: int = 10 * 60 * 1000
    # How long to wait for the goodbye to be heard before hanging up regardless (a port that never echoes marks).
    goodbye_wait_ms: int = 15_000
    vad: VadConfig = field(default_factory=VadConfig)


def _spoken_time(at: dt.datetime, now: dt.datetime) -> str:
    local, today = at.astimezone(intents.TZ), now.astimezone(intents.TZ).date()
    days = (local.date() - today).days
    day = {0: "今天", 1: "明天", 2: "后天"}.get(days, f"{local.month}月{local.day}日")
    hour = local.hour
    period = "上午" if hour < 12 else ("中午" if hour < 13 else ("下午" if hour < 18 else "晚上"))
    h12 = hour if hour <= 12 else hour - 12
    return f"{day}{period}{h12}点" + (f"{local.minute}分" if local.minute else "")


class RobotCall:
    def __init__(self, live: LiveCall, services: VoiceServices, config: RobotConfig | None = None) -> None:
        self.live = live
        self.services = services
        self.config = config or RobotConfig()
        self.mouth = Mouth(live, services.synthesiser)
        self.vad = Endpointer(live.sample_rate, self.config.vad)
        self.stream: RecognitionStream | None = None
        self.start: CallStart | None = None
        self.now_ms = 0
        self.heard_ms = 0  # the callee's speech, for effective talk time
        self.speech: Speech | None = None
        self.speech_recorded = True
        self.quiet_since: int | None = None  # media ms when we stopped talking and started to wait for an answer
        self.reprompted = False
        self.mode = "flow"  # flow → await_time → closing
        self.time_asks = 0
        self.last_prompt: list[str] = []
        self.seq = 0
        self.found: set[str] = set()
        self.callback_at: dt.datetime | None = None
        self.meta: dict[str, Any] = {"barge_ins": 0, "no_input": 0}
        self.ending: str | None = None  # why we are closing (an intent, "no_input", "done", "callback"…)
        self.speech_started_ms: int | None = None
        self.bargeable = True

    # ---- the loop -------------------------------------------------------------------------------------------
    async def run(self) -> None:
        status = self.services.recogniser.status()
        if not status.ready:
            await asyncio.to_thread(
                store.finish,
                self.services,
                None,
                self.live,
                state=CallState.failed,
                outcome=CallOutcome.failed,
                reason=f"{ASR_NOT_READY}：{status.detail}"[:200],
                hangup_by="bot",
            )
            await self.live.port.hangup(ASR_NOT_READY)
            return
        self.start = await asyncio.to_thread(store.begin, self.services, self.live)
        self.stream = self.services.recogniser.stream(
            self.live.sample_rate, call_public_id=self.live.public_id, track=0, phone_e164=self.start.phone_e164
        )
        opening: list[tuple[Speaker, str]] = []
        if self.start.notice:
            opening.append((Speaker.system, self.start.notice))
        opening += [(Speaker.bot, text) for text in self.start.greeting]
        # The notice and greeting are not cut by a noise or a "喂" (the notice is owed to the callee); a whole
        # answer still stops them.
        self.say(opening, bargeable=False)
        try:
            await self._loop()
        finally:
            if self.speech is not None and self.speech.task is not None:
                self.speech.task.cancel()
            if self.stream is not None:
                # Closes the recogniser's stream (a cloud ASR's connection) off the loop; nothing waits on it, so
                # a take-over returns at once.
                asyncio.get_running_loop().run_in_executor(None, self.stream.finish)

    async def _loop(self) -> None:
        port = self.live.port
        while True:
            # A carrier sends audio every 20-100 ms, so the take-over flag is seen within a frame; racing each
            # receive against it (a task and a wait per frame) cost more than the rest of the frame's work.
            if self.live.takeover.is_set():
                await self._record_speech()
                return
            try:
                event: MediaEvent = await port.receive()
            except EOFError:
                await self._end(hangup_by="network")
                return
            if self.live.takeover.is_set():
                await self._record_speech()
                return
            if isinstance(event, Hangup):
                await self._end(hangup_by=event.by or "customer")
                return
            if await self._on(event):
                return

    async def _on(self, event: MediaEvent) -> bool:
        if isinstance(event, Played):
            if self.speech is not None:
                self.speech.played(event.name)
        elif isinstance(event, Dtmf):
            intent = intents.DTMF_INTENTS.get(event.digit)
            if intent is not None:
                return await self._answer(
                    intents.INTENT_WORDS[intent], intent, None, self.now_ms, self.now_ms, keyed=True
                )
        elif isinstance(event, Audio) and event.track == Track.phone:
            return await self._audio(event.pcm)
        return await self._tick()

    async def _audio(self, pcm: bytes) -> bool:
        self.live.heard(Track.phone, pcm)
        self.now_ms += len(pcm) * 1000 // (2 * self.live.sample_rate)
        for vad_event in self.vad.feed(pcm):
            if isinstance(vad_event, SpeechStart) and self._speaking() and self.bargeable:
                await self._barge_in()
        if self.vad.in_speech:
            self.heard_ms += len(pcm) * 1000 // (2 * self.live.sample_rate)
            self.quiet_since = None
        assert self.stream is not None
        for result in self.stream.accept(pcm):
            text = result.text.strip()
            if not result.final or not text:
                continue
            if await self._answer(text, intents.classify(text), result.confidence, result.start_ms, result.end_ms):
                return True
        return await self._tick()

    async def _tick(self) -> bool:
        """Timers: the reply heard → start waiting; closing → hang up once the goodbye is heard; no input."""
        if self.speech is not None and self.speech.heard and not self.speech_recorded:
            await self._record_speech()
            if self.mode == "closing":
                await self._hang_up()
                return True
            if self.mode == "transfer":
                return True
            self.quiet_since = self.now_ms
        if (
            self.mode == "closing"
            and self.speech is not None
            and self.speech_started_ms is not None
            and self.now_ms - self.speech_started_ms > self.config.goodbye_wait_ms
        ):
            await self._hang_up()
            return True
        if self.now_ms > self.config.max_call_ms and self.mode != "closing":
            self._close("done")
            return False
        if (
            self.quiet_since is not None
            and not self.vad.in_speech
            and self.now_ms - self.quiet_since >= self.config.no_input_ms
        ):
            self.quiet_since = None
            self.meta["no_input"] += 1
            if self.reprompted:
                self._close("no_input")
            else:
                self.reprompted = True
                self.say([(Speaker.bot, NO_INPUT_TEXT + "".join(self.last_prompt[-1:]))], prompt=False)
        return False

    # ---- speaking -------------------------------------------------------------------------------------------

    def _speaking(self) -> bool:
        return self.speech is not None and not self.speech.heard

    def say(self, lines: list[tuple[Speaker, str]], *, prompt: bool = True, bargeable: bool = True) -> None:
        self.speech = self.mouth.say(lines, self.now_ms)
        self.bargeable = bargeable
        self.speech_recorded = False
        self.speech_started_ms = self.now_ms
        self.quiet_since = None
        if prompt and lines:
            self.last_prompt = [t for s, t in lines if s == Speaker.bot][-1:] or self.last_prompt

    async def _barge_in(self) -> None:
        assert self.speech is not None
        if self.mode == "closing" or self.mode == "transfer":
            return  # a goodbye is said to the end
        self.speech.cut()
        self.meta["barge_ins"] += 1
        await self.live.port.clear()
        await self._record_speech()

    async def _record_speech(self) -> None:
        if self.speech is None or self.speech_recorded or self.start is None:
            return
        self.speech_recorded = True
        said = [
            (u.speaker, u.text + ("（被打断）" if u.cut else ""), u.start_ms, u.start_ms + u.duration_ms)
            for u in self.speech.utterances
        ]
        if said:
            await asyncio.to_thread(store.bot_turns, self.services, self.start, said)

    # ---- answers --------------------------------------------------------------------------------------------
    async def _answer(
        self,
        text: str,
        intent: str | None,
        confidence: float | None,
        start_ms: int,
        end_ms: int,
        *,
        keyed: bool = False,
    ) -> bool:
        assert self.start is not None
        if self.mode in ("closing", "transfer"):
            return False
        self.seq += 1
        self.quiet_since = None
        self.reprompted = False
        if self._speaking():
            await self._barge_in()
        else:
            await self._record_speech()
        when = intents.callback_time(text, utcnow()) if not keyed else None
        if intent in intents.TERMINAL:
            self.found.add(intent)
            return await self._settle(text, intent, confidence, start_ms, end_ms, GOODBYE[intent], close=intent)
        if intent == intents.HUMAN:
            return await self._settle(text, intent, confidence, start_ms, end_ms, TRANSFER_TEXT, transfer=True)
        if intent == intents.REPEAT:
            again = "".join(self.last_prompt) or "不好意思，刚才没听清，您能再说一遍吗？"
            return await self._settle(text, intent, confidence, start_ms, end_ms, again, repeat=True)
        if when is not None and (self.mode == "await_time" or intent == intents.BUSY or self.found & {"interested"}):
            self.callback_at = when
            reply = CALLBACK_TEXT.format(when=_spoken_time(when, utcnow()))
            return await self._settle(text, intent or "callback", confidence, start_ms, end_ms, reply, close="callback")
        if intent == intents.BUSY:
            self.found.add(intents.BUSY)
            self.mode = "await_time"
            return await self._settle(text, intent, confidence, start_ms, end_ms, ASK_TIME_TEXT)
        if self.mode == "await_time" and not intents.looks_like_question(text):
            self.time_asks += 1
            if self.time_asks >= 2:
                return await self._settle(text, intent, confidence, start_ms, end_ms, GOODBYE["later"], close="later")
            return await self._settle(text, intent, confidence, start_ms, end_ms, ASK_TIME_AGAIN_TEXT)
        if intent == intents.INTERESTED:
            self.found.add(intents.INTERESTED)
        payload = (
            intents.INTENT_WORDS[intent]
            if (intent == intents.INTERESTED and keyed)
            or (intent == intents.INTERESTED and not intents.looks_like_question(text))
            else None
        )
        result = await asyncio.to_thread(
            store.customer_turn,
            self.services,
            self.start,
            text,
            payload=payload,
            seq=self.seq,
            start_ms=start_ms,
            end_ms=end_ms,
            confidence=confidence,
            intent=intent,
        )
        if result.transfer:
            self.mode = "transfer"
            self.say([(Speaker.bot, TRANSFER_TEXT)])
            await asyncio.to_thread(store.mark_transfer, self.services, self.start, self.meta)
            return False
        lines = [(Speaker.bot, t) for t in result.replies]
        if result.flow_ended:
            if result.ends_with_question:
                self.mode = "await_time"  # the script's last line asks when to call back
            else:
                self.ending = "done"
                self.mode = "closing"
        if self.mode == "await_time" and not result.flow_ended:
            # A question while we wait for a time (价格?): answered, then the time is asked for again.
            lines.append((Speaker.bot, ASK_TIME_AGAIN_TEXT if result.replies else ASK_TIME_TEXT))
        self.say(lines or [(Speaker.bot, "不好意思，刚才没听清，您能再说一遍吗？")])
        return False

    async def _settle(
        self,
        text: str,
        intent: str | None,
        confidence: float | None,
        start_ms: int,
        end_ms: int,
        reply: str,
        *,
        close: str | None = None,
        transfer: bool = False,
        repeat: bool = False,
    ) -> bool:
        assert self.start is not None
        await asyncio.to_thread(
            store.settled_turn,
            self.services,
            self.start,
            text,
            reply,
            seq=self.seq,
            start_ms=start_ms,
            end_ms=end_ms,
            confidence=confidence,
            intent=intent,
        )
        if transfer:
            self.mode = "transfer"
            self.say([(Speaker.bot, reply)])
            await asyncio.to_thread(store.mark_transfer, self.services, self.start, self.meta)
            return False
        if close is not None:
            self.ending = close
            self.mode = "closing"
        self.say([(Speaker.bot, reply)], prompt=close is None and not repeat)
        return False

    def _close(self, why: str) -> None:
        self.ending = why
        self.mode = "closing"
        self.say([(Speaker.bot, GOODBYE[why])], prompt=False)

    # ---- the end --------------------------------------------------------------------------------------------
    def _outcome(self) -> tuple[CallOutcome, str]:
        for intent in (intents.DO_NOT_CALL, intents.WRONG_NUMBER, intents.ENROLLED, intents.REFUSED):
            if intent in self.found:
                outcome = {
                    intents.WRONG_NUMBER: CallOutcome.wrong_number,
                    intents.ENROLLED: CallOutcome.already_enrolled,
                }.get(intent, CallOutcome.refused)
                return outcome, REASONS[intent]
        if self.callback_at is not None:
            return CallOutcome.callback, "预约回电"
        if intents.BUSY in self.found:
            return CallOutcome.callback, "客户在忙，改时间再联系"
        if intents.INTERESTED in self.found:
            return CallOutcome.interested, "有兴趣"
        if self.ending == "no_input":
            return CallOutcome.connected, "无应答"
        return CallOutcome.connected, ""

    async def _hang_up(self) -> None:
        await self._end(hangup_by="bot")
        await self.live.port.hangup(self.ending or "")

    async def _end(self, *, hangup_by: str) -> None:
        await self._record_speech()
        if self.mode == "transfer":
            return  # the runtime bridges an agent (or ends the call when the callee hung up before)
        outcome, reason = self._outcome()
        self.meta["interested"] = intents.INTERESTED in self.found
        await asyncio.to_thread(
            store.finish,
            self.services,
            self.start,
            self.live,
            state=CallState.completed,
            outcome=outcome,
            reason=reason,
            hangup_by=hangup_by,
            callback_at=self.callback_at,
            meta=self.meta,
            talk_seconds=(self.heard_ms + self.mouth.played_ms) / 1000,
        )


async def run_robot_call(live: LiveCall, services: VoiceServices) -> None:
    """The media plane's entry point for a robot call (docs/voice.md). Returns when the call has ended (hung up
    by either side; the outcome is stored), when the callee asked for a person (``meta.transfer_requested``; the
    call is still up for the runtime to bridge an agent), or at once when ``live.takeover`` is set."""
    config = services.extras.get("robot_config")
    await RobotCall(live, services, config if isinstance(config, RobotConfig) else None).run()
