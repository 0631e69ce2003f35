"""The script editor and time variables: templates that use them save; an unknown variable is refused with a
message beside the field it is in, and nothing submitted is lost."""

from __future__ import annotations

import copy
import json
from typing import Any

from fastapi.testclient import TestClient

from edudesk.bot.flows.templates import K12_FLOW, OFF_HOURS_FLOW
from tests.bot.test_flow_views import editor_data
from tests.conftest import TwoOrgs, login


def post(client: TestClient, csrf: str, flow: dict[str, Any]) -> Any:
    return client.post("/admin/bot/flows", data={"definition": json.dumps(flow, ensure_ascii=False),
                                                 "csrf_token": csrf})


def test_templates_with_variables_save(client: TestClient, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "admin")
    for flow in (K12_FLOW, OFF_HOURS_FLOW):
        assert "{reply_time}" in json.dumps(flow, ensure_ascii=False)
        resp = post(client, csrf, flow)
        assert resp.status_code == 200 and "第 1 版" in resp.text
    page = client.get("/admin/bot/flows").text
    assert "{next_open}" in page and "{reply_time}" in page  # the variables are listed for the admin


def test_an_unknown_variable_is_refused_beside_its_field(client: TestClient, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "supervisor")
    flow = copy.deepcopy(OFF_HOURS_FLOW)
    flow["steps"][0]["text"] = "老师{nxet_open}上班～<b>hi</b>"
    flow["steps"][3]["prompt"] = "留个电话？{next_open}{reply_time}"  # known ones are fine
    flow["steps"][3]["on_fail_text"] = "{call_time}"
    resp = post(client, csrf, flow)
    assert resp.status_code == 422
    data = editor_data(resp.text)
    assert data["flow"] == flow  # nothing submitted is lost
    problems = {p["path"]: p["message"] for p in data["problems"]}
    assert problems == {
        "steps[0].text": "未知的变量「{nxet_open}」，可用的变量：{next_open}、{reply_time}",
        "steps[3].on_fail_text": "未知的变量「{call_time}」，可用的变量：{next_open}、{reply_time}",
    }
    for path in problems:
        assert f'data-path="{path}"' in resp.text  # the editor script puts the message beside that field
    assert "<b>hi</b>" not in resp.text  # escaped where it is shown
