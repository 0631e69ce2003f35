"""Call records (通话记录): the filtered list, one call with its transcript and outcome, and its recording.

The recording is streamed through an authorised route (the file is never under /static), with Range requests
for the audio element's seeking; each playback from the start is audited, and an admin may delete a recording
(audited). Full numbers are shown to the roles that see them on leads, and each page listing them is audited.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.auth import service as auth_service
from edudesk.auth.deps import Forbidden, actor_of, supervisor
from edudesk.auth.models import Role, User
from edudesk.context import get_ctx
from edudesk.db import NotFoundError
from edudesk.forms import Rejected, submit
from edudesk.inputs import PathId
from edudesk.privacy import service as privacy_service
from edudesk.voice import call_records, recordings
from edudesk.voice import service as voice_service
from edudesk.voice.campaigns import service as campaigns_service
from edudesk.voice.dnc_views import shown
from edudesk.voice.models import OUTCOME_LABELS, CallMode, CallOutcome, CallState
from edudesk.web import page

router = APIRouter(prefix="/admin/voice/calls", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
Param = Annotated[str, Query(max_length=40)]
PER_PAGE = 50
MODE_LABELS = {"robot": "机器人外呼", "agent": "坐席通话"}
STATE_LABELS = {
    "queued": "排队中",
    "dialing": "拨号中",
    "ringing": "振铃中",
    "in_progress": "通话中",
    "completed": "已完成",
    "no_answer": "无人接听",
    "busy": "占线",
    "failed": "失败",
    "canceled": "已取消",
}
HANGUP_LABELS = {"customer": "客户", "bot": "机器人", "agent": "坐席", "network": "网络"}


def _date(raw: str, errors: dict[str, str], field: str) -> dt.date | None:
    if not raw.strip():
        return None
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        errors[field] = "日期格式应为 YYYY-MM-DD"
        return None


def _id(raw: str, errors: dict[str, str], field: str) -> int | None:
    text = raw.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        errors[field] = "不在可选范围内"
        return None
    return int(text)


@router.get("", response_class=HTMLResponse)
def call_list(
    request: Request,
    user: Supervisor,
    since: Param = "",
    until: Param = "",
    campaign_id: Param = "",
    outcome: Param = "",
    mode: Param = "",
    agent_id: Param = "",
    phone: Param = "",
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    errors: dict[str, str] = {}
    filters = call_records.CallFilters(
        since=_date(since, errors, "since"),
        until=_date(until, errors, "until"),
        campaign_id=_id(campaign_id, errors, "campaign_id"),
        outcome=CallOutcome(outcome) if outcome in OUTCOME_LABELS else None,
        mode=CallMode(mode) if mode in MODE_LABELS else None,
        agent_id=_id(agent_id, errors, "agent_id"),
        phone=phone,
    )
    with get_ctx(request).db.session() as session:
        staff = auth_service.list_users(session, user.org_id)
        if filters.agent_id is not None and filters.agent_id not in {u.id for u in staff}:
            errors["agent_id"] = "不在可选范围内"
        result = call_records.search(session, user.org_id, filters, page=page_no, per_page=PER_PAGE)
        campaigns = {c.id: c.name for c in campaigns_service.list_campaigns(session, user.org_id)}
        campaigns |= campaigns_service.names(
            session, user.org_id, {c.campaign_id for c in result.rows if c.campaign_id}
        )
        rows = [{"call": c, "phone": shown(user, c.phone_e164)} for c in result.rows]
        if user.role in (Role.admin, Role.supervisor):
            privacy_service.phone_seen(
                request,
                session,
                actor_of(request, user),
                "voice.calls",
                [c.contact_id for c in result.rows if c.contact_id],
            )
            session.commit()
        session.expunge_all()
    query = {
        "since": since,
        "until": until,
        "campaign_id": campaign_id,
        "outcome": outcome,
        "mode": mode,
        "agent_id": agent_id,
        "phone": phone,
    }
    kept = {k: v for k, v in query.items() if v}

    def page_url(n: int) -> str:
        return "/admin/voice/calls?" + urlencode({**kept, "page": n})

    return page(
        request,
        "admin/voice_calls.html",
        status_code=422 if errors else 200,
        user=user,
        rows=rows,
        result=result,
        q=query,
        errors=errors,
        page_url=page_url,
        outcomes=OUTCOME_LABELS,
        modes=MODE_LABELS,
        states=STATE_LABELS,
        agents={u.id: u.display_name for u in staff},
        campaigns=campaigns,
    )


def _call_page(
    request: Request,
    user: User,
    call_id: int,
    *,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
    code: int = 200,
) -> Response:
    with get_ctx(request).db.session() as session:
        call = voice_service.get_call(session, user.org_id, call_id)
        turns = [
            {
                "speaker": voice_service.speaker_label(t.speaker),
                "kind": t.speaker.value,
                "text": t.text,
                "at": f"{t.start_ms // 60000:02d}:{t.start_ms // 1000 % 60:02d}",
                "intent": t.intent,
                "alerts": t.alerts,
                "confidence": t.confidence,
            }
            for t in call_records.turns(session, call)
        ]
        agent = ""
        if call.agent_id:
            with contextlib.suppress(NotFoundError):
                agent = auth_service.get_user(session, user.org_id, call.agent_id).display_name
        campaign = campaigns_service.names(session, user.org_id, {call.campaign_id}) if call.campaign_id else {}
        if call.contact_id and user.role in (Role.admin, Role.supervisor):
            privacy_service.phone_seen(request, session, actor_of(request, user), "voice.call", [call.contact_id])
            session.commit()
        session.expunge_all()
    return page(
        request,
        "admin/voice_call.html",
        status_code=code,
        user=user,
        call=call,
        turns=turns,
        phone=shown(user, call.phone_e164),
        agent=agent,
        campaign=campaign.get(call.campaign_id or 0, ""),
        outcomes=OUTCOME_LABELS,
        modes=MODE_LABELS,
        states=STATE_LABELS,
        hangups=HANGUP_LABELS,
        notice=notice,
        errors=errors or {},
        transferred=bool((call.meta or {}).get("transferred")),
        active=call.state in (CallState.queued, CallState.dialing, CallState.ringing, CallState.in_progress),
    )


@router.get("/{call_id}", response_class=HTMLResponse)
def call_detail(request: Request, user: Supervisor, call_id: PathId) -> Response:
    return _call_page(request, user, call_id)


@router.get("/{call_id}/recording")
def call_recording(request: Request, user: Supervisor, call_id: PathId) -> Response:
    ctx = get_ctx(request)
    with ctx.db.session() as session:
        call = voice_service.get_call(session, user.org_id, call_id)
        path = recordings.open_recording(ctx.settings, call)
        ranged = request.headers.get("range", "")
        if not ranged or ranged.replace(" ", "").startswith("bytes=0-"):  # a playback, not the player's seeking
            audit_service.record(
                session, actor_of(request, user), "voice.recording_play", "call", call.id, where="admin.voice.call"
            )
            session.commit()
    return FileResponse(
        path,
        media_type="audio/wav",
        headers={"Cache-Control": "no-store"},
        content_disposition_type="inline",
        filename=f"call-{call_id}.wav",
    )


@router.post("/{call_id}/recording/delete", response_class=HTMLResponse)
def delete_recording(
    request: Request, user: Supervisor, call_id: PathId, csrf_token: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    if user.role != Role.admin:
        raise Forbidden()
    settings = get_ctx(request).settings

    def write(session: Session) -> Any:
        call = voice_service.get_call(session, user.org_id, call_id)
        if not call.recording_key:
            raise voice_service.VoiceError("no_recording", "这通电话没有录音")
        size = call.recording_bytes
        recordings.delete_recording(settings, call)
        audit_service.record(session, actor_of(request, user), "voice.recording_delete", "call", call.id, bytes=size)

    done = submit(request, csrf_token, write)
    if isinstance(done, Rejected):
        return _call_page(request, user, call_id, errors=done.beside("form"), code=done.status)
    return RedirectResponse(f"/admin/voice/calls/{call_id}", status_code=303)
