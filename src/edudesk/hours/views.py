"""The business-hours admin page (``/admin/hours``): the org's hours and each skill group's own.

Admins edit; supervisors see the same page read-only. The form is what people type ("08:30-12:00, 13:30-21:00" per
weekday, dates one per line); this module turns it into the JSON form of ``BusinessHours`` and back, and every rule
is checked by ``hours.service.save`` through ``BusinessHours.from_dict``, whose error names the field it shows
beside. "导入 2026 年法定节假日" merges the statutory days into the form without saving, so the admin reviews first.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from edudesk.auth.deps import actor_of, admin, supervisor
from edudesk.auth.models import Role, User
from edudesk.context import get_ctx
from edudesk.db import utcnow
from edudesk.forms import STALE, Rejected, submit
from edudesk.hours import china
from edudesk.hours import service as hours_service
from edudesk.hours.schedule import DAY_KEYS, WEEKDAYS, HoursError
from edudesk.localtime import local_today
from edudesk.web import csrf_ok, page

router = APIRouter(prefix="/admin/hours", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
Admin = Annotated[User, Depends(admin)]
Line = Annotated[str, Form(max_length=500)]
Block = Annotated[str, Form(max_length=20_000)]
DEFAULT_TIMEZONE = "Asia/Shanghai"
TIMEZONES = ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo", "Europe/London",
             "America/New_York", "America/Los_Angeles", "Australia/Sydney")

# "08:30 - 12:00" / "8:30~12:00" / "08：30至12：00" → "08:30-12:00"; then intervals split on commas or spaces.
_DASH_RE = re.compile(r"\s*[-–—~～至到]\s*")
_LIST_RE = re.compile(r"[,，、;；\s]+")
_DATE_RE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")


def parse_intervals(key: str, text: str) -> list[list[str]]:
    """One weekday's box: "08:30-12:00, 13:30-21:00" → [["08:30", "12:00"], ["13:30", "21:00"]]; empty = closed.
    Only the shape is checked here; the times themselves are checked by ``BusinessHours.from_dict``."""
    cleaned = _DASH_RE.sub("-", text.replace("：", ":").strip())
    out: list[list[str]] = []
    for token in (t for t in _LIST_RE.split(cleaned) if t):
        parts = token.split("-")
        if len(parts) != 2 or not all(parts):
            label = WEEKDAYS[DAY_KEYS.index(key)]
            raise HoursError("bad_interval", f"{label}的“{token}”请写成 开始-结束，例如 08:30-12:00", f"weekly.{key}")
        out.append(parts)
    return out


def _date_token(token: str) -> str:
    match = _DATE_RE.match(token)
    if match is None:
        return token  # left as typed: from_dict names it in its error
    year, month, day = match.groups()
    return f"{year}-{int(month):02d}-{int(day):02d}"


def parse_dates(text: str) -> list[str]:
    """Dates one per line or separated by commas; 2026/10/1 and 2026年10月1日 become 2026-10-01."""
    return [_date_token(t) for t in _LIST_RE.split(text.strip()) if t]


def spec_from_form(form: dict[str, str]) -> dict[str, Any]:
    return {
        "timezone": form["timezone"].strip() or DEFAULT_TIMEZONE,
        "weekly": {key: parse_intervals(key, form[key]) for key in DAY_KEYS},
        "holidays": parse_dates(form["holidays"]),
        "workdays": parse_dates(form["workdays"]),
        "makeup_weekday": form["makeup_weekday"] or "mon",
    }


def form_from_record(spec: dict[str, Any], *, enabled: bool, closed_message: str) -> dict[str, Any]:
    weekly = spec.get("weekly") or {}
    form: dict[str, Any] = {key: ", ".join(f"{a}-{b}" for a, b in weekly.get(key, [])) for key in DAY_KEYS}
    form.update(timezone=spec.get("timezone", DEFAULT_TIMEZONE), holidays="\n".join(spec.get("holidays", [])),
                workdays="\n".join(spec.get("workdays", [])), makeup_weekday=spec.get("makeup_weekday", "mon"),
                enabled=enabled, closed_message=closed_message)
    return form


def merge_dates(text: str, official: frozenset[Any]) -> str:
    """The box's dates plus ``official``, sorted, one per line; what does not read as a date stays at the end."""
    tokens = parse_dates(text)
    dates = {t for t in tokens if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t)} | {d.isoformat() for d in official}
    rest = [t for t in tokens if t not in dates]
    return "\n".join([*sorted(dates), *rest])


def _scope_state(record: Any) -> str:
    return "unset" if record is None else "on" if record.enabled else "off"


def _import_years() -> tuple[int, int]:
    year = local_today().year
    return year, year + 1


def _hours_page(request: Request, user: User, group_id: int | None, *, form: dict[str, Any] | None = None,
                errors: dict[str, str] | None = None, notice: str | None = None,
                imported: dict[str, int] | None = None, status_code: int = 200) -> Response:
    now = utcnow()
    with get_ctx(request).db.session() as session:
        group = hours_service.group_in_org(session, user.org_id, group_id) if group_id is not None else None
        org_record = hours_service.record_for(session, user.org_id)
        scopes: list[dict[str, Any]] = [{"id": None, "name": "全机构", "state": _scope_state(org_record),
                   "status": hours_service.status(session, user.org_id, None, now)}]
        for g in hours_service.groups(session, user.org_id):
            scopes.append({"id": g.id, "name": g.name,
                           "state": _scope_state(hours_service.record_for(session, user.org_id, g.id)),
                           "status": hours_service.status(session, user.org_id, g.id, now)})
        record = hours_service.record_for(session, user.org_id, group_id)
        if form is None:
            if record is not None:
                form = form_from_record(record.spec, enabled=record.enabled, closed_message=record.closed_message)
            elif group is not None and org_record is not None:
                # A group's first own hours start from the org's, switched off until the admin turns them on.
                form = form_from_record(org_record.spec, enabled=False, closed_message=org_record.closed_message)
            else:
                form = form_from_record({}, enabled=group is None, closed_message="")
        current = hours_service.status(session, user.org_id, group_id, now)
        # What a visitor of this scope is told off hours (now, or with a sample time while open).
        sample = hours_service.closed_text(hours_service.closed_message_for(session, user.org_id, group_id),
                                           current.next_open or "明天 08:30")
        session.commit()
    return page(request, "admin/hours.html", status_code=status_code, user=user, group=group, scopes=scopes,
                form=form, errors=errors or {}, notice=notice, imported=imported, current=current, sample=sample,
                can_edit=user.role == Role.admin, days=list(zip(DAY_KEYS, WEEKDAYS, strict=True)),
                years=_import_years(), timezones=TIMEZONES,
                default_message=hours_service.DEFAULT_CLOSED_MESSAGE, max_message=hours_service.MAX_CLOSED_MESSAGE)


def _group_param(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isdigit() else None


@router.get("", response_class=HTMLResponse)
def hours_admin(request: Request, user: Supervisor, group: Annotated[str, Query(max_length=20)] = "") -> Response:
    return _hours_page(request, user, _group_param(group))


@router.post("", response_class=HTMLResponse)
def save_hours(
    request: Request,
    user: Admin,
    group_id: Annotated[str, Form(max_length=20)] = "",
    enabled: Annotated[str, Form(max_length=10)] = "",
    timezone: Annotated[str, Form(max_length=64)] = DEFAULT_TIMEZONE,
    mon: Line = "", tue: Line = "", wed: Line = "", thu: Line = "", fri: Line = "", sat: Line = "", sun: Line = "",
    makeup_weekday: Annotated[str, Form(max_length=10)] = "mon",
    holidays: Block = "",
    workdays: Block = "",
    closed_message: Annotated[str, Form(max_length=5000)] = "",
    import_year: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    gid = _group_param(group_id)
    form: dict[str, Any] = {"mon": mon, "tue": tue, "wed": wed, "thu": thu, "fri": fri, "sat": sat, "sun": sun,
                            "timezone": timezone, "makeup_weekday": makeup_weekday, "holidays": holidays,
                            "workdays": workdays, "enabled": bool(enabled), "closed_message": closed_message}
    if import_year:
        if not csrf_ok(request, csrf_token):
            return _hours_page(request, user, gid, form=form, errors={"form": STALE}, status_code=400)
        return _import(request, user, gid, form, import_year)
    done = submit(request, csrf_token, lambda session: hours_service.save(
        session, actor_of(request, user), group_id=gid, spec=spec_from_form(form), enabled=bool(enabled),
        closed_message=closed_message))
    if isinstance(done, Rejected):
        return _hours_page(request, user, gid, form=form, errors={_error_field(done): done.message},
                           status_code=done.status)
    return _hours_page(request, user, gid, notice="营业时间已保存")


def _error_field(exc: Rejected) -> str:
    field = exc.field or "form"
    known = {"timezone", "weekly", "holidays", "workdays", "makeup_weekday", "closed_message", "year"}
    return field if field in known or field.startswith("weekly.") else "form"


def _import(request: Request, user: User, gid: int | None, form: dict[str, Any], raw_year: str) -> Response:
    year = int(raw_year) if raw_year.isdigit() else -1
    try:
        official_holidays, official_workdays = china.official_days(year)
    except HoursError as exc:
        return _hours_page(request, user, gid, form=form, errors={"year": exc.message}, status_code=422)
    form = {**form, "holidays": merge_dates(form["holidays"], official_holidays),
            "workdays": merge_dates(form["workdays"], official_workdays)}
    imported = {"year": year, "holidays": len(official_holidays), "workdays": len(official_workdays)}
    return _hours_page(request, user, gid, form=form, imported=imported)
