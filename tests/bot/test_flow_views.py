"""The bot script pages: save from a template, errors beside the editor, enable/disable, export, roles, and the
form editor's data: the flow embedded safely, the org's lead-card fields, every problem of a refused save."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient

from edudesk.bot.flows.templates import K12_FLOW
from edudesk.db import Database
from edudesk.leads import service as leads_service
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


# ---- the form editor -----------------------------------------------------------------------------------------------

EDITOR_DATA = re.compile(r'<script type="application/json" id="flow-editor-data">(.*?)</script>', re.S)
HOSTILE = "</script><script>alert(1)</script>"


def editor_data(html: str) -> dict[str, Any]:
    """The JSON block the form editor starts from (the first ``</script>`` after it ends it, as in a browser)."""
    match = EDITOR_DATA.search(html)
    assert match, "no editor data on the page"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_editor_embeds_the_flow_and_the_org_fields_safely(client: TestClient, database: Database,
                                                         orgs: TwoOrgs) -> None:
    with database.session() as session:
        leads_service.add_custom_field(session, orgs.a.id, "education", "学历", "single", ["本科", "大专"])
        leads_service.add_custom_field(session, orgs.b.id, "budget", "预算", "text")
        session.commit()
    csrf = login(client, "alpha", "supervisor")
    hostile = {**K12_FLOW, "name": "<b>试听</b>", "steps": [{"kind": "say", "id": "hello", "text": HOSTILE},
                                                            *K12_FLOW["steps"][1:]]}
    saved = client.post("/admin/bot/flows", data={"definition": json.dumps(hostile, ensure_ascii=False),
                                                  "csrf_token": csrf})
    assert saved.status_code == 200
    flow_id = int(saved.text.split('id="flow-')[1].split('"')[0])

    page = client.get(f"/admin/bot/flows/{flow_id}").text
    assert HOSTILE not in page and "<script>alert(1)" not in page and "<b>试听</b>" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in page  # the no-JS textarea keeps it, escaped
    data = editor_data(page)
    assert data["flow"]["steps"][0]["text"] == HOSTILE and data["flow"]["name"] == "<b>试听</b>"
    assert data["flow"]["version"] == 1 and data["problems"] == []
    keys = [f["key"] for f in data["fields"]]
    assert keys[:2] == ["name", "phone"] and "education" in keys and "budget" not in keys  # the org's own only
    assert {"key": "education", "label": "学历", "builtin": False, "enabled": True} in data["fields"]
    # The editor, its step kinds and the script; the JSON textarea stays as the fallback and the advanced tab.
    for piece in ('id="flow-editor"', 'id="fe-tpl-step-ask_field"', 'id="fe-tpl-row-case"', "/static/flow_editor.js",
                  'name="definition"', "高级：JSON", "编辑：&lt;b&gt;试听&lt;/b&gt;（第 1 版）"):
        assert piece in page, piece
    assert client.get("/static/flow_editor.js").status_code == 200
    assert client.get("/static/flow_editor.css").status_code == 200


def test_saving_reopens_the_stored_flow_with_its_new_version(client: TestClient, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "admin")
    raw = json.dumps(K12_FLOW, ensure_ascii=False)
    client.post("/admin/bot/flows", data={"definition": raw, "csrf_token": csrf})
    resp = client.post("/admin/bot/flows", data={"definition": raw, "csrf_token": csrf})
    assert resp.status_code == 200 and "第 2 版" in resp.text
    flow = editor_data(resp.text)["flow"]
    assert flow["version"] == 2 and [s["id"] for s in flow["steps"]] == [s["id"] for s in K12_FLOW["steps"]]
    assert 'class="fe-editing"' in resp.text


def test_a_refused_save_lists_every_problem_with_its_path(client: TestClient, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "supervisor")
    steps = [dict(s) for s in K12_FLOW["steps"]]
    steps[0]["next"] = "nowhere"  # a dangling jump
    del steps[5]["prompt"]  # a required text left out
    steps[6]["alternatives"] = ["wechat", "shoe_size"]  # not a field of this org's lead card
    broken = {**K12_FLOW, "steps": steps, "triggers": [{"kind": "keywords", "keywords": []}]}
    resp = client.post("/admin/bot/flows", data={"definition": json.dumps(broken, ensure_ascii=False),
                                                 "csrf_token": csrf})
    assert resp.status_code == 422
    data = editor_data(resp.text)
    assert data["flow"] == broken  # what was submitted comes back into the form, nothing lost
    paths = {p["path"]: p["message"] for p in data["problems"]}
    assert paths.keys() >= {"triggers[0].keywords", "steps[5].prompt"}
    for path in paths:
        assert f'data-path="{path}"' in resp.text  # listed above the editor, for the script to locate
    # The graph and field checks need a flow that parses: fixing the field-level problems reveals them.
    steps[5]["prompt"] = "怎么称呼您？"
    fixed = {**broken, "triggers": K12_FLOW["triggers"]}
    resp = client.post("/admin/bot/flows", data={"definition": json.dumps(fixed, ensure_ascii=False),
                                                 "csrf_token": csrf})
    problems = editor_data(resp.text)["problems"]
    assert {"path": "steps[0].next", "message": "跳转目标「nowhere」不存在"} in problems
    assert {"path": "steps[6].alternatives[1]", "message": "未知的名片字段「shoe_size」"} in problems


def test_not_json_and_stale_pages_are_reported_without_a_path(client: TestClient, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "admin")
    resp = client.post("/admin/bot/flows", data={"definition": "{不是 JSON", "csrf_token": csrf})
    data = editor_data(resp.text)
    assert resp.status_code == 422 and data["flow"] is None
    assert data["problems"][0]["path"] == "" and "JSON" in data["problems"][0]["message"]
    assert "{不是 JSON" in resp.text  # kept in the textarea to fix
    resp = client.post("/admin/bot/flows", data={"definition": json.dumps(K12_FLOW), "csrf_token": "stale"})
    assert resp.status_code == 400 and editor_data(resp.text)["problems"][0]["message"] == "页面已过期，请刷新后重试"


def test_the_editor_speaks_the_admins_language(client: TestClient, orgs: TwoOrgs) -> None:
    login(client, "alpha", "admin")
    client.cookies.set("edudesk_lang", "en")
    page = client.get("/admin/bot/flows?template=exam").text
    for words in ("Advanced: JSON", 'data-label-step="Step {n}"', "Ask for a lead-card field", "If booked, go to"):
        assert words in page, words
    assert editor_data(page)["flow"]["key"] == "exam_prep"
