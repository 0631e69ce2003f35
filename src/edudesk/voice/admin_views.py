"""Voice admin pages (电话外呼): the overview with the engines' state and today's figures, the metrics page and
the org's voice settings. Lines, the do-not-call list and the call records have their own modules; ``ROUTERS``
names them all for the app factory.

Supervisors and admins see every page; only admins change lines and settings; agents get 403 (their own calls
are in the console).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from edudesk.auth.deps import Forbidden, actor_of, supervisor
from edudesk.auth.models import Role, User
from edudesk.context import get_ctx
from edudesk.forms import Rejected, submit
from edudesk.localtime import local_today
from edudesk.settings import Settings
from edudesk.voice import call_views, dnc, dnc_views, line_views, lines, metrics, org_settings
from edudesk.voice.campaigns import service as campaigns_service
from edudesk.voice.models import OUTCOME_LABELS
from edudesk.voice.service import VoiceError
from edudesk.web import page

router = APIRouter(prefix="/admin/voice", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
Param = Annotated[str, Query(max_length=40)]
FormText = Annotated[str, Form(max_length=4000)]
CsrfField = Annotated[str, Form(max_length=100)]

NO_ASR = (
    "未配置语音识别：机器人外呼听不懂客户的回答，需要识别的外呼任务无法启动。请设置 EDUDESK_ASR_MODEL_DIR 或云端识别"
)
ASR_LABELS = {"sherpa": "sherpa-onnx 本地模型", "http": "云端流式识别", "scripted": "脚本识别（测试/演示）"}
TTS_LABELS = {"espeak": "espeak-ng（拼音合成）", "prompts": "预录音频", "http": "云端语音合成", "none": "未配置"}


def require_admin(user: User) -> None:
    if user.role != Role.admin:
        raise Forbidden()


def engine_status(settings: Settings) -> dict[str, Any]:
    """What the overview says about the speech engines, from the settings the engines part adds (``voice_asr``,
    ``voice_tts``, ``asr_model_dir``; read with defaults so this page works before it). The engines' own
    ``status()`` (voice.engines.factory.report) can replace this once both parts are merged."""
    asr = str(getattr(settings, "voice_asr", "none") or "none")
    tts = str(getattr(settings, "voice_tts", "espeak") or "none")
    model_dir = getattr(settings, "asr_model_dir", None)
    problem = None
    if asr == "none":
        problem = NO_ASR
    elif asr == "sherpa" and (model_dir is None or not model_dir.is_dir()):
        problem = f"语音识别模型目录不存在：{model_dir or '（未设置 EDUDESK_ASR_MODEL_DIR）'}"
    return {
        "asr": asr,
        "asr_label": ASR_LABELS.get(asr, asr),
        "tts": tts,
        "tts_label": TTS_LABELS.get(tts, tts),
        "asr_problem": problem,
        "model_dir": str(model_dir) if model_dir else "",
    }


@router.get("", response_class=HTMLResponse)
def overview(request: Request, user: Supervisor) -> Response:
    ctx = get_ctx(request)
    with ctx.db.session() as session:
        all_lines = lines.list_lines(session, user.org_id)
        today = metrics.today_counts(session, user.org_id, local_today())
        dnc_count = dnc.count(session, user.org_id)
        voice = org_settings.get_settings(session, user.org_id)
        record_calls, retention = voice.record_calls, voice.recording_retention_days
    return page(
        request,
        "admin/voice_overview.html",
        user=user,
        engines=engine_status(ctx.settings),
        lines_total=len(all_lines),
        lines_enabled=sum(1 for line in all_lines if line.enabled),
        today=today,
        dnc_count=dnc_count,
        record_calls=record_calls,
        retention=retention,
    )


def _date(raw: str, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(raw.strip()) if raw.strip() else default
    except ValueError:
        raise VoiceError("bad_date", "日期格式应为 YYYY-MM-DD", "since") from None


@router.get("/metrics", response_class=HTMLResponse)
def metrics_page(
    request: Request, user: Supervisor, since: Param = "", until: Param = "", campaign_id: Param = ""
) -> Response:
    today = local_today()
    error = None
    report = None
    try:
        start = _date(since, today - dt.timedelta(days=6))
        end = _date(until, today)
        cid = int(campaign_id) if campaign_id.strip().isdigit() and len(campaign_id.strip()) < 10 else None
        with get_ctx(request).db.session() as session:
            report = metrics.compute(session, user.org_id, start, end, campaign_id=cid)
    except VoiceError as exc:
        error = exc.message
        start, end, cid = today - dt.timedelta(days=6), today, None
    with get_ctx(request).db.session() as session:
        campaigns = {c.id: c.name for c in campaigns_service.list_campaigns(session, user.org_id)}
    return page(
        request,
        "admin/voice_metrics.html",
        status_code=422 if error else 200,
        user=user,
        report=report,
        error=error,
        since=start.isoformat(),
        until=end.isoformat(),
        campaign_id=cid,
        campaigns=campaigns,
        outcome_labels=OUTCOME_LABELS,
    )


# --- settings ---------------------------------------------------------------------------------------------------


def _settings_page(
    request: Request,
    user: User,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    code: int = 200,
) -> Response:
    with get_ctx(request).db.session() as session:
        row = org_settings.get_settings(session, user.org_id)
        saved = row.id is not None
        values = form or {
            "record_calls": row.record_calls,
            "recording_retention_days": row.recording_retention_days,
            "robot_notice": row.robot_notice,
        }
    return page(
        request,
        "admin/voice_settings.html",
        status_code=code,
        user=user,
        form=values,
        saved=saved,
        errors=errors or {},
        notice=notice,
        can_edit=user.role == Role.admin,
        min_days=org_settings.RETENTION_MIN_DAYS,
        max_days=org_settings.RETENTION_MAX_DAYS,
        default_notice=org_settings.DEFAULT_NOTICE,
        notice_max=org_settings.NOTICE_MAX,
    )


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, user: Supervisor) -> Response:
    return _settings_page(request, user)


@router.post("/settings", response_class=HTMLResponse)
def save_settings(
    request: Request,
    user: Supervisor,
    record_calls: Annotated[str, Form(max_length=10)] = "",
    recording_retention_days: Annotated[str, Form(max_length=200)] = "",
    robot_notice: FormText = "",
    csrf_token: CsrfField = "",
) -> Response:
    require_admin(user)
    form = {
        "record_calls": bool(record_calls),
        "recording_retention_days": recording_retention_days,
        "robot_notice": robot_notice,
    }

    def write(session: Session) -> None:
        org_settings.save_settings(
            session,
            actor_of(request, user),
            record_calls=bool(record_calls),
            retention_days=recording_retention_days,
            robot_notice=robot_notice,
        )

    done = submit(request, csrf_token, write)
    if isinstance(done, Rejected):
        return _settings_page(request, user, form=form, errors=done.beside("form"), code=done.status)
    return _settings_page(request, user, notice="已保存")


ROUTERS = (router, line_views.router, dnc_views.router, call_views.router)
