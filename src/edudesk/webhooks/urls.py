"""Which URLs a webhook may call: the SSRF guard, with no database and no HTTP.

An admin types the URL, and the server calls it, so without a guard an admin (or a stolen admin session) could
make edudesk call its own internal network: the database, Redis, the cloud metadata service at 169.254.169.254.
The URL is checked when it is saved and again right before each delivery, after DNS resolution; the request is
then sent to the very address that was checked (Host header and TLS SNI keep the name), so a DNS answer that
changes between the check and the connection (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit, urlunsplit

from edudesk.errors import DomainError

Resolver = Callable[[str, int], list[str]]


class UrlRefused(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__("webhook_url_refused", message, "url")


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the name resolves to (IPv4 and IPv6); all of them must be allowed."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # is_global is False for loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16,
    # fe80::/10), shared (100.64/10), unspecified and reserved ranges.
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class Target:
    """Where to connect: the checked address, plus the name for the Host header and TLS certificate check."""

    url: str
    host_header: str
    sni_hostname: str | None


@dataclass(frozen=True)
class UrlPolicy:
    allow_private: bool = False
    resolve: Resolver = field(default=resolve_host)

    def parse(self, url: str) -> SplitResult:
        url = url.strip()
        if not url or len(url) > 2000:
            raise UrlRefused("请填写不超过 2000 个字符的网址")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise UrlRefused("网址格式不正确") from None
        if parts.scheme not in ("http", "https"):
            raise UrlRefused("只支持 http:// 或 https:// 网址")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise UrlRefused("网址中不能包含用户名或密码")
        if not parts.hostname:
            raise UrlRefused("网址缺少主机名")
        if port == 0:
            raise UrlRefused("网址端口不正确")
        return parts

    def _addresses(self, parts: SplitResult) -> list[str]:
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if not self.allow_private and (host == "localhost" or host.endswith(".localhost")):
            raise UrlRefused("不能推送到本机或内网地址")
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                addresses = self.resolve(host, port)
            except (OSError, UnicodeError):
                raise UrlRefused(f"无法解析域名 {host}") from None
        if not addresses:
            raise UrlRefused(f"无法解析域名 {host}")
        if not self.allow_private and not all(address_is_public(a) for a in addresses):
            raise UrlRefused("不能推送到本机或内网地址")
        return addresses

    def check(self, url: str) -> str:
        """Validates a URL an admin saves; returns it trimmed."""
        parts = self.parse(url)
        self._addresses(parts)
        return parts.geturl()

    def target(self, url: str) -> Target:
        """Resolves and checks the URL right before sending; the request goes to the returned address."""
        parts = self.parse(url)
        address = self._addresses(parts)[0]
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        netloc = f"[{ip}]" if ip.version == 6 else str(ip)
        if parts.port:
            netloc += f":{parts.port}"
        host = parts.hostname or ""
        try:
            ipaddress.ip_address(host)
            sni = None
        except ValueError:
            sni = host if parts.scheme == "https" else None
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        return Target(url=pinned, host_header=parts.netloc, sni_hostname=sni)
