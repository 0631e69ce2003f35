"""The media plane: claims queued calls, dials them through their line's adapter, and carries answered calls.

Runs in ``edudesk serve`` (``EDUDESK_VOICE_MEDIA=true``) or alone in ``edudesk voice``. Several processes may run
it on one database (docs/voice.md, "Media plane and telephony"):

- a queued call is taken by one conditional UPDATE (``state`` queued → dialing, ``claimed_by`` this process,
  ``lease_until``) that also counts the line's calls in progress, so two processes never dial the same call and a
  line never carries more than ``max_concurrent`` calls (PostgreSQL: the line's row is locked for the claim;
  SQLite: the single writer does it);
- the process renews the lease of every call it carries; a call whose process died is ended as failed once its
  lease has run out, and the campaign's ``voice.call_ended`` job retries its target;
- a call still queued past its ``not_after`` (the end of its call window) is canceled, never dialled.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import structlog
from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from edudesk.db import utcnow
from edudesk.secretbox import SecretBox
from edudesk.voice import recordings as voice_recordings
from edudesk.voice import service as voice_service
from edudesk.voice.audio import SpeechMeter
from edudesk.voice.live import LiveCall, VoiceServices
from edudesk.voice.media import Audio, Hangup, MediaEvent, MediaPort, Track
from edudesk.voice.models import Call, CallMode, CallOutcome, CallState, LineKind, VoiceLine, VoiceSettings
from edudesk.voice.recording import Recorder
from edudesk.voice.telephony.base import DialFailed, OriginateRequest, TelephonyAdapter
from edudesk.voice.telephony.lines import decrypt_config

log = structlog.get_logger(__name__)

Talker = Callable[[LiveCall, VoiceServices], Awaitable[None]]
CARRYING_STATES = (CallState.dialing, CallState.ringing, CallState.in_progress)
EXPIRED_REASON = "超出外呼时段"
LOST_REASON = "媒体进程失联"
DIAL_FAILED_STATES = {
    "no_answer": (CallState.no_answer, CallOutcome.no_answer),
    "busy": (CallState.busy, CallOutcome.busy),
    "failed": (CallState.failed, CallOutcome.failed),
}


class CallRefused(Exception):
    """A media stream for a call this process does not carry (unknown, ended, or claimed elsewhere)."""


@dataclass(frozen=True)
class Claimed:
    call_id: int
    public_id: str
    org_id: int
    line_id: int
    kind: LineKind
    to_e164: str
    caller_number: str
    config: BaseModel


class TeePort:
    """The adapter's port as the talkers see it: every chunk heard or played reaches the call's taps, and the
    hang-up is remembered (who hung up ends up on the call)."""

    def __init__(self, port: MediaPort, heard: Callable[[Track, bytes], None]) -> None:
        self.inner = port
        self.sample_rate = port.sample_rate
        self.call_public_id = port.call_public_id
        self._heard = heard
        self.hangup_event: Hangup | None = None
        self.we_hung_up = False

    async def receive(self) -> MediaEvent:
        event = await self.inner.receive()
        if isinstance(event, Audio):
            self._heard(event.track, event.pcm)
        elif isinstance(event, Hangup) and self.hangup_event is None:
            self.hangup_event = event
        return event

    async def play(self, pcm: bytes) -> None:
        self._heard(Track.ours, pcm)
        await self.inner.play(pcm)

    async def mark(self, name: str) -> None:
        await self.inner.mark(name)

    async def clear(self) -> None:
        await self.inner.clear()

    async def hangup(self, reason: str = "") -> None:
        self.we_hung_up = True
        await self.inner.hangup(reason)


class MediaPlane:
    def __init__(
        self,
        services: VoiceServices,
        adapters: Mapping[LineKind, TelephonyAdapter],
        *,
        instance_id: str,
        box: SecretBox,
        robot: Talker,
        agent: Talker,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        ring_timeout_seconds: int = 30,
        batch: int = 20,
    ) -> None:
        self.services = services
        self.adapters = dict(adapters)
        self.id = f"voice-{instance_id}"[:64]
        self.box = box
        self.talkers: dict[CallMode, Talker] = {CallMode.robot: robot, CallMode.agent: agent}
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.ring_timeout_seconds = ring_timeout_seconds
        self.batch = batch
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[Any]] = []
        self._stopping = False
        self._live: dict[str, LiveCall] = {}

    # ---- lifecycle ----

    async def start(self) -> None:
        for adapter in self.adapters.values():
            await adapter.start(self.carry, self.services)
        self._loops = [asyncio.create_task(self._claim_loop()), asyncio.create_task(self._renew_loop())]
        log.info("voice_media_started", plane=self.id, kinds=sorted(k.value for k in self.adapters))

    async def stop(self) -> None:
        self._stopping = True
        for task in self._loops:
            task.cancel()
        for live in list(self._live.values()):
            with contextlib.suppress(Exception):
                await live.port.hangup("shutdown")
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        for task in list(self._tasks):
            task.cancel()
        for adapter in self.adapters.values():
            with contextlib.suppress(Exception):
                await adapter.stop()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _claim_loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database restarting: try again next round
                log.error("voice_claim_failed", plane=self.id, error=f"{type(exc).__name__}: {exc}"[:300])
            await asyncio.sleep(self.poll_seconds)

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                await anyio.to_thread.run_sync(self.renew)
            except Exception as exc:
                log.error("voice_lease_renewal_failed", plane=self.id, error=f"{type(exc).__name__}: {exc}"[:300])

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def run_once(self) -> list[Claimed]:
        """One round: cancel expired calls, recover lost ones, claim and start dialling what this process can."""
        if self._stopping:
            return []
        claimed = await anyio.to_thread.run_sync(self.claim)
        for call in claimed:
            self._spawn(self.dial(call))
        return claimed

    # ---- the database side (run in a thread) ----

    def claim(self) -> list[Claimed]:
        with self.services.db.session() as session:
            self.cancel_expired(session)
            self.recover_lost(session)
            return self._claim_queued(session)

    def cancel_expired(self, session: Session) -> int:
        now = utcnow()
        ids = session.scalars(
            select(Call.id)
            .where(Call.state == CallState.queued, Call.claimed_by.is_(None), Call.not_after < now)
            .limit(200)
        ).all()
        done = 0
        for call_id in ids:
            if self._take(session, call_id, Call.state == CallState.queued, Call.claimed_by.is_(None)):
                call = session.get(Call, call_id)
                assert call is not None
                session.refresh(call)
                voice_service.end_call(session, call, CallState.canceled, outcome=None, reason=EXPIRED_REASON)
                done += 1
        session.commit()
        if done:
            log.info("voice_calls_expired", plane=self.id, count=done)
        return done

    def recover_lost(self, session: Session) -> int:
        """Calls whose carrying process stopped renewing: ended as failed (their target is retried)."""
        now = utcnow()
        rows = session.execute(
            select(Call.id, Call.lease_until).where(Call.state.in_(CARRYING_STATES), Call.lease_until < now).limit(200)
        ).all()
        done = 0
        for call_id, lease_until in rows:
            if self._take(session, call_id, Call.lease_until == lease_until):
                call = session.get(Call, call_id)
                assert call is not None
                session.refresh(call)
                call.error = LOST_REASON
                voice_service.end_call(
                    session, call, CallState.failed, outcome=CallOutcome.failed, reason=LOST_REASON, hangup_by="network"
                )
                done += 1
        session.commit()
        if done:
            log.warning("voice_calls_recovered", plane=self.id, count=done)
        return done

    def _take(self, session: Session, call_id: int, *conditions: Any) -> bool:
        result = session.execute(
            update(Call)
            .where(Call.id == call_id, *conditions)
            .values(claimed_by=self.id, lease_until=utcnow() + self.lease)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    def _claim_queued(self, session: Session) -> list[Claimed]:
        lines = session.scalars(
            select(VoiceLine).where(VoiceLine.enabled.is_(True), VoiceLine.kind.in_(list(self.adapters)))
        ).all()
        out: list[Claimed] = []
        for line in lines:
            out.extend(self._claim_line(session, line))
        return out

    def _claim_line(self, session: Session, line: VoiceLine) -> list[Claimed]:
        now = utcnow()
        candidates = session.scalars(
            select(Call.id)
            .where(
                Call.line_id == line.id,
                Call.state == CallState.queued,
                Call.claimed_by.is_(None),
                (Call.not_after.is_(None)) | (Call.not_after >= now),
            )
            .order_by(Call.queued_at, Call.id)
            .limit(min(self.batch, max(line.max_concurrent, 0)))
        ).all()
        if not candidates:
            return []
        # PostgreSQL: claims of one line take turns, so the count below is never read by two at once.
        session.execute(select(VoiceLine.id).where(VoiceLine.id == line.id).with_for_update())
        carrying = (
            select(func.count(Call.id))
            .where(Call.line_id == line.id, Call.state.in_(CARRYING_STATES))
            .scalar_subquery()
        )
        taken: list[int] = []
        for call_id in candidates:
            result = session.execute(
                update(Call)
                .where(
                    Call.id == call_id,
                    Call.state == CallState.queued,
                    Call.claimed_by.is_(None),
                    carrying < line.max_concurrent,
                )
                .values(state=CallState.dialing, claimed_by=self.id, lease_until=now + self.lease, dialed_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) == 1:
                taken.append(call_id)
        out: list[Claimed] = []
        for call_id in taken:
            call = session.get(Call, call_id)
            assert call is not None
            session.refresh(call)
            try:
                config = decrypt_config(self.box, line.kind, line.config_encrypted)
            except Exception as exc:
                log.error("voice_line_config_unreadable", line_id=line.id, error=type(exc).__name__)
                call.error = "线路配置无法读取"
                voice_service.end_call(
                    session,
                    call,
                    CallState.failed,
                    outcome=CallOutcome.failed,
                    reason="线路配置无法读取",
                    hangup_by="network",
                )
                continue
            voice_service.set_state(session, call, CallState.dialing)
            out.append(
                Claimed(
                    call.id,
                    call.public_id,
                    call.org_id,
                    line.id,
                    line.kind,
                    call.phone_e164,
                    call.caller_number,
                    config,
                )
            )
        session.commit()
        return out

    def renew(self) -> int:
        with self.services.db.session() as session:
            result = session.execute(
                update(Call)
                .where(Call.claimed_by == self.id, Call.state.in_(CARRYING_STATES))
                .values(lease_until=utcnow() + self.lease)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            return int(getattr(result, "rowcount", 0))

    # ---- dialling and carrying ----

    async def dial(self, call: Claimed) -> None:
        adapter = self.adapters[call.kind]
        request = OriginateRequest(
            call_public_id=call.public_id,
            org_id=call.org_id,
            line_id=call.line_id,
            to_e164=call.to_e164,
            from_number=call.caller_number,
            config=call.config,
            ring_timeout_seconds=self.ring_timeout_seconds,
        )
        try:
            await adapter.originate(request)
        except DialFailed as exc:
            log.info("voice_dial_failed", call=call.public_id, state=exc.state, detail=exc.detail[:200])
            await anyio.to_thread.run_sync(self._end_unanswered, call.call_id, exc.state, exc.detail)
        except Exception as exc:
            log.error("voice_dial_error", call=call.public_id, error=f"{type(exc).__name__}: {exc}"[:300])
            await anyio.to_thread.run_sync(self._end_unanswered, call.call_id, "failed", type(exc).__name__)

    def _end_unanswered(self, call_id: int, state: str, detail: str) -> None:
        call_state, outcome = DIAL_FAILED_STATES.get(state, DIAL_FAILED_STATES["failed"])
        with self.services.db.session() as session:
            call = session.get(Call, call_id)
            if call is None:
                return
            if call_state == CallState.failed:
                call.error = detail[:300]
            voice_service.end_call(session, call, call_state, outcome=outcome, reason=detail[:200], hangup_by="network")
            session.commit()

    def _answer(self, public_id: str) -> tuple[int, int, CallMode, bool]:
        with self.services.db.session() as session:
            call = voice_service.call_by_public_id(session, public_id)
            if call is None or call.state not in CARRYING_STATES or call.claimed_by != self.id:
                raise CallRefused("unknown or ended call")
            voice_service.set_state(session, call, CallState.in_progress)
            settings = session.scalar(select(VoiceSettings).where(VoiceSettings.org_id == call.org_id))
            record = settings.record_calls if settings is not None else True
            session.commit()
            return call.id, call.org_id, call.mode, record

    def check(self, public_id: str) -> None:
        """CallRefused unless this process is dialling or carrying the call (adapters ask before taking media)."""
        with self.services.db.session() as session:
            call = voice_service.call_by_public_id(session, public_id)
            if call is None or call.state not in CARRYING_STATES or call.claimed_by != self.id:
                raise CallRefused("unknown or ended call")

    async def carry(self, port: MediaPort) -> None:
        """The adapters' handler: one answered call, from answer to end. Raises CallRefused before anything is
        stored when the call is not this process's to carry."""
        call_id, org_id, mode, record = await anyio.to_thread.run_sync(self._answer, port.call_public_id)
        meters = {Track.phone: SpeechMeter(port.sample_rate), Track.ours: SpeechMeter(port.sample_rate)}
        recorder = Recorder(port.sample_rate) if record else None
        live: LiveCall | None = None

        def heard(track: Track, pcm: bytes) -> None:
            if live is not None:
                live.heard(track, pcm)

        tee = TeePort(port, heard)
        live = LiveCall(
            public_id=port.call_public_id,
            call_id=call_id,
            org_id=org_id,
            mode=mode,
            port=tee,
            sample_rate=port.sample_rate,
        )
        live.taps.append(lambda track, pcm: meters[track].feed(pcm))
        if recorder is not None:
            live.taps.append(recorder)
        self.services.live.register(live)
        self._live[live.public_id] = live
        error = ""
        try:
            await self.talkers[mode](live, self.services)
            if mode == CallMode.robot and (live.takeover.is_set() or await self._transfer_requested(call_id)):
                await self.talkers[CallMode.agent](live, self.services)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            log.error("voice_talker_failed", call=port.call_public_id, error=error)
        finally:
            self.services.live.unregister(port.call_public_id)
            self._live.pop(port.call_public_id, None)
            talk = meters[Track.phone].seconds + meters[Track.ours].seconds
            if tee.hangup_event is not None:
                hangup_by = tee.hangup_event.by
            else:
                hangup_by = "agent" if mode == CallMode.agent or live.takeover.is_set() else "bot"
            wav = recorder.wav() if recorder is not None else None
            await anyio.to_thread.run_sync(self._finish, call_id, talk, hangup_by, wav, error)
            if tee.hangup_event is None and not tee.we_hung_up:
                with contextlib.suppress(Exception):
                    await port.hangup("completed")

    async def _transfer_requested(self, call_id: int) -> bool:
        def read() -> bool:
            with self.services.db.session() as session:
                call = session.get(Call, call_id)
                return bool(call is not None and (call.meta or {}).get("transfer_requested"))

        return await anyio.to_thread.run_sync(read)

    def _finish(self, call_id: int, talk_seconds: float, hangup_by: str, wav: bytes | None, error: str) -> None:
        with self.services.db.session() as session:
            call = session.get(Call, call_id)
            if call is None:
                return
            call.talk_seconds = round(talk_seconds, 2)
            if error:
                call.error = error
            if wav is not None and self.services.upload_dir is not None:
                try:
                    voice_recordings.store(self.services.upload_dir, call, wav)
                except (OSError, voice_recordings.RecordingError) as exc:
                    log.error("voice_recording_not_saved", call=call.public_id, error=str(exc)[:200])
            if call.state in (CallState.dialing, CallState.ringing, CallState.in_progress):
                voice_service.end_call(
                    session,
                    call,
                    CallState.completed,
                    outcome=call.outcome or CallOutcome.connected,
                    reason=call.outcome_reason,
                    hangup_by=call.hangup_by or hangup_by,
                    callback_at=call.callback_at,
                )
            session.commit()
