"""What a bad URL gives: a page for a person in a browser, the ``{"error": …}`` JSON for the API and scripts."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import TwoOrgs, login

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_a_browser_gets_a_page_for_an_unknown_or_malformed_url(client: TestClient, orgs: TwoOrgs) -> None:
    login(client, "alpha", "admin")
    missing = client.get("/no-such-page", headers=BROWSER)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "这个页面不存在" in missing.text and "返回工作台" in missing.text
    malformed = client.get("/tickets/settings", headers=BROWSER)  # a ticket id that is not a number
    assert malformed.status_code == 422
    assert malformed.headers["content-type"].startswith("text/html") and "输入有误" in malformed.text
    client.cookies.set("edudesk_lang", "en")
    assert "This page does not exist." in client.get("/no-such-page", headers=BROWSER).text


def test_scripts_htmx_and_the_api_still_get_json(client: TestClient, orgs: TwoOrgs) -> None:
    login(client, "alpha", "admin")
    for path, headers in (("/no-such-page", {}), ("/api/v1/no-such", BROWSER),
                          ("/no-such-page", {**BROWSER, "hx-request": "true"}),
                          ("/tickets/settings", {"accept": "application/json"})):
        resp = client.get(path, headers=headers)
        assert resp.status_code in (404, 422), path
        assert resp.json()["error"]["code"] in ("not_found", "invalid_request"), (path, headers)
