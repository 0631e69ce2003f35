"""Login, logout, roles, the admin user pages and the audit page, through the real app on both databases."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from babel.messages.pofile import read_po
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape

from edudesk import i18n
from edudesk.app import create_app
from edudesk.audit import service as audit_service
from edudesk.audit.service import Actor
from edudesk.auth import service as auth_service
from edudesk.auth.models import Role, User
from edudesk.db import Database
from edudesk.routing import service as routing_service
from edudesk.settings import Settings
from tests.conftest import PASSWORD, TwoOrgs, csrf_from, login

HOSTILE = "<script>alert(1)</script>"
EN_CATALOGUE = Path(i18n.LOCALE_DIR) / "en" / "LC_MESSAGES" / "messages.po"


def post_login(client: TestClient, org: str, username: str, password: str, csrf: str | None = "page"
               ) -> httpx.Response:
    """Submits the login form; ``csrf="page"`` takes the token from a fresh GET /login."""
    token = csrf_from(client.get("/login").text) if csrf == "page" else csrf
    data = {"org": org, "username": username, "password": password}
    if token is not None:
        data["csrf_token"] = token
    return client.post("/login", data=data, follow_redirects=False)


def assert_logged_out(client: TestClient) -> None:
    resp = client.get("/console", follow_redirects=False)
    assert resp.status_code == 303, resp.status_code
    assert resp.headers["location"] == "/login"


def get_user(database: Database, user_id: int) -> User:
    with database.session() as session:
        user = session.get(User, user_id)
        assert user is not None
        return user


def find_by_name(database: Database, org_id: int, username: str) -> User | None:
    with database.session() as session:
        return auth_service.find_user(session, org_id, username)


def create_form(page_html: str) -> str:
    """The 'new account' form of the users page."""
    start = page_html.index('action="/admin/users"')
    return page_html[start:page_html.index("</form>", start)]


def assert_error_beside(form_html: str, field: str, message: str) -> None:
    """The message is shown right after the field's control, before any other control of the form."""
    control = re.search(rf'name="{field}"[^>]*>', form_html)
    assert control, f"no control named {field}"
    rest = form_html[control.end():]
    assert message in rest, f"{message!r} not after field {field}"
    between = rest[:rest.index(message)]
    assert not re.search(r"<(input|select|textarea)\b", between), f"{message!r} is not beside {field}"
    assert "field-error" in between


# --- logging in and out -------------------------------------------------------------------------------------------

def test_login_form_requires_csrf(client: TestClient, app: FastAPI, orgs: TwoOrgs) -> None:
    client.get("/login")  # the session now holds a token; the posts below do not send it
    for token in (None, "", "forged-token-0123456789"):
        resp = post_login(client, "alpha", "agent", PASSWORD, csrf=token)
        assert resp.status_code == 400
        assert "页面已过期" in resp.text
        assert_logged_out(client)
    # A valid token of somebody else's session is as good as a forged one.
    with TestClient(app) as other:
        foreign = csrf_from(other.get("/login").text)
    client.get("/login")
    assert post_login(client, "alpha", "agent", PASSWORD, csrf=foreign).status_code == 400
    assert_logged_out(client)
    resp = post_login(client, "alpha", "agent", PASSWORD)
    assert resp.status_code == 303 and resp.headers["location"] == "/console"
    assert client.get("/console", follow_redirects=False).status_code == 200
    # Logged in, the login page sends you to the console.
    assert client.get("/login", follow_redirects=False).headers["location"] == "/console"


def test_wrong_password_shows_error_beside_form(client: TestClient, orgs: TwoOrgs) -> None:
    resp = post_login(client, "alpha", "agent", "not-the-password")
    assert resp.status_code == 400
    match = re.search(r'<form[^>]*action="/login".*?</form>', resp.text, re.S)
    assert match, "no login form on the error page"
    form = match.group(0)
    assert "用户名或密码错误" in form
    assert 'value="agent"' in form  # the username is kept, the password is not echoed
    assert "not-the-password" not in resp.text
    assert_logged_out(client)
    # Unknown user and unknown org are refused the same careful way, without a 500.
    assert "用户名或密码错误" in post_login(client, "alpha", "ghost", PASSWORD).text
    unknown_org = post_login(client, "no-such-org", "agent", PASSWORD)
    assert unknown_org.status_code == 400 and "机构标识不存在" in unknown_org.text
    empty = post_login(client, "alpha", "agent", "")
    assert empty.status_code == 400 and "请输入用户名和密码" in empty.text
    # The other org's agent with the same username has its own password check and works.
    assert post_login(client, "beta", "agent", PASSWORD).status_code == 303


@pytest.fixture
def throttled_client(settings: Settings, orgs: TwoOrgs) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"login_attempts_per_15min": 3}))
    with TestClient(app) as c:
        yield c


def test_login_throttled_after_limit(throttled_client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    client = throttled_client
    for i in range(3):
        assert post_login(client, "alpha", "agent", f"guess-number-{i}").status_code == 400
    blocked = post_login(client, "alpha", "agent", PASSWORD)  # even the right password
    assert blocked.status_code == 429
    assert "登录尝试过于频繁" in blocked.text
    assert_logged_out(client)
    # Padding the username does not get around the limit.
    assert post_login(client, "alpha", " agent ", PASSWORD).status_code == 429
    with database.session() as session:
        assert get_user(database, orgs.a.users["agent"].id).last_login_at is None
        assert not [e for e in audit_service.recent(session, orgs.a.id) if e.action == "user.login"]
    # Other accounts from the same address still get in (the address has more room than one account).
    assert post_login(client, "alpha", "agent2", PASSWORD).status_code == 303


def test_logout_requires_csrf(client: TestClient, orgs: TwoOrgs) -> None:
    token = login(client, "alpha", "agent")
    for bad in ({}, {"csrf_token": "forged"}):
        resp = client.post("/logout", data=bad, follow_redirects=False)
        assert resp.status_code == 303
        assert client.get("/console", follow_redirects=False).status_code == 200, "logged out without CSRF"
    resp = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/login"
    assert_logged_out(client)


def test_disabled_users_session_rejected_at_once(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    login(client, "alpha", "agent")
    assert client.get("/console", follow_redirects=False).status_code == 200
    with database.session() as session:
        agent = auth_service.get_user(session, orgs.a.id, orgs.a.users["agent"].id)
        auth_service.set_active(session, Actor(orgs.a.id, label="test"), agent, False)
        session.commit()
    assert_logged_out(client)
    htmx = client.get("/console/lists", headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == "/login"
    # Re-enabling does not revive the old cookie; a fresh login is needed and works.
    with database.session() as session:
        agent = auth_service.get_user(session, orgs.a.id, orgs.a.users["agent"].id)
        auth_service.set_active(session, Actor(orgs.a.id, label="test"), agent, True)
        session.commit()
    assert_logged_out(client)
    login(client, "alpha", "agent")


ROLE_PAGES = {  # role → status of /admin/users, /admin/bot, /admin/audit
    "agent": (403, 403, 403),
    "agent2": (403, 403, 403),
    "supervisor": (403, 200, 403),
    "admin": (200, 200, 200),
}


def test_role_checks(client: TestClient, orgs: TwoOrgs) -> None:
    for path in ("/admin/users", "/admin/bot", "/admin/audit"):
        resp = client.get(path, follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"] == "/login", path
    for role, expected in ROLE_PAGES.items():
        client.cookies.clear()
        login(client, "beta" if role == "agent2" else "alpha", role)
        got = tuple(client.get(p, follow_redirects=False).status_code for p in
                    ("/admin/users", "/admin/bot", "/admin/audit"))
        assert got == expected, role
        assert client.get("/console").status_code == 200
    # A non-admin cannot act through the admin forms either.
    client.cookies.clear()
    token = login(client, "alpha", "supervisor")
    resp = client.post("/admin/users", data={"username": "sneaky", "display_name": "x", "password": PASSWORD,
                                             "role": "admin", "csrf_token": token})
    assert resp.status_code == 403
    resp = client.post(f"/admin/users/{orgs.a.users['supervisor'].id}",
                       data={"action": "role", "role": "admin", "csrf_token": token})
    assert resp.status_code == 403


def test_role_change_applies_on_next_request(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    login(client, "alpha", "supervisor")
    assert client.get("/admin/bot", follow_redirects=False).status_code == 200
    with database.session() as session:
        sup = auth_service.get_user(session, orgs.a.id, orgs.a.users["supervisor"].id)
        auth_service.set_role(session, Actor(orgs.a.id, label="test"), sup, "agent")
        session.commit()
    # The role change ends the session (epoch bump); after a new login the narrower role applies.
    assert_logged_out(client)
    login(client, "alpha", "supervisor")
    assert client.get("/admin/bot", follow_redirects=False).status_code == 403


# --- admin user management ----------------------------------------------------------------------------------------

def test_admin_creates_user_and_sees_errors_beside_fields(client: TestClient, app: FastAPI, database: Database,
                                                         orgs: TwoOrgs) -> None:
    token = login(client, "alpha", "admin")

    def create(**fields: str) -> httpx.Response:
        data = {"username": "zhang", "display_name": "张老师", "password": "zhang-password-1", "role": "supervisor",
                "csrf_token": token}
        data.update(fields)
        return client.post("/admin/users", data=data)

    resp = create(password="short")
    assert resp.status_code == 422
    form = create_form(resp.text)
    assert_error_beside(form, "password", "密码至少 8 位")
    assert 'value="zhang"' in form and 'value="张老师"' in form  # what was typed is kept
    assert "short" not in re.sub(r"<[^>]+>", "", form) and 'value="short"' not in form
    resp = create(username="agent")
    assert resp.status_code == 422
    assert_error_beside(create_form(resp.text), "username", "用户名 agent 已存在")
    resp = create(username="bad name!")
    assert resp.status_code == 422
    assert_error_beside(create_form(resp.text), "username", "用户名需为")
    resp = create(display_name="  ")
    assert resp.status_code == 422
    assert_error_beside(create_form(resp.text), "display_name", "显示名称不能为空")
    resp = create(role="root")
    assert resp.status_code == 422
    assert_error_beside(create_form(resp.text), "role", "角色只能是")
    resp = create(csrf_token="")
    assert resp.status_code == 400 and "页面已过期" in resp.text
    assert find_by_name(database, orgs.a.id, "zhang") is None

    resp = create()
    assert resp.status_code == 200
    assert "已创建账号 zhang" in resp.text
    created = find_by_name(database, orgs.a.id, "zhang")
    assert created is not None
    assert (created.display_name, created.role, created.is_active) == ("张老师", Role.supervisor, True)
    assert created.password_hash.startswith("$argon2id$") and "zhang-password-1" not in created.password_hash
    assert find_by_name(database, orgs.b.id, "zhang") is None  # created in the admin's own org only
    # The new account can log in with the initial password.
    with TestClient(app) as fresh:
        assert post_login(fresh, "alpha", "zhang", "zhang-password-1").status_code == 303


def test_admin_manages_existing_users(client: TestClient, app: FastAPI, database: Database,
                                      orgs: TwoOrgs) -> None:
    token = login(client, "alpha", "admin")
    agent_id = orgs.a.users["agent"].id
    agent_client = TestClient(app)
    login(agent_client, "alpha", "agent")

    def act(user_id: int, action: str, **extra: str) -> httpx.Response:
        return client.post(f"/admin/users/{user_id}", data={"action": action, "csrf_token": token, **extra})

    assert act(agent_id, "disable").status_code == 200
    assert get_user(database, agent_id).is_active is False
    assert_logged_out(agent_client)
    assert post_login(agent_client, "alpha", "agent", PASSWORD).status_code == 400
    assert act(agent_id, "enable").status_code == 200
    assert get_user(database, agent_id).is_active is True

    login(agent_client, "alpha", "agent")
    old_hash = get_user(database, agent_id).password_hash
    resp = act(agent_id, "password", password="tiny")
    assert resp.status_code == 422 and "密码至少 8 位" in resp.text
    assert get_user(database, agent_id).password_hash == old_hash
    assert agent_client.get("/console", follow_redirects=False).status_code == 200
    assert act(agent_id, "password", password="reset-by-admin-99").status_code == 200
    assert get_user(database, agent_id).password_hash != old_hash
    assert_logged_out(agent_client)  # a password reset ends existing sessions
    assert post_login(agent_client, "alpha", "agent", PASSWORD).status_code == 400
    assert post_login(agent_client, "alpha", "agent", "reset-by-admin-99").status_code == 303

    assert act(agent_id, "role", role="supervisor").status_code == 200
    assert get_user(database, agent_id).role == Role.supervisor
    resp = act(agent_id, "role", role="emperor")
    assert resp.status_code == 422 and get_user(database, agent_id).role == Role.supervisor
    assert act(agent_id, "explode").status_code == 422
    assert act(agent_id, "disable", csrf_token="forged").status_code == 400
    assert get_user(database, agent_id).is_active is True

    # The admin cannot lock themselves out.
    admin_id = orgs.a.users["admin"].id
    resp = act(admin_id, "disable")
    assert resp.status_code == 422 and "不能停用自己的账号" in resp.text
    resp = act(admin_id, "role", role="agent")
    assert resp.status_code == 422 and "不能降低自己的角色" in resp.text
    me = get_user(database, admin_id)
    assert (me.is_active, me.role) == (True, Role.admin)
    assert client.get("/admin/users").status_code == 200

    # Another org's user is not found, and stays untouched.
    b_agent = orgs.b.users["agent"].id
    for action, extra in (("disable", {}), ("password", {"password": "hijacked-pass-1"}), ("role", {"role": "admin"})):
        assert act(b_agent, action, **extra).status_code == 404
    other = get_user(database, b_agent)
    assert (other.is_active, other.role, other.session_epoch) == (True, Role.agent, 0)
    assert post_login(TestClient(app), "beta", "agent", PASSWORD).status_code == 303


def test_audit_page_lists_actions(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    token = login(client, "alpha", "admin")
    agent_id = orgs.a.users["agent"].id
    client.post("/admin/users", data={"username": "audited", "display_name": "审计", "password": PASSWORD,
                                      "role": "agent", "csrf_token": token})
    for action, extra in (("disable", {}), ("enable", {}), ("password", {"password": "another-pass-1"}),
                          ("role", {"role": "supervisor"})):
        assert client.post(f"/admin/users/{agent_id}",
                           data={"action": action, "csrf_token": token, **extra}).status_code == 200
    with database.session() as session:
        audit_service.record(session, Actor(orgs.b.id, label="beta-only-actor"), "user.disable", "user", 999999)
        session.commit()
    resp = client.get("/admin/audit")
    assert resp.status_code == 200
    text = resp.text
    for action in ("user.login", "user.create", "user.disable", "user.enable", "user.password", "user.role"):
        assert f">{action}<" in text, action
    assert f"user #{agent_id}" in text
    assert "testclient" in text  # the address of the acting admin
    assert "beta-only-actor" not in text and "#999999" not in text
    # Newest first: the role change is listed before the disable.
    assert text.index(">user.role<") < text.index(">user.disable<")


def test_hostile_input_is_escaped(client: TestClient, app: FastAPI, orgs: TwoOrgs) -> None:
    token = login(client, "alpha", "admin")
    resp = client.post("/admin/users", data={"username": "hostile", "display_name": HOSTILE,
                                             "password": PASSWORD, "role": "agent", "csrf_token": token})
    assert resp.status_code == 200
    for page_html in (resp.text, client.get("/admin/users").text):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page_html
        assert "<script>alert(1)" not in page_html
    # Shown back on a failed create too.
    resp = client.post("/admin/users", data={"username": "hostile", "display_name": HOSTILE,
                                             "password": PASSWORD, "role": "agent", "csrf_token": token})
    assert resp.status_code == 422 and "<script>alert(1)" not in resp.text and "&lt;script&gt;" in resp.text
    # The hostile user's own console header shows the escaped name.
    with TestClient(app) as theirs:
        login(theirs, "alpha", "hostile")
        console = theirs.get("/console").text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in console and "<script>alert(1)" not in console
    # What a visitor types into the login form comes back escaped, in text and in attributes.
    client.cookies.clear()
    attr_breakout = '"><script>alert(1)</script>'
    resp = post_login(client, attr_breakout, HOSTILE, "whatever-password")
    assert resp.status_code == 400
    assert "<script>alert(1)" not in resp.text
    assert str(escape(attr_breakout)) in resp.text


# --- language ---------------------------------------------------------------------------------------------------

def test_language_switch_sets_cookie_and_refuses_foreign_redirects(client: TestClient) -> None:
    resp = client.get("/lang/en", headers={"referer": "https://evil.example/phish"}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/console"
    assert client.cookies.get("edudesk_lang") == "en"
    resp = client.get("/lang/klingon", headers={"referer": "http://testserver/login"}, follow_redirects=False)
    assert resp.headers["location"] == "http://testserver/login"
    assert client.cookies.get("edudesk_lang") == "zh"


@pytest.mark.skipif(not EN_CATALOGUE.exists(),
                    reason=f"English catalogue {EN_CATALOGUE} does not exist yet (the lead engineer is writing it)")
def test_language_switch_shows_english_login_page(client: TestClient, orgs: TwoOrgs) -> None:
    with EN_CATALOGUE.open("rb") as fh:
        catalog = read_po(fh, locale="en")
    english = {str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy}
    login_strings = ["登录客服工作台", "机构标识", "用户名", "密码"]
    translated = [s for s in login_strings if s in english]
    assert translated, f"{EN_CATALOGUE} translates none of the login page's strings {login_strings}"
    zh_page = client.get("/login").text
    assert client.get("/lang/en", follow_redirects=False).status_code == 303
    en_page = client.get("/login").text
    assert 'lang="en"' in en_page and 'lang="zh-CN"' in zh_page
    for source in translated:
        assert str(escape(english[source])) in en_page, (source, english[source])
        assert f">{source}<" not in en_page and f">{source}\n" not in en_page, source
    # The error message of a failed login is translated too, when the catalogue has it.
    if "用户名或密码错误" in english:
        resp = post_login(client, "alpha", "agent", "wrong-password-x")
        assert str(escape(english["用户名或密码错误"])) in resp.text
    # And back to Chinese.
    client.get("/lang/zh", follow_redirects=False)
    assert "登录客服工作台" in client.get("/login").text


def test_users_page_shows_each_agents_skill_groups(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    with database.session() as session:
        actor = Actor(orgs.a.id, label="t")
        group = routing_service.create_group(session, actor, "小学数学")
        routing_service.add_member(session, actor, group.id, orgs.a.users["agent"].id, level=4)
        session.commit()
    login(client, "alpha", "admin")
    page = client.get("/admin/users").text
    assert "小学数学 · 4" in page
