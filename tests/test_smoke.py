from fastapi.testclient import TestClient

from tests.conftest import TwoOrgs, login


def test_login_and_console(client: TestClient, orgs: TwoOrgs) -> None:
    login(client, "alpha", "agent")
    resp = client.get("/console")
    assert resp.status_code == 200
    assert "排队中" in resp.text


def test_request_urls_with_access_tokens_never_reach_the_log() -> None:
    """WeChat and WeCom take the access token in the query string; httpx logs URLs at INFO."""
    import logging

    from edudesk.logsetup import configure_logging

    configure_logging("DEBUG")
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert not logging.getLogger("httpcore").isEnabledFor(logging.INFO)
