"""The console's call pages (``/console/calls``), the take-over, and the alert rules' admin page.

Pages read the database, so they work on any instance; the take-over acts on the live call and is under
``/voice/`` like the call sockets: those paths must reach the media-plane instance (docs/voice.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from edudesk.auth.deps import actor_of, current_user, supervisor
from edudesk.auth.models import User
from edudesk.contacts import service as contacts_service
from edudesk.context import get_ctx
from edudesk.forms import Rejected, submit
from edudesk.inputs import PathId
from edudesk.localtime import LOCAL_TZ
from edudesk.voice import service as voice_service
from edudesk.voice.assist import alerts, calls
from edudesk.voice.assist.models import CallAlertRule
from edudesk.voice.live import LiveCalls
from edudesk.voice.models import OUTCOME_LABELS, Call
from edudesk.web import page

router = APIRouter(include_in_schema=False)
Staff = Annotated[User, Depends(current_user)]
Supervisor = Annotated[User, Depends(supervisor)]
Line = Annotated[str, Form(max_length=200)]
Text = Annotated[str, Form(max_length=5000)]
Csrf = Annotated[str, Form(max_length=100)]


def live_calls(conn: HTTPConnection) -> LiveCalls | None:
    """This instance's live calls (``app.state.voice_live``, the media plane's registry), if it carries calls."""
    return getattr(conn.app.state, "voice_live", None)


def _row(call: Call, user: User) -> dict[str, Any]:
    phone = call.phone_e164 if calls.is_supervisor(user) else contacts_service.mask_phone(call.phone_e164)
    return {"call": call, "phone": phone, "outcome": OUTCOME_LABELS.get(call.outcome.value) if call.outcome else ""}


def _panel(session: Session, user: User, call: Call | None) -> dict[str, Any]:
    if call is None:
        return {"live": None}
    return {"live": _row(call, user), "turns": calls.turns_of(session, call)}


@router.get("/console/calls", response_class=HTMLResponse)
def calls_page(request: Request, user: Staff) -> Response:
    with get_ctx(request).db.session() as session:
        current = calls.current_call(session, user)
        context = _panel(session, user, current)
        today = [_row(c, user) for c in calls.calls_today(session, user)]
        live = [_row(c, user) for c in calls.live_calls(session, user) if current is None or c.id != current.id]
        session.commit()
    return page(request, "console/calls.html", user=user, today=today, live_calls=live, **context)


@router.get("/console/calls/panel", response_class=HTMLResponse)
def current_panel(request: Request, user: Staff) -> Response:
    """The agent's current call panel alone: the calls page asks for it while no call is on."""
    with get_ctx(request).db.session() as session:
        context = _panel(session, user, calls.current_call(session, user))
        session.commit()
    return page(request, "console/_call_panel.html", user=user, **context)


def call_page(
    request: Request,
    user: User,
    call_id: int,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    with get_ctx(request).db.session() as session:
        call = calls.visible_call(session, user, call_id)
        context = _panel(session, user, call)
        lead_id = calls.lead_id_of(session, call)
        session.commit()
    return page(
        request,
        "console/call.html",
        status_code=status_code,
        user=user,
        lead_id=lead_id,
        errors=errors or {},
        form=form or {},
        notice=notice,
        outcomes=calls.WRAP_UP_OUTCOMES,
        outcome_labels=OUTCOME_LABELS,
        supervisor=calls.is_supervisor(user),
        **context,
    )


@router.get("/console/calls/{call_id}", response_class=HTMLResponse)
def call_detail(request: Request, user: Staff, call_id: PathId) -> Response:
    return call_page(request, user, call_id)


def _callback_at(raw: str) -> dt.datetime | None:
    if not raw.strip():
        return None
    try:
        value = dt.datetime.fromisoformat(raw.strip()[:20])
    except ValueError:
        raise voice_service.VoiceError("bad_time", "回电时间格式不正确", "callback_at") from None
    return value.replace(tzinfo=LOCAL_TZ) if value.tzinfo is None else value


@router.post("/console/calls/{call_id}/wrap-up", response_class=HTMLResponse)
def wrap_up(
    request: Request,
    user: Staff,
    call_id: PathId,
    outcome: Line = "",
    note: Text = "",
    callback_at: Line = "",
    csrf_token: Csrf = "",
) -> Response:
    def write(session: Session) -> Call:
        data = calls.WrapUp(outcome, note, _callback_at(callback_at))
        return calls.wrap_up(session, actor_of(request, user), user, call_id, data)

    done = submit(request, csrf_token, write)
    if isinstance(done, Rejected):
        return call_page(
            request,
            user,
            call_id,
            errors=done.beside("form"),
            status_code=done.status,
            form={"outcome": outcome, "note": note, "callback_at": callback_at},
        )
    return call_page(request, user, call_id, notice="通话小结已保存")


@router.post("/voice/calls/{call_id}/takeover", response_class=HTMLResponse)
def take_over(request: Request, user: Staff, call_id: PathId, csrf_token: Csrf = "") -> Response:
    registry = live_calls(request)
    live_call = None
    if registry is not None:
        live_call = next((c for c in registry.of_org(user.org_id) if c.call_id == call_id), None)
    done = submit(request, csrf_token, lambda s: calls.take_over(s, actor_of(request, user), user, call_id, live_call))
    if isinstance(done, Rejected):
        return call_page(request, user, call_id, errors=done.beside("form"), status_code=done.status)
    if live_call is not None:
        calls.hand_to_agent(live_call, user.id)
    return RedirectResponse(f"/console/calls/{call_id}", status_code=303)


# ---- /admin/voice/alerts ---------------------------------------------------------------------------------------


def _rule_form(row: CallAlertRule) -> dict[str, str]:
    return {
        "name": row.name,
        "words": "\n".join(row.words),
        "side": row.side.value,
        "severity": row.severity.value,
        "suggestion": row.suggestion,
        "intent": row.intent or "",
        "enabled": "1" if row.enabled else "",
    }


def alerts_page(
    request: Request,
    user: User,
    *,
    errors: dict[str, str] | None = None,
    failed: str = "",
    form: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    """``failed``: the form the errors belong to ("new" or a rule id), which shows what was typed."""
    with get_ctx(request).db.session() as session:
        alerts.ensure_defaults(session, user.org_id)
        rows = alerts.rules_of(session, user.org_id)
        shown = [{"id": r.id, "form": form if failed == str(r.id) and form else _rule_form(r)} for r in rows]
        session.commit()
    new = form if failed == "new" and form else {"side": "customer", "severity": "info", "enabled": "1"}
    return page(
        request,
        "admin/voice_alerts.html",
        status_code=status_code,
        user=user,
        rules=shown,
        new=new,
        errors=errors or {},
        failed=failed,
        notice=notice,
        sides=alerts.SIDE_LABELS,
        severities=alerts.SEVERITY_LABELS,
        intents=alerts.INTENT_LABELS,
    )


@router.get("/admin/voice/alerts", response_class=HTMLResponse)
def alerts_admin(request: Request, user: Supervisor) -> Response:
    return alerts_page(request, user)


def _posted(
    name: str, words: str, side: str, severity: str, suggestion: str, intent: str, enabled: str
) -> tuple[alerts.RuleInput, dict[str, str]]:
    """The rule as posted, and the form's fields as typed (shown again beside the error when it is refused)."""
    form = {
        "name": name,
        "words": words,
        "side": side,
        "severity": severity,
        "suggestion": suggestion,
        "intent": intent,
        "enabled": enabled,
    }
    rule = alerts.RuleInput(
        name=name,
        words=words,
        side=side,
        severity=severity,
        suggestion=suggestion,
        intent=intent,
        enabled=bool(enabled),
    )
    return rule, form


@router.post("/admin/voice/alerts", response_class=HTMLResponse)
def create_alert(
    request: Request,
    user: Supervisor,
    name: Line = "",
    words: Text = "",
    side: Line = "",
    severity: Line = "",
    suggestion: Text = "",
    intent: Line = "",
    enabled: Line = "",
    csrf_token: Csrf = "",
) -> Response:
    data, form = _posted(name, words, side, severity, suggestion, intent, enabled)
    done = submit(request, csrf_token, lambda s: alerts.create_rule(s, actor_of(request, user), data))
    if isinstance(done, Rejected):
        return alerts_page(request, user, errors=done.beside("form"), failed="new", form=form, status_code=done.status)
    return alerts_page(request, user, notice="提醒已添加")


@router.post("/admin/voice/alerts/{rule_id}", response_class=HTMLResponse)
def update_alert(
    request: Request,
    user: Supervisor,
    rule_id: PathId,
    name: Line = "",
    words: Text = "",
    side: Line = "",
    severity: Line = "",
    suggestion: Text = "",
    intent: Line = "",
    enabled: Line = "",
    csrf_token: Csrf = "",
) -> Response:
    data, form = _posted(name, words, side, severity, suggestion, intent, enabled)
    done = submit(request, csrf_token, lambda s: alerts.update_rule(s, actor_of(request, user), rule_id, data))
    if isinstance(done, Rejected):
        return alerts_page(
            request, user, errors=done.beside("form"), failed=str(rule_id), form=form, status_code=done.status
        )
    return alerts_page(request, user, notice="提醒已保存")


@router.post("/admin/voice/alerts/{rule_id}/delete", response_class=HTMLResponse)
def delete_alert(request: Request, user: Supervisor, rule_id: PathId, csrf_token: Csrf = "") -> Response:
    done = submit(request, csrf_token, lambda s: alerts.delete_rule(s, actor_of(request, user), rule_id))
    if isinstance(done, Rejected):
        return alerts_page(request, user, errors=done.beside("form"), failed=str(rule_id), status_code=done.status)
    return alerts_page(request, user, notice="提醒已删除")
