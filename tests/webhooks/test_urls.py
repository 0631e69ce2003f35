"""The SSRF guard: schemes, credentials, private targets by address or by name, and address pinning."""

from __future__ import annotations

import pytest

from edudesk.webhooks.urls import UrlPolicy, UrlRefused


def resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]
    return resolve


POLICY = UrlPolicy(resolve=resolver({"hooks.example.com": ["93.184.216.34"], "evil.example.com": ["10.0.0.5"],
                                     "mixed.example.com": ["93.184.216.34", "127.0.0.1"],
                                     "v6.example.com": ["2606:2800:220:1::1"]}))


@pytest.mark.parametrize("url", [
    "ftp://hooks.example.com/x", "file:///etc/passwd", "gopher://hooks.example.com", "javascript:alert(1)",
    "http://user:pw@hooks.example.com/x", "http://user@hooks.example.com/x", "http:///nohost",
    "http://127.0.0.1/x", "http://127.1.2.3:8080/x", "http://localhost/x", "http://api.localhost/x",
    "http://10.1.2.3/x", "http://172.16.0.1/x", "http://192.168.1.1/x", "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/x", "http://0.0.0.0/x", "http://[::1]/x", "http://[fe80::1]/x", "http://[fc00::1]/x",
    "http://[::ffff:127.0.0.1]/x", "http://224.0.0.1/x", "http://evil.example.com/x", "http://mixed.example.com/x",
    "http://unknown.example.com/x", "http://hooks.example.com:99999/x", "",
])
def test_refused(url: str) -> None:
    with pytest.raises(UrlRefused):
        POLICY.check(url)


def test_public_urls_pass_and_are_pinned_to_the_checked_address() -> None:
    assert POLICY.check(" https://hooks.example.com/edudesk?x=1 ") == "https://hooks.example.com/edudesk?x=1"
    target = POLICY.target("https://hooks.example.com:8443/edudesk?x=1")
    assert target.url == "https://93.184.216.34:8443/edudesk?x=1"
    assert target.host_header == "hooks.example.com:8443" and target.sni_hostname == "hooks.example.com"
    v6 = POLICY.target("http://v6.example.com/h")
    assert v6.url == "http://[2606:2800:220:1::1]/h" and v6.sni_hostname is None


def test_dns_rebinding_is_caught_at_delivery_time() -> None:
    table = {"rebind.example.com": ["93.184.216.34"]}
    policy = UrlPolicy(resolve=resolver(table))
    policy.check("http://rebind.example.com/x")
    table["rebind.example.com"] = ["127.0.0.1"]
    with pytest.raises(UrlRefused):
        policy.target("http://rebind.example.com/x")


def test_allow_private_opens_local_targets_but_not_other_schemes() -> None:
    policy = UrlPolicy(allow_private=True)
    assert policy.target("http://127.0.0.1:9000/hook").url == "http://127.0.0.1:9000/hook"
    with pytest.raises(UrlRefused):
        policy.check("ftp://127.0.0.1/")
    with pytest.raises(UrlRefused):
        policy.check("http://a:b@127.0.0.1/")
