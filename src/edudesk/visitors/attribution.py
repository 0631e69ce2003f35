"""Where a visit came from, read from its landing URL and referrer: UTM parameters, ad click ids, the search engine
and keyword, the referring host, and the kind of source reports group by (docs/visitors.md, "The attribution dict").

Pure functions of two strings, no I/O: the beacon path calls them for every page view. Values are cut to what the
columns and the lead's attribution hold, and a referrer on the landing page's own host is no source at all (the
visitor moved inside the site).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# Ad platforms' click ids, in the order they are looked for: Baidu 营销, Ocean Engine (Douyin / 头条), Tencent ads.
CLICK_IDS = ("bd_vid", "clickid", "gdt_vid", "qz_gdt")
PAID_MEDIA = frozenset({"cpc", "ppc", "paid", "cpm", "cpa", "sem", "paidsearch", "paid_search", "paid-search",
                        "paid_social", "paidsocial", "display", "ad", "ads"})
MAX_VALUE = 200

# host suffix → (engine, the query parameters carrying the keyword, in order of preference)
SEARCH_ENGINES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("baidu.com", "baidu", ("wd", "word", "kw")),
    ("sogou.com", "sogou", ("query", "keyword")),
    ("so.com", "360", ("q",)),
    ("sm.cn", "shenma", ("q",)),
    ("bing.com", "bing", ("q",)),
    ("so.toutiao.com", "toutiao", ("keyword",)),
    ("yandex.ru", "yandex", ("text",)),
    ("duckduckgo.com", "duckduckgo", ("q",)),
)
SOCIAL_HOSTS = ("weixin.qq.com", "wx.qq.com", "douyin.com", "iesdouyin.com", "weibo.com", "weibo.cn",
                "xiaohongshu.com", "xhslink.com", "zhihu.com", "bilibili.com", "b23.tv", "kuaishou.com",
                "toutiao.com", "qzone.qq.com", "douban.com", "facebook.com", "twitter.com", "x.com", "t.co",
                "linkedin.com", "instagram.com")
SOURCE_KINDS = ("ad", "campaign", "search", "social", "referral", "direct")
SOURCE_KIND_LABELS = {"ad": "广告", "campaign": "推广活动", "search": "搜索", "social": "社交媒体",
                      "referral": "外部链接", "direct": "直接访问"}
ENGINE_LABELS = {"baidu": "百度", "sogou": "搜狗", "360": "360 搜索", "shenma": "神马", "bing": "必应",
                 "google": "谷歌", "toutiao": "头条搜索", "yandex": "Yandex", "duckduckgo": "DuckDuckGo"}


def _clip(value: str, limit: int = MAX_VALUE) -> str:
    return value.strip()[:limit]


def _host(url: str) -> str:
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    return host.lower().rstrip(".")


def _params(url: str) -> dict[str, str]:
    """The first value of each query parameter, also of a hash-router's query (``/#/page?utm_source=x``)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return {}
    found: dict[str, str] = {}
    fragment_query = parts.fragment.split("?", 1)[1] if "?" in parts.fragment else ""
    for query in (parts.query, fragment_query):
        for key, value in parse_qsl(query, keep_blank_values=False):
            found.setdefault(key.lower(), value)
    return found


def _on(host: str, suffix: str) -> bool:
    return host == suffix or host.endswith("." + suffix)


def search_engine(referrer: str) -> tuple[str, str] | None:
    """The engine and the keyword (empty when the engine hides it) of a search-result referrer, else None."""
    host = _host(referrer)
    if not host:
        return None
    params = _params(referrer)
    for suffix, engine, keys in SEARCH_ENGINES:
        if _on(host, suffix):
            return engine, next((_clip(params[k]) for k in keys if params.get(k, "").strip()), "")
    labels = host.split(".")
    if "google" in labels[:-1] and labels[-1] != "google":  # www.google.com, google.com.hk, google.co.jp
        return "google", _clip(params.get("q", ""))
    return None


def attribution(landing_url: str, referrer: str) -> dict[str, str]:
    """The attribution dict of a visit landing on ``landing_url`` from ``referrer`` (keys absent when unknown;
    device, os, browser, province and city are added by the caller)."""
    source: dict[str, str] = {}
    params = _params(landing_url)
    for key in UTM_KEYS:
        if params.get(key, "").strip():
            source[key] = _clip(params[key])
    for key in CLICK_IDS:
        if params.get(key, "").strip():
            source["click_id_kind"], source["click_id"] = key, _clip(params[key])
            break
    ref_host, own_host = _host(referrer), _host(landing_url)
    if ref_host and ref_host != own_host:
        source["referrer_host"] = ref_host[:MAX_VALUE]
        found = search_engine(referrer)
        if found is not None:
            source["search_engine"] = found[0]
            if found[1]:
                source["search_keyword"] = found[1]
    if landing_url.strip():
        source["landing_page"] = _clip(landing_url, 1000)
    return source


def source_kind(source: dict[str, str]) -> str:
    """``ad`` (a click id or a paid utm_medium), ``campaign`` (other UTM), ``search``, ``social``, ``referral``
    or ``direct``."""
    if source.get("click_id") or source.get("utm_medium", "").lower() in PAID_MEDIA:
        return "ad"
    if any(source.get(k) for k in UTM_KEYS):
        return "campaign"
    if source.get("search_engine"):
        return "search"
    host = source.get("referrer_host", "")
    if host and any(_on(host, s) for s in SOCIAL_HOSTS):
        return "social"
    if host:
        return "referral"
    return "direct"


def is_internal(url: str, referrer: str) -> bool:
    """A referrer on the page's own host: a move inside the site, not a new source."""
    ref = _host(referrer)
    return bool(ref) and ref == _host(url)
