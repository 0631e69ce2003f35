"""Sending through a real SMTP server (aiosmtpd on 127.0.0.1): the message as received, and every failure as a
message an admin can act on."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from edudesk.analytics import mail
from tests.analytics.smtp import PASSWORD, USER, SmtpServer, self_signed, silent_server, start_server
from tests.ports import free_port


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    smtp = start_server()
    yield smtp
    smtp.stop()


@pytest.fixture
def auth_server() -> Iterator[SmtpServer]:
    smtp = start_server(auth=True)
    yield smtp
    smtp.stop()


def config(port: int, **changes: object) -> mail.SmtpConfig:
    values: dict[str, object] = {"host": "127.0.0.1", "port": port, "security": "none", "username": "",
                                 "password": "", "from_address": "report@alpha.example", "from_name": "阿尔法教育",
                                 "timeout": 5.0}
    values.update(changes)
    return mail.SmtpConfig(**values)  # type: ignore[arg-type]


def message(cfg: mail.SmtpConfig, to: list[str]) -> EmailMessage:
    return mail.compose(cfg, to, "【阿尔法教育】每日服务摘要", "会话 12 个\n", "<p>会话 <b>12</b> 个</p>")


def test_a_utf8_message_with_both_parts_arrives(server: SmtpServer) -> None:
    cfg = config(server.port)
    refused = mail.send(cfg, message(cfg, ["principal@alpha.example", "manager@alpha.example"]))
    assert refused == {}
    [got] = server.received
    assert got.mail_from == "report@alpha.example"
    assert got.rcpt_tos == ["principal@alpha.example", "manager@alpha.example"]
    msg = got.message
    assert msg["Subject"] == "【阿尔法教育】每日服务摘要"
    assert msg["From"].addresses[0].display_name == "阿尔法教育"
    assert msg["From"].addresses[0].addr_spec == "report@alpha.example"
    assert [a.addr_spec for a in msg["To"].addresses] == ["principal@alpha.example", "manager@alpha.example"]
    assert msg["Message-ID"] and msg["Date"]
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content_charset() == "utf-8" and html.get_content_charset() == "utf-8"
    assert plain.get_content().strip() == "会话 12 个"
    assert "<b>12</b>" in html.get_content()


def test_login_without_tls_when_the_server_allows_it(auth_server: SmtpServer) -> None:
    cfg = config(auth_server.port, username=USER, password=PASSWORD)
    mail.send(cfg, message(cfg, ["principal@alpha.example"]))
    assert len(auth_server.received) == 1


def test_a_wrong_password_says_so(auth_server: SmtpServer) -> None:
    cfg = config(auth_server.port, username=USER, password="wrong")
    with pytest.raises(mail.MailError) as caught:
        mail.send(cfg, message(cfg, ["principal@alpha.example"]))
    assert caught.value.code == "auth" and "用户名或密码错误" in caught.value.message
    assert "535" in caught.value.message
    assert auth_server.received == []


def test_login_where_the_server_offers_none(server: SmtpServer) -> None:
    cfg = config(server.port, username=USER, password=PASSWORD)
    with pytest.raises(mail.MailError) as caught:
        mail.send(cfg, message(cfg, ["principal@alpha.example"]))
    assert caught.value.code == "auth_unsupported" and "不支持登录认证" in caught.value.message


def test_connection_refused() -> None:
    port = free_port()
    cfg = config(port)
    with pytest.raises(mail.MailError) as caught:
        mail.send(cfg, message(cfg, ["principal@alpha.example"]))
    assert caught.value.code == "refused"
    assert caught.value.message == f"无法连接邮件服务器 127.0.0.1:{port}：连接被拒绝（请检查地址和端口）"


def test_a_server_that_never_greets_times_out() -> None:
    with silent_server() as port:
        cfg = config(port, timeout=0.5)
        with pytest.raises(mail.MailError) as caught:
            mail.send(cfg, message(cfg, ["principal@alpha.example"]))
    assert caught.value.code == "timeout" and "超时（0.5 秒内没有答复）" in caught.value.message


def test_ssl_against_a_plain_port_names_the_mismatch(server: SmtpServer) -> None:
    cfg = config(server.port, security="ssl")
    with pytest.raises(mail.MailError) as caught:
        mail.send(cfg, message(cfg, ["principal@alpha.example"]))
    assert caught.value.code in ("tls", "disconnected")
    assert "加密方式" in caught.value.message


def test_starttls_where_the_server_has_none(server: SmtpServer) -> None:
    cfg = config(server.port, security="starttls")
    with pytest.raises(mail.MailError) as caught:
        mail.send(cfg, message(cfg, ["principal@alpha.example"]))
    assert caught.value.code == "starttls_unsupported"


def test_starttls_verifies_the_certificate(tmp_path: Path) -> None:
    server_context, trusting = self_signed(tmp_path)
    smtp = start_server(auth=True, tls=server_context)
    try:
        cfg = config(smtp.port, security="starttls", username=USER, password=PASSWORD)
        with pytest.raises(mail.MailError) as caught:  # the system's CAs do not know a self-signed certificate
            mail.send(cfg, message(cfg, ["principal@alpha.example"]))
        assert caught.value.code == "certificate" and "证书无法验证" in caught.value.message
        mail.send(cfg, message(cfg, ["principal@alpha.example"]), context=trusting)
        assert len(smtp.received) == 1
    finally:
        smtp.stop()


def test_an_unknown_host() -> None:
    cfg = config(25, host="smtp.no-such-host.invalid")
    with pytest.raises(mail.MailError) as caught:
        mail.send(cfg, message(cfg, ["principal@alpha.example"]))
    assert caught.value.code in ("dns", "network")


def test_refused_recipients(server: SmtpServer) -> None:
    cfg = config(server.port)
    refused = mail.send(cfg, message(cfg, ["principal@alpha.example", "gone@refused.example"]))
    assert list(refused) == ["gone@refused.example"] and refused["gone@refused.example"].startswith("550")
    assert server.received[0].rcpt_tos == ["principal@alpha.example"]
    with pytest.raises(mail.MailError) as caught:
        mail.send(cfg, message(cfg, ["gone@refused.example"]))
    assert caught.value.code == "recipients_refused" and "gone@refused.example" in caught.value.message


def test_the_password_never_appears_in_a_repr() -> None:
    assert "secret-pass" not in repr(config(25, password="secret-pass"))
