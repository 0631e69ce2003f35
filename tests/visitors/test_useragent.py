import ipaddress

import pytest

from edudesk.visitors.location import locate, prefix
from edudesk.visitors.useragent import describe

IPHONE_WECHAT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Mobile/15E148 MicroMessenger/8.0.40(0x1800282c) NetType/WIFI Language/zh_CN")
ANDROID = ("Mozilla/5.0 (Linux; Android 13; V2227A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
           "Mobile Safari/537.36")
ANDROID_TABLET = ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
                  "Safari/537.36")
IPAD = ("Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.0 "
        "Mobile/15E148 Safari/604.1")
WINDOWS_EDGE = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
                "Safari/537.36 Edg/120.0.0.0")
MAC_SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 "
              "Safari/605.1.15")


@pytest.mark.parametrize(("ua", "device", "os", "browser"), [
    (IPHONE_WECHAT, "mobile", "iOS", "WeChat Browser"),
    (ANDROID, "mobile", "Android", "Chrome"),
    (ANDROID_TABLET, "tablet", "Android", "Chrome"),
    (IPAD, "tablet", "iOS", "Mobile Safari"),
    (WINDOWS_EDGE, "desktop", "Windows", "Edge"),
    (MAC_SAFARI, "desktop", "Mac OS X", "Safari"),
])
def test_browsers(ua: str, device: str, os: str, browser: str) -> None:
    agent = describe(ua)
    assert (agent.device, agent.os, agent.browser, agent.is_bot) == (device, os, browser, False)


@pytest.mark.parametrize("ua", [
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)",
    "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; "
    "Bytespider; spider-feedback@bytedance.com)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
    "python-requests/2.31.0", "curl/8.0.1", "", "   ",
])
def test_crawlers_and_headless(ua: str) -> None:
    assert describe(ua).is_bot


@pytest.mark.parametrize(("address", "expected"), [
    ("203.0.113.77", "203.0.113.0/24"), ("2001:db8:1:2:3::9", "2001:db8:1::/48"),
    ("::ffff:198.51.100.9", "198.51.100.0/24"), ("", ""), (None, ""), ("not-an-ip", ""), ("1.2.3.4/8", ""),
])
def test_prefix_never_keeps_the_address(address: str | None, expected: str) -> None:
    assert prefix(address) == expected


@pytest.mark.parametrize("address", [
    "0.0.0.0", "255.255.255.255", "10.1.2.3", " 192.168.0.1 ", "256.1.1.1", "1.2.3.04", "01.2.3.4", "1.2.3",
    "1.2.3.4.5", "1..3.4", "1.2.3.-4", "1.2.3.+4", "١.٢.٣.٤", "1.2.3.²", "1.2.3.4 ", "1.2.3.0x1", "::1", "fe80::1%eth0",
    "::ffff:10.0.0.1", "1.2.3.4\n", "1.2.3.1000",
])
def test_the_ipv4_shortcut_agrees_with_ipaddress(address: str) -> None:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        expected = ""
    else:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        expected = str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 48}", strict=False))
    assert prefix(address) == expected


def test_no_location_database_shipped() -> None:
    assert locate("203.0.113.77") == ("", "")
