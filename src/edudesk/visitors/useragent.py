"""Device, OS and browser of a user agent (``ua-parser`` with its built-in rules, no I/O), and whether it is a
crawler or a headless browser — such visits are stored but never listed or counted (docs/visitors.md)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import ua_parser

MAX_UA = 1000
# ua-parser names most crawlers "Spider"; these catch what it does not: automation, HTTP libraries, link previews.
BOT_RE = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|headless|phantomjs|puppeteer|playwright|selenium|webdriver|lighthouse|"
    r"python-requests|python-urllib|aiohttp|httpx|curl/|wget/|go-http-client|java/|okhttp|libwww|scrapy|"
    r"node-fetch|axios/|facebookexternalhit|bytespider|yisouspider|360spider|sogou web|petalbot|applebot|"
    r"preview|monitor|uptime|pingdom", re.IGNORECASE)
TABLET_RE = re.compile(r"ipad|tablet|sm-[tpx]\d|kindle|silk/|playbook|mediapad|matepad|\bpad\b", re.IGNORECASE)
MOBILE_RE = re.compile(r"mobi|iphone|ipod|android|harmonyos|windows phone|micromessenger", re.IGNORECASE)


@dataclass(frozen=True)
class Agent:
    device: str  # "mobile" | "tablet" | "desktop" | "other" | "" (unknown)
    os: str
    browser: str
    is_bot: bool


@functools.lru_cache(maxsize=4096)
def describe(user_agent: str) -> Agent:
    """The agent behind a User-Agent header; an empty one is treated as a bot (every browser sends one)."""
    ua = user_agent.strip()[:MAX_UA]
    if not ua:
        return Agent("", "", "", True)
    result = ua_parser.parse(ua)
    browser = result.user_agent.family if result.user_agent else ""
    os_name = result.os.family if result.os else ""
    device_family = result.device.family if result.device else ""
    is_bot = device_family == "Spider" or bool(BOT_RE.search(ua))
    if is_bot:
        device = "other"
    elif TABLET_RE.search(ua) or (os_name == "Android" and "mobile" not in ua.lower()):
        device = "tablet"
    elif MOBILE_RE.search(ua):
        device = "mobile"
    elif os_name in ("Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora"):
        device = "desktop"
    else:
        device = "other"
    return Agent(device, "" if os_name == "Other" else os_name[:40], "" if browser == "Other" else browser[:40],
                 is_bot)
