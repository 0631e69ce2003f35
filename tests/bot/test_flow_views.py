"""The bot script pages: save from a template, errors beside the editor, enable/disable, export, roles."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from edudesk.db import Database
from edudesk.demo_flows import K12_FLOW
from tests.conftest import TwoOrgs, login


def test_save_export_toggle_and_delete(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "supervisor")
    template = client.get("/admin/bot/flows?template=k12").text
    assert "k12_trial" in template
    resp = client.post("/admin/bot/flows", data={"definition": json.dumps(K12_FLOW, ensure_ascii=False),
                                                 "csrf_token": csrf})
    assert resp.status_code == 200 and "第 1 版" in resp.text
    flow_id = int(resp.text.split('id="flow-')[1].split('"')[0])
    exported = client.get(f"/admin/bot/flows/{flow_id}/export")
    assert exported.status_code == 200 and json.loads(exported.text)["key"] == "k12_trial"
    assert "停用" in client.post(f"/admin/bot/flows/{flow_id}/disable", data={"csrf_token": csrf}).text
    assert client.post(f"/admin/bot/flows/{flow_id}/delete", data={}).status_code == 400  # no CSRF token
    assert "已删除" in client.post(f"/admin/bot/flows/{flow_id}/delete", data={"csrf_token": csrf}).text
    assert client.get(f"/admin/bot/flows/{flow_id}").status_code == 404


def test_invalid_scripts_are_refused_beside_the_editor(client: TestClient, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "admin")
    broken = {**K12_FLOW, "steps": [{"kind": "say", "id": "a", "text": "<script>x</script>", "next": "nowhere"}]}
    for raw in ("{不是 JSON", json.dumps(broken, ensure_ascii=False), ""):
        resp = client.post("/admin/bot/flows", data={"definition": raw, "csrf_token": csrf})
        assert resp.status_code == 422 and 'class="field-error"' in resp.text
        assert "<script>x</script>" not in resp.text  # the kept input is escaped


def test_agents_cannot_manage_scripts(client: TestClient, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "agent")
    assert client.get("/admin/bot/flows").status_code == 403
    assert client.post("/admin/bot/flows", data={"definition": "{}", "csrf_token": csrf}).status_code == 403
