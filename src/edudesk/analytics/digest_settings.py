"""An org's summary-mail settings: the SMTP account (password encrypted at rest) and who gets which summary when.

Validation says what is wrong beside the field (``DomainError.field``); the password is never shown again and an
empty password field keeps the stored one. Every save is audited without the password (only whether it changed).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from edudesk.analytics import mail
from edudesk.analytics.digest_models import ReportMailSettings
from edudesk.audit import service as audit_service
from edudesk.db import org_query, utcnow
from edudesk.errors import DomainError
from edudesk.secretbox import SecretBox, SecretBoxError

SECRET_PURPOSE = "report-mail"  # noqa: S105 (a key-derivation label)
MAX_RECIPIENTS = 50
DEFAULT_SEND_HOUR = 8
SECURITY_KEYS = tuple(key for key, _ in mail.SECURITY_CHOICES)
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                   r"[A-Za-z0-9])?)*$")
_IPV6 = re.compile(r"^\[?[0-9A-Fa-f:.]{2,45}\]?$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@" + _LABEL + r"(?:\." + _LABEL + r")+$")
_SPLIT = re.compile(r"[\s,;，；、]+")


class MailSettingsError(DomainError):
    pass


@functools.lru_cache(maxsize=8)
def secret_box(app_secret: str) -> SecretBox:
    return SecretBox(app_secret, SECRET_PURPOSE)


@dataclass(frozen=True)
class MailSettings:
    host: str = ""
    port: int = 465
    security: mail.Security = "ssl"
    username: str = ""
    has_password: bool = False
    from_address: str = ""
    from_name: str = ""
    daily_recipients: tuple[str, ...] = ()
    weekly_recipients: tuple[str, ...] = ()
    send_hour: int = DEFAULT_SEND_HOUR
    saved: bool = False

    @property
    def smtp_ready(self) -> bool:
        return bool(self.host and self.from_address)


@dataclass(frozen=True)
class SmtpInput:
    host: str
    port: int
    security: mail.Security
    username: str
    password: str  # empty: keep the stored one
    from_address: str
    from_name: str = ""


def _row(session: Session, org_id: int) -> ReportMailSettings | None:
    return session.scalars(org_query(ReportMailSettings, org_id)).first()


def _security(value: str) -> mail.Security:
    for key in SECURITY_KEYS:
        if value == key:
            return key
    raise MailSettingsError("bad_security", "请选择列表中的一种加密方式", "security")


def settings_of(session: Session, org_id: int) -> MailSettings:
    row = _row(session, org_id)
    if row is None:
        return MailSettings()
    return MailSettings(host=row.host, port=row.port, security=_security(row.security), username=row.username,
                        has_password=bool(row.password_encrypted), from_address=row.from_address,
                        from_name=row.from_name, daily_recipients=tuple(row.daily_recipients or ()),
                        weekly_recipients=tuple(row.weekly_recipients or ()), send_hour=row.send_hour, saved=True)


def smtp_config(session: Session, org_id: int, box: SecretBox, *,
                timeout: float = mail.DEFAULT_TIMEOUT) -> mail.SmtpConfig:
    """The stored account, password decrypted, ready for ``mail.send``; a ``MailError`` when it cannot be used."""
    row = _row(session, org_id)
    if row is None or not row.host or not row.from_address:
        raise mail.MailError("not_configured", "尚未设置邮件服务器（SMTP）")
    try:
        password = box.decrypt(row.password_encrypted) if row.password_encrypted else ""
    except SecretBoxError:
        raise mail.MailError("secret", "保存的邮箱密码无法解密（系统密钥已更换），请重新填写密码") from None
    return mail.SmtpConfig(host=row.host, port=row.port, security=_security(row.security), username=row.username,
                           password=password, from_address=row.from_address, from_name=row.from_name, timeout=timeout)


# --- parsing what the form posted ------------------------------------------------------------------------------

def _plain(value: str, name: str, label: str, limit: int) -> str:
    text = value.strip()
    if len(text) > limit:
        raise MailSettingsError("too_long", f"{label}不能超过 {limit} 个字符", name)
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise MailSettingsError("control_chars", f"{label}含有不可见的控制字符", name)
    return text


def parse_host(raw: str) -> str:
    host = _plain(raw, "host", "服务器地址", 253)
    if not host:
        raise MailSettingsError("host_required", "请填写邮件服务器地址，例如 smtp.exmail.qq.com", "host")
    if not (_HOST.match(host) or (":" in host and _IPV6.match(host))):
        raise MailSettingsError("bad_host", "服务器地址只能是域名或 IP 地址，例如 smtp.exmail.qq.com", "host")
    return host.strip("[]")


def parse_port(raw: str) -> int:
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 5 or not 1 <= int(text) <= 65535:
        raise MailSettingsError("bad_port", "端口须是 1–65535 之间的整数", "port")
    return int(text)


def parse_email(raw: str, name: str, label: str = "邮箱地址") -> str:
    address = raw.strip()
    if len(address) > 254 or not _EMAIL.match(address) or ".." in address:
        shown = address if len(address) <= 60 else address[:60] + "…"
        raise MailSettingsError("bad_email", f"{label}格式不正确：{shown}", name)
    return address


def parse_recipients(raw: str, name: str) -> tuple[str, ...]:
    """Addresses separated by lines, commas, semicolons or spaces; each checked, duplicates (any case) dropped."""
    if len(raw) > MAX_RECIPIENTS * 256:
        raise MailSettingsError("too_many", f"收件人最多 {MAX_RECIPIENTS} 个", name)
    out: list[str] = []
    seen: set[str] = set()
    for part in _SPLIT.split(raw.strip()):
        if not part:
            continue
        address = parse_email(part, name, "收件人地址")
        if address.lower() not in seen:
            seen.add(address.lower())
            out.append(address)
    if len(out) > MAX_RECIPIENTS:
        raise MailSettingsError("too_many", f"收件人最多 {MAX_RECIPIENTS} 个", name)
    return tuple(out)


def parse_hour(raw: str) -> int:
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 2 or not 0 <= int(text) <= 23:
        raise MailSettingsError("bad_hour", "发送时间须是 0–23 点之间的整点", "send_hour")
    return int(text)


def parse_smtp(*, host: str, port: str, security: str, username: str, password: str, from_address: str,
               from_name: str) -> SmtpInput:
    return SmtpInput(host=parse_host(host), port=parse_port(port), security=_security(security.strip()),
                     username=_plain(username, "username", "用户名", 200),
                     password=_plain(password, "password", "密码", 500),
                     from_address=parse_email(from_address, "from_address", "发件地址"),
                     from_name=_plain(from_name, "from_name", "发件人名称", 100))


# --- saving -------------------------------------------------------------------------------------------------------

def _row_for_update(session: Session, org_id: int) -> ReportMailSettings:
    row = session.scalars(org_query(ReportMailSettings, org_id).with_for_update()).first()
    if row is None:
        row = ReportMailSettings(org_id=org_id, host="", port=465, security="ssl", username="", password_encrypted="",
                                 from_address="", from_name="", daily_recipients=[], weekly_recipients=[],
                                 send_hour=DEFAULT_SEND_HOUR)
        session.add(row)
    return row


def save_smtp(session: Session, actor: audit_service.Actor, box: SecretBox, data: SmtpInput) -> MailSettings:
    row = _row_for_update(session, actor.org_id)
    password_changed = bool(data.password)
    row.host, row.port, row.security, row.username = data.host, data.port, data.security, data.username
    row.from_address, row.from_name = data.from_address, data.from_name
    if data.password:
        row.password_encrypted = box.encrypt(data.password)
    if not data.username:  # no login, no password to keep
        password_changed = password_changed or bool(row.password_encrypted)
        row.password_encrypted = ""
    row.updated_at, row.updated_by = utcnow(), actor.label[:200]
    audit_service.record(session, actor, "report_mail.smtp", "org", actor.org_id, host=data.host, port=data.port,
                         security=data.security, username=data.username, from_address=data.from_address,
                         password_changed=password_changed)
    session.flush()
    return settings_of(session, actor.org_id)


def save_schedule(session: Session, actor: audit_service.Actor, *, daily: tuple[str, ...], weekly: tuple[str, ...],
                  send_hour: int) -> MailSettings:
    if not 0 <= send_hour <= 23:
        raise MailSettingsError("bad_hour", "发送时间须是 0–23 点之间的整点", "send_hour")
    row = _row_for_update(session, actor.org_id)
    row.daily_recipients, row.weekly_recipients, row.send_hour = list(daily), list(weekly), send_hour
    row.updated_at, row.updated_by = utcnow(), actor.label[:200]
    audit_service.record(session, actor, "report_mail.schedule", "org", actor.org_id, daily=len(daily),
                         weekly=len(weekly), send_hour=send_hour)
    session.flush()
    return settings_of(session, actor.org_id)
