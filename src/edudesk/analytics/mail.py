"""Sending one e-mail through the org's own SMTP server (stdlib ``smtplib``), with failures a person can act on.

An admin who types a wrong port or password must read *what* is wrong ("连接被拒绝", "用户名或密码错误", "端口与加密
方式不匹配"), not a Python exception: every failure becomes a ``MailError`` with a Chinese message and a short code.
Certificates are verified (``ssl.create_default_context``); a server with a self-signed certificate needs a proper
one, or "不加密" on a trusted network. The QUIT after a successful DATA never turns a delivered mail into a failure.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, formatdate, make_msgid
from typing import Literal

Security = Literal["ssl", "starttls", "none"]
SECURITY_CHOICES: tuple[tuple[Security, str], ...] = (
    ("ssl", "SSL/TLS（通常端口 465）"), ("starttls", "STARTTLS（通常端口 587）"), ("none", "不加密（通常端口 25）"))
DEFAULT_TIMEOUT = 20.0


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: Security
    username: str
    password: str
    from_address: str
    from_name: str = ""
    timeout: float = DEFAULT_TIMEOUT

    def __repr__(self) -> str:  # never print the password into a log or a traceback
        return f"SmtpConfig(host={self.host!r}, port={self.port}, security={self.security!r})"


class MailError(Exception):
    """Why a mail did not leave: ``code`` for logs and tests, ``message`` (Chinese) for the admin page."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def compose(config: SmtpConfig, to: Sequence[str], subject: str, text: str, html: str | None = None) -> EmailMessage:
    """A UTF-8 message: the plain text first, the HTML as its alternative (clients show the richest they can)."""
    message = EmailMessage(policy=SMTP_POLICY)
    message["Subject"] = subject
    message["From"] = formataddr((config.from_name, config.from_address)) if config.from_name else config.from_address
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=config.from_address.rpartition("@")[2] or None)
    message.set_content(text, charset="utf-8")
    if html is not None:
        message.add_alternative(html, subtype="html", charset="utf-8")
    return message


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {' '.join(text.split())}"[:300]


def classify(exc: BaseException, config: SmtpConfig) -> MailError:
    """The admin's message for a failure of the SMTP conversation."""
    where = f"{config.host}:{config.port}"
    if isinstance(exc, MailError):
        return exc
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return MailError("auth", f"登录邮件服务器失败：用户名或密码错误（服务器答复 {_reply(exc)}）")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        if "STARTTLS" in str(exc).upper():
            return MailError("starttls_unsupported", "服务器不支持 STARTTLS，请改用 SSL/TLS 或不加密")
        return MailError("auth_unsupported",
                         "服务器不支持登录认证（未开启加密时很多服务器不允许登录），请检查加密方式或清空用户名")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return MailError("sender_refused", f"发件地址被服务器拒绝（{_reply(exc)}），请使用该邮箱账号本身的地址")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        who = ", ".join(sorted(exc.recipients))[:200]
        return MailError("recipients_refused", f"所有收件人都被服务器拒绝：{who}")
    if isinstance(exc, smtplib.SMTPDataError):
        return MailError("data_refused", f"服务器拒收了邮件内容（{_reply(exc)}）")
    if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(exc.__context__, TimeoutError):
        exc = exc.__context__  # smtplib reports a reply that never came as a disconnection
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return MailError("disconnected", f"邮件服务器 {where} 中途断开了连接（端口与加密方式是否匹配？）")
    if isinstance(exc, smtplib.SMTPResponseException):
        return MailError("smtp_error", f"邮件服务器返回错误：{_reply(exc)}")
    if isinstance(exc, smtplib.SMTPException):
        return MailError("smtp_error", f"邮件服务器返回错误：{' '.join(str(exc).split())[:300]}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return MailError("certificate", f"邮件服务器 {where} 的证书无法验证（{exc.verify_message or exc.reason}）")
    if isinstance(exc, ssl.SSLError):
        return MailError("tls", f"与 {where} 的 TLS 握手失败：端口与加密方式是否匹配？"
                                "（465 通常用 SSL/TLS，587 用 STARTTLS）")
    if isinstance(exc, socket.gaierror):
        return MailError("dns", f"找不到邮件服务器 {config.host}（域名解析失败）")
    if isinstance(exc, ConnectionRefusedError):
        return MailError("refused", f"无法连接邮件服务器 {where}：连接被拒绝（请检查地址和端口）")
    if isinstance(exc, TimeoutError):
        return MailError("timeout", f"连接邮件服务器 {where} 超时（{config.timeout:g} 秒内没有答复）")
    if isinstance(exc, OSError):
        return MailError("network", f"连接邮件服务器 {where} 时网络出错：{exc.strerror or exc}")
    return MailError("unknown", f"发送失败：{type(exc).__name__}")


def send(config: SmtpConfig, message: EmailMessage, *, context: ssl.SSLContext | None = None) -> dict[str, str]:
    """Sends ``message`` to its To addresses; returns the recipients the server refused (address → reply) when
    some but not all were refused. Raises ``MailError`` when nothing was sent."""
    context = context or ssl.create_default_context()
    client: smtplib.SMTP | None = None
    try:
        if config.security == "ssl":
            client = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout, context=context)
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        client.ehlo()
        if config.security == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if config.username:
            client.login(config.username, config.password)
        refused = client.send_message(message)
    except Exception as exc:
        raise classify(exc, config) from exc
    finally:
        if client is not None:
            # The mail is delivered once DATA was accepted: a rude QUIT must not make it a failure (and a retry).
            with contextlib.suppress(Exception):
                client.quit()
            with contextlib.suppress(Exception):
                client.close()
    return {address: _reply(smtplib.SMTPResponseException(code, reply)) for address, (code, reply) in refused.items()}
