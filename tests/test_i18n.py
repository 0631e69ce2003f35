"""Chinese first, English from the Babel catalogue: every UI string in the templates has a translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from fastapi.testclient import TestClient

from edudesk.i18n import LOCALE_DIR, Catalogues, pick_locale, set_locale
from tests.conftest import TwoOrgs, login

TEMPLATES = Path(__file__).resolve().parents[1] / "src/edudesk/templates"


def template_strings() -> set[str]:
    found = extract_from_dir(str(TEMPLATES), method_map=[("**.html", "jinja2")],
                             options_map={"**.html": {"extensions": "jinja2.ext.i18n"}})
    return {msg for _, _, msg, _, _ in found if isinstance(msg, str)}


def test_every_template_string_has_an_english_translation() -> None:
    strings = template_strings()
    assert len(strings) > 50
    catalogues = Catalogues(LOCALE_DIR)
    token = set_locale("en")
    try:
        missing = sorted(s for s in strings if catalogues.gettext(s) == s)
    finally:
        set_locale("zh")
        del token
    assert not missing, f"add English for: {missing} (scripts/update_catalogue.py)"


def test_locale_choice() -> None:
    assert pick_locale(None, None) == "zh"
    assert pick_locale(None, "en-US,en;q=0.9") == "en"
    assert pick_locale(None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert pick_locale("zh", "en-US") == "zh"
    assert pick_locale("fr", None) == "zh"


def test_pages_are_chinese_by_default_and_english_on_request(client: TestClient, orgs: TwoOrgs) -> None:
    assert "登录客服工作台" in client.get("/login").text
    client.cookies.set("edudesk_lang", "en")
    page = client.get("/login").text
    assert "Sign in to the service console" in page and "登录客服工作台" not in page
    login(client, "alpha", "agent")
    console = client.get("/console").text
    assert "My conversations" in console and "Nobody is waiting" in console


def test_language_switch_link_sets_cookie(client: TestClient, orgs: TwoOrgs) -> None:
    resp = client.get("/lang/en", follow_redirects=False)
    assert resp.status_code == 303 and "edudesk_lang=en" in resp.headers["set-cookie"]
    resp = client.get("/lang/xx", follow_redirects=False)
    assert "edudesk_lang=zh" in resp.headers["set-cookie"]


def test_an_edited_catalogue_is_read_again(tmp_path: Path) -> None:
    """Catalogues are parsed once per version of the file and shared: a changed .po must not be served stale."""
    po = tmp_path / "en" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid ""\nmsgstr ""\n\nmsgid "学费"\nmsgstr "Fees"\n', encoding="utf-8")
    token = set_locale("en")
    try:
        assert Catalogues(tmp_path).gettext("学费") == "Fees"
        assert Catalogues(tmp_path).gettext("学费") == "Fees"  # from the cache
        po.write_text('msgid ""\nmsgstr ""\n\nmsgid "学费"\nmsgstr "Tuition fees"\n', encoding="utf-8")
        assert Catalogues(tmp_path).gettext("学费") == "Tuition fees"
    finally:
        set_locale("zh")
        del token
