"""Security headers, HTTPS behind a trusted proxy, the widget's CORS answers and the per-org allow-list of web
origins (session call, uploads, visitor socket, admin form), on both databases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.websockets import WebSocketDisconnect
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from edudesk.audit.models import AuditEntry
from edudesk.db import Database
from edudesk.orgs import service as orgs_service
from edudesk.security import STAFF_CSP, OriginError, normalize_origin, origin_allowed
from edudesk.settings import Settings
from edudesk.web import TEMPLATE_DIR
from tests.channels.test_web_routes import tiny_png
from tests.conftest import TwoOrgs, login

SESSION = "/api/v1/widget/session"
SITE = "https://www.school-a.example"


def allow(database: Database, org_id: int, *origins: str) -> None:
    with database.session() as session:
        orgs_service.get(session, org_id).widget_origins = list(origins)
        session.commit()


# ---- staff pages ----------------------------------------------------------------------------------------------

def test_staff_pages_carry_the_csp_and_cannot_be_framed(client: TestClient, orgs: TwoOrgs) -> None:
    login(client, "alpha", "admin")
    for url in ("/login", "/console", "/admin/bot", "/admin/kb", "/leads", "/tickets", "/admin/users", "/nowhere"):
        resp = client.get(url, headers={"accept": "text/html"})
        csp = resp.headers["content-security-policy"]
        assert csp == STAFF_CSP, url
        assert "frame-ancestors 'none'" in csp and resp.headers["x-frame-options"] == "DENY"
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert resp.headers["x-content-type-options"] == "nosniff"
    # Over plain HTTP there is no HSTS (a browser ignores it there, and tests on localhost must not pin it).
    assert "strict-transport-security" not in client.get("/login").headers


def test_the_demo_page_stands_in_for_an_institutions_site(client: TestClient, orgs: TwoOrgs) -> None:
    resp = client.get("/demo")
    assert resp.status_code == 200 and "content-security-policy" not in resp.headers


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I), "inline <script>"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "on* handler attribute"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"<style", re.I), "<style> element"),
    (re.compile(r"hx-on|javascript:|hx-vals=['\"]\s*js:", re.I), "htmx eval"),
]


def test_no_template_needs_unsafe_inline() -> None:
    """Every staff template runs under STAFF_CSP: behaviour lives in static/*.js (pages.js: data-confirm-submit …)."""
    found = []
    for path in sorted(Path(TEMPLATE_DIR).rglob("*.html")):
        if path.name == "demo.html":  # an institution's site, not a staff page (no staff CSP)
            continue
        if path.name.endswith("_mail.html"):  # an e-mail body: mail clients honour only inline styles; never served
            continue
        text = re.sub(r"\{#.*?#\}", "", path.read_text(encoding="utf-8"), flags=re.S)
        for pattern, what in INLINE:
            for match in pattern.finditer(text):
                found.append(f"{path.relative_to(TEMPLATE_DIR)}: {what}: {match.group(0)[:60]}")
    assert found == []


def proxied(app: FastAPI) -> ProxyHeadersMiddleware:
    """What `edudesk serve` runs: uvicorn's proxy-header handling, trusting EDUDESK_TRUSTED_PROXIES only."""
    return ProxyHeadersMiddleware(app, trusted_hosts=app.state.ctx.settings.trusted_proxies)  # type: ignore[arg-type]


def test_https_behind_a_trusted_proxy_gets_hsts_and_secure_cookies(app: FastAPI, orgs: TwoOrgs) -> None:
    https = {"x-forwarded-proto": "https", "x-forwarded-for": "198.51.100.4"}
    with TestClient(proxied(app), client=("127.0.0.1", 5000)) as behind_proxy:  # type: ignore[arg-type]
        resp = behind_proxy.get("/login", headers=https)
        assert resp.headers["strict-transport-security"] == "max-age=31536000"
        cookie = resp.headers["set-cookie"]
        assert cookie.startswith("edudesk_session=") and "; Secure" in cookie and "httponly" in cookie.lower()
    with TestClient(proxied(app), client=("203.0.113.66", 5000)) as stranger:  # type: ignore[arg-type]
        resp = stranger.get("/login", headers=https)  # anyone can send the header: not believed from them
        assert "strict-transport-security" not in resp.headers
        assert "secure" not in resp.headers["set-cookie"].lower()


def test_trusted_proxies_decide_the_address_that_limits_count(settings: Settings, orgs: TwoOrgs) -> None:
    from edudesk.app import create_app

    app = create_app(settings.model_copy(update={"rate_widget_session_per_ip": "2/7day"}))
    with TestClient(proxied(app), client=("127.0.0.1", 1)) as proxy:  # type: ignore[arg-type]
        for visitor in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
            for _ in range(2):
                resp = proxy.post(SESSION, json={"org_key": orgs.a.public_key},
                                  headers={"x-forwarded-for": visitor})
                assert resp.status_code == 200, (visitor, resp.text)
        assert proxy.post(SESSION, json={"org_key": orgs.a.public_key},
                          headers={"x-forwarded-for": "198.51.100.1"}).status_code == 429
    with TestClient(proxied(app), client=("203.0.113.5", 1)) as direct:  # type: ignore[arg-type]
        codes = [direct.post(SESSION, json={"org_key": orgs.a.public_key},
                             headers={"x-forwarded-for": f"10.0.0.{i}"}).status_code for i in range(3)]
        assert codes == [200, 200, 429]  # a forged X-Forwarded-For from a stranger changes nothing


# ---- origins --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "normal"), [
    ("https://WWW.School-A.example:443/", "https://www.school-a.example"),
    ("http://localhost:8000", "http://localhost:8000"),
    ("https://*.school.example", "https://*.school.example"),
    ("https://学校.中国", "https://xn--48s290a.xn--fiqs8s"),
])
def test_origins_are_normalised(raw: str, normal: str) -> None:
    assert normalize_origin(raw) == normal


@pytest.mark.parametrize("raw", ["school.example", "ftp://school.example", "https://school.example/path",
                                 "https://user@school.example", "https://school.example?x=1", "javascript:alert(1)",
                                 "https://*", "https://*.example", "https://a.*.example", "https://a b.example",
                                 "https://<script>.example", "https://school.example:99999", "https://\ud800.ex", ""])
def test_bad_origins_are_refused(raw: str) -> None:
    with pytest.raises(OriginError):
        normalize_origin(raw)


def test_origin_matching() -> None:
    assert origin_allowed([], None)  # empty list: any origin, even none
    listed = ["https://www.school-a.example", "https://*.school-b.example"]
    assert origin_allowed(listed, "https://WWW.school-a.example")
    assert origin_allowed(listed, "https://m.school-b.example")
    assert not origin_allowed(listed, "https://school-b.example")  # the apex must be listed itself
    assert not origin_allowed(listed, "https://evilschool-b.example")
    assert not origin_allowed(listed, "http://www.school-a.example")  # scheme matters
    assert not origin_allowed(listed, None) and not origin_allowed(listed, "null")
    assert origin_allowed(listed, "http://127.0.0.1:8000", own_origin="http://127.0.0.1:8000")


def test_widget_session_honours_the_allow_list_and_cors_reflects_only_allowed_origins(
        client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    body = {"org_key": orgs.a.public_key}
    open_resp = client.post(SESSION, json=body, headers={"origin": "https://anyone.example"})
    assert open_resp.status_code == 200  # empty list: any origin
    assert open_resp.headers["access-control-allow-origin"] == "https://anyone.example"
    assert "Origin" in open_resp.headers["vary"]
    allow(database, orgs.a.id, SITE)
    ok = client.post(SESSION, json=body, headers={"origin": SITE})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == SITE
    for origin in ("https://evil.example", None):
        resp = client.post(SESSION, json=body, headers={"origin": origin} if origin else {})
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "origin_not_allowed"
        assert "access-control-allow-origin" not in resp.headers
    # Org b's list is its own.
    assert client.post(SESSION, json={"org_key": orgs.b.public_key},
                       headers={"origin": "https://evil.example"}).status_code == 200
    # A preflight names no org: it is answered, and grants nothing by itself.
    pre = client.options(SESSION, headers={"origin": "https://evil.example", "access-control-request-method": "POST",
                                           "access-control-request-headers": "content-type"})
    assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == "https://evil.example"
    assert pre.headers["access-control-allow-origin"] != "*"
    # Staff pages and the token API answer other sites with no CORS at all.
    for url in ("/login", "/api/v1/leads"):
        assert "access-control-allow-origin" not in client.get(url, headers={"origin": SITE}).headers


def test_uploads_and_the_socket_honour_the_allow_list(client: TestClient, database: Database,
                                                       orgs: TwoOrgs) -> None:
    token = client.post(SESSION, json={"org_key": orgs.a.public_key}).json()["token"]
    allow(database, orgs.a.id, SITE)
    files = {"file": ("a.png", tiny_png(), "image/png")}
    bad = client.post("/api/v1/widget/attachments", files=files,
                      headers={"x-visitor-token": token, "origin": "https://evil.example"})
    assert bad.status_code == 403 and bad.json()["error"]["code"] == "origin_not_allowed"
    good = client.post("/api/v1/widget/attachments", files=files, headers={"x-visitor-token": token, "origin": SITE})
    assert good.status_code == 201
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(
            f"/ws/visitor?token={token}", headers={"origin": "https://evil.example"}) as ws:
        ws.receive_json()
    assert closed.value.code == 4403
    with client.websocket_connect(f"/ws/visitor?token={token}", headers={"origin": SITE}) as ws:
        assert ws.receive_json()["type"] == "hello"


def test_admins_edit_the_allow_list(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "admin")
    page = client.get("/admin/bot")
    assert "允许嵌入在线咨询的网站" in page.text and 'name="widget_origins"' in page.text
    resp = client.post("/admin/bot/widget-origins", data={
        "widget_origins": f"{SITE}/\nhttps://*.school-a.example, {SITE.upper()}\n\n", "csrf_token": csrf})
    assert resp.status_code == 200 and "允许的网站已保存" in resp.text
    with database.session() as session:
        assert orgs_service.get(session, orgs.a.id).widget_origins == [SITE, "https://*.school-a.example"]
        assert orgs_service.get(session, orgs.b.id).widget_origins == []
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "org.widget_origins")).one()
        assert entry.org_id == orgs.a.id and entry.detail["origins"] == [SITE, "https://*.school-a.example"]
    bad = client.post("/admin/bot/widget-origins", data={
        "widget_origins": f"{SITE}\nhttps://evil.example/<script>alert(1)</script>", "csrf_token": csrf})
    assert bad.status_code == 422 and "不能带路径或参数" in bad.text and "<script>alert(1)" not in bad.text
    assert client.post("/admin/bot/widget-origins", data={"widget_origins": ""}).status_code == 400
    with database.session() as session:  # nothing changed by the refused posts
        assert orgs_service.get(session, orgs.a.id).widget_origins == [SITE, "https://*.school-a.example"]
    resp = client.post("/admin/bot/widget-origins", data={"widget_origins": "  ", "csrf_token": csrf})
    assert resp.status_code == 200
    with database.session() as session:
        assert orgs_service.get(session, orgs.a.id).widget_origins == []


def test_supervisors_see_but_cannot_edit_the_allow_list(client: TestClient, database: Database,
                                                        orgs: TwoOrgs) -> None:
    allow(database, orgs.a.id, SITE)
    csrf = login(client, "alpha", "supervisor")
    page = client.get("/admin/bot")
    assert SITE in page.text and "只有管理员可以修改" in page.text
    resp = client.post("/admin/bot/widget-origins", data={"widget_origins": "", "csrf_token": csrf},
                       headers={"accept": "text/html"})
    assert resp.status_code == 403
    with database.session() as session:
        assert orgs_service.get(session, orgs.a.id).widget_origins == [SITE]


def test_translated_messages_are_escaped_like_any_other_text() -> None:
    """Newstyle gettext marks its result safe; pages pass error messages that quote input through _()."""
    from edudesk.i18n import Catalogues, set_locale
    from edudesk.web import make_templates

    env = make_templates(Catalogues()).env
    page = env.from_string('<p title="{{ _(x) }}">{{ _(x) }} {{ _("第 %(n)s 行", n=x) }} {{ _("登录") }}</p>')
    html = page.render(x="<script>alert(1)</script>")
    assert "<script>" not in html and html.count("&lt;script&gt;") == 3 and "登录" in html
    set_locale("en")
    try:
        assert env.from_string('{{ _("登录") }}').render() == "Sign in"
    finally:
        set_locale("zh")
