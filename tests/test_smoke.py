from fastapi.testclient import TestClient

from tests.conftest import TwoOrgs, login


def test_login_and_console(client: TestClient, orgs: TwoOrgs) -> None:
    login(client, "alpha", "agent")
    resp = client.get("/console")
    assert resp.status_code == 200
    assert "排队中" in resp.text
