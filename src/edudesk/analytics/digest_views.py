"""/admin/reports/mail: the SMTP account, a test mail, who gets the daily / weekly summary and when, the send log.

Admins only (403 for supervisors and agents: the SMTP password is an admin's business), CSRF on every form, the
message beside the field. The stored password is never sent back to the browser; an empty password field keeps it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from edudesk.analytics import digest_jobs, digest_settings, mail
from edudesk.audit import service as audit_service
from edudesk.auth.deps import actor_of, admin
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.errors import DomainError
from edudesk.forms import STALE, Rejected, submit
from edudesk.inputs import PathId
from edudesk.localtime import local_text
from edudesk.web import csrf_ok, page

router = APIRouter(prefix="/admin/reports/mail", include_in_schema=False)
Admin = Annotated[User, Depends(admin)]
CsrfField = Annotated[str, Form(max_length=100)]
ShortField = Annotated[str, Form(max_length=300)]
SecretField = Annotated[str, Form(max_length=600)]
ListField = Annotated[str, Form(max_length=20000)]
TEST_TIMEOUT = 15.0
TEST_SUBJECT = "edudesk 测试邮件"
TEST_TEXT = ("这是一封测试邮件：edudesk 已能通过贵机构的邮件服务器发信。\n"
             "每日 / 每周服务摘要会按管理后台“邮件报表”页的设置发送。\n")
KIND_LABELS = {"daily": "每日摘要", "weekly": "每周摘要"}
STATUS_LABELS = {"pending": "等待发送", "sending": "发送中", "sent": "已发送", "failed": "发送失败"}


def _box(request: Request) -> Any:
    return digest_settings.secret_box(get_ctx(request).settings.secret_key)


def _smtp_form(current: digest_settings.MailSettings) -> dict[str, str]:
    return {"host": current.host, "port": str(current.port), "security": current.security,
            "username": current.username, "from_address": current.from_address, "from_name": current.from_name}


def _schedule_form(current: digest_settings.MailSettings) -> dict[str, str]:
    return {"daily_recipients": "\n".join(current.daily_recipients),
            "weekly_recipients": "\n".join(current.weekly_recipients), "send_hour": str(current.send_hour)}


def _page(request: Request, user: User, *, smtp: dict[str, str] | None = None,
          schedule: dict[str, str] | None = None, test_to: str | None = None, errors: dict[str, str] | None = None,
          notice: str | None = None, status_code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        current = digest_settings.settings_of(session, user.org_id)
        entries = [{"id": e.id, "kind": KIND_LABELS.get(e.kind, e.kind),
                    "period": _period(e.kind, e.period_start, e.period_end),
                    "status": e.status.value, "status_label": STATUS_LABELS.get(e.status.value, e.status.value),
                    "recipients": len(e.recipients or []), "attempts": e.attempts, "error": e.error or "",
                    "partial": e.partial, "when": local_text(e.sent_at or e.claimed_at or e.created_at),
                    "next": local_text(e.next_attempt_at) if e.next_attempt_at else ""}
                   for e in digest_jobs.recent_log(session, user.org_id)]
    report_mail = getattr(request.app.state, "report_mail", None)
    default_to = (current.daily_recipients or current.weekly_recipients or ("",))[0]
    response: Response = page(
        request, "admin/report_mail.html", status_code=status_code, user=user, current=current,
        smtp=smtp if smtp is not None else _smtp_form(current),
        schedule=schedule if schedule is not None else _schedule_form(current),
        test_to=test_to if test_to is not None else default_to, errors=errors or {}, notice=notice,
        entries=entries, security_choices=mail.SECURITY_CHOICES, hours=range(24),
        connected=bool(report_mail is not None and report_mail.connected),
        max_recipients=digest_settings.MAX_RECIPIENTS)
    return response


def _period(kind: str, start: Any, end: Any) -> str:
    return start.isoformat() if kind == "daily" else f"{start.isoformat()} 至 {end.isoformat()}"


@router.get("", response_class=HTMLResponse)
def mail_page(request: Request, user: Admin) -> Response:
    return _page(request, user)


@router.post("/smtp", response_class=HTMLResponse)
def save_smtp(request: Request, user: Admin, csrf_token: CsrfField = "", host: ShortField = "",
              port: ShortField = "", security: ShortField = "", username: ShortField = "",
              password: SecretField = "", from_address: ShortField = "", from_name: ShortField = "") -> Response:
    form = {"host": host, "port": port, "security": security, "username": username, "from_address": from_address,
            "from_name": from_name}
    try:
        data = digest_settings.parse_smtp(host=host, port=port, security=security, username=username,
                                          password=password, from_address=from_address, from_name=from_name)
    except DomainError as exc:
        return _page(request, user, smtp=form, errors={exc.field or "smtp": exc.message}, status_code=422)
    done = submit(request, csrf_token, lambda session: digest_settings.save_smtp(
        session, actor_of(request, user), _box(request), data))
    if isinstance(done, Rejected):
        return _page(request, user, smtp=form, errors=done.beside("smtp"), status_code=done.status)
    return _page(request, user, notice="邮件服务器设置已保存")


@router.post("/schedule", response_class=HTMLResponse)
def save_schedule(request: Request, user: Admin, csrf_token: CsrfField = "", daily_recipients: ListField = "",
                  weekly_recipients: ListField = "", send_hour: ShortField = "") -> Response:
    form = {"daily_recipients": daily_recipients, "weekly_recipients": weekly_recipients, "send_hour": send_hour}
    try:
        daily = digest_settings.parse_recipients(daily_recipients, "daily_recipients")
        weekly = digest_settings.parse_recipients(weekly_recipients, "weekly_recipients")
        hour = digest_settings.parse_hour(send_hour)
    except DomainError as exc:
        return _page(request, user, schedule=form, errors={exc.field or "schedule": exc.message}, status_code=422)
    done = submit(request, csrf_token, lambda session: digest_settings.save_schedule(
        session, actor_of(request, user), daily=daily, weekly=weekly, send_hour=hour))
    if isinstance(done, Rejected):
        return _page(request, user, schedule=form, errors=done.beside("schedule"), status_code=done.status)
    return _page(request, user, notice="收件人和发送时间已保存")


@router.post("/test", response_class=HTMLResponse)
def send_test(request: Request, user: Admin, csrf_token: CsrfField = "", test_to: ShortField = "") -> Response:
    """Sends a short mail with the stored settings now, in this request, and says what the server answered."""
    if not csrf_ok(request, csrf_token):
        return _page(request, user, test_to=test_to, errors={"test": STALE}, status_code=400)
    try:
        to = digest_settings.parse_email(test_to, "test_to", "收件地址")
    except DomainError as exc:
        return _page(request, user, test_to=test_to, errors={"test_to": exc.message}, status_code=422)
    db = get_ctx(request).db
    failure: mail.MailError | None = None
    try:
        with db.session() as session:
            config = digest_settings.smtp_config(session, user.org_id, _box(request), timeout=TEST_TIMEOUT)
        mail.send(config, mail.compose(config, [to], TEST_SUBJECT, TEST_TEXT))
    except mail.MailError as exc:
        failure = exc
    with db.session() as session:
        audit_service.record(session, actor_of(request, user), "report_mail.test", "org", user.org_id, to=to,
                             ok=failure is None, code=failure.code if failure else "")
        session.commit()
    if failure is not None:
        return _page(request, user, test_to=to, errors={"test": failure.message})
    return _page(request, user, test_to=to, notice=f"测试邮件已发送到 {to}，请查收")


@router.post("/log/{log_id}/retry", response_class=HTMLResponse)
def retry(request: Request, user: Admin, log_id: PathId, csrf_token: CsrfField = "") -> Response:
    """Sends a failed summary again now (after the admin fixed the password, say); audited."""
    report_mail = getattr(request.app.state, "report_mail", None)
    connected = bool(report_mail is not None and report_mail.connected)

    def write(session: Any) -> None:
        entry = digest_jobs.retry_now(session, user.org_id, log_id, connected=connected)
        audit_service.record(session, actor_of(request, user), "report_mail.retry", "report_mail_log", entry.id,
                             kind=entry.kind, period_start=entry.period_start.isoformat())

    done = submit(request, csrf_token, write, status=lambda exc: 409)
    if isinstance(done, Rejected):
        return _page(request, user, errors=done.beside("log"), status_code=done.status)
    return _page(request, user, notice="已安排重新发送，稍后刷新查看结果")
