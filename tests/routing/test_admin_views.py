"""The routing admin pages: admins edit skill groups, members, rules and capacity; supervisors only look; agents are
kept out. Bad input is shown beside its field and stores nothing; hostile text is stored literally and shown
escaped; another org's ids are 404 and change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.conversations.models import Conversation
from edudesk.db import Database
from edudesk.i18n import Catalogues, set_locale
from edudesk.routing import service as routing_service
from edudesk.routing.models import (
    STATUS_LABELS,
    STRATEGY_LABELS,
    AgentState,
    RoutingRule,
    SkillGroup,
    SkillGroupMember,
    Strategy,
)
from edudesk.routing.rules import CONDITION_LABELS
from tests.conftest import TwoOrgs, login
from tests.routing.conftest import Team, make_team, online, queue

RULE_FORM: dict[str, Any] = {"name": "少儿英语页面", "channel": "", "page_contains": "", "button": "",
                             "faq_category": "", "contact_tags": "", "vip": "", "group_id": "", "priority": "0",
                             "enabled": "1"}


def post(client: TestClient, url: str, token: str, **fields: Any) -> Any:
    return client.post(url, data={**fields, "csrf_token": token})


def error_after(html: str, field: str, *, within: str = "") -> str:
    """The field error shown right after the named control (its input, select or group of checkboxes), looking
    from ``within`` on when the name is used earlier on the page too."""
    start = html.index(f'name="{field}"', html.index(within) if within else 0)
    is_select = html[:start].rstrip().endswith("<select")
    close = "</fieldset>" if field == "lead_grade" else "</select>" if is_select else ">"
    end = html.index(close, start)
    error = html.index('<p class="field-error"', end)
    assert error - end < 200, f"the error is not beside {field}"
    return html[error:html.index("</p>", error)]


def groups(database: Database, org_id: int) -> dict[str, SkillGroup]:
    with database.session() as session:
        rows = session.scalars(select(SkillGroup).where(SkillGroup.org_id == org_id)).all()
        session.expunge_all()
        return {g.name: g for g in rows}


def rules(database: Database, org_id: int) -> list[RoutingRule]:
    with database.session() as session:
        rows = routing_service.list_rules(session, org_id)
        session.expunge_all()
        return rows


def levels(database: Database, group_id: int) -> dict[int, int]:
    with database.session() as session:
        return {m.user_id: m.level for m in session.scalars(
            select(SkillGroupMember).where(SkillGroupMember.group_id == group_id))}


def make_rule(database: Database, org_id: int, name: str, **fields: Any) -> int:
    with database.session() as session:
        rule = routing_service.save_rule(session, Actor(org_id, label="test"), name=name,
                                         conditions=fields.pop("conditions", {}), group_id=fields.pop("group_id", None),
                                         priority=fields.pop("priority", 0), senior_first=False, **fields)
        session.commit()
        return rule.id


def snapshot(database: Database, org_id: int) -> list[str]:
    """Everything of the org that these pages can change."""
    out = []
    with database.session() as session:
        for model in (SkillGroup, SkillGroupMember, RoutingRule, AgentState):
            for row in session.scalars(select(model).where(model.org_id == org_id).order_by(model.id)):
                out.append(repr(sorted((k, str(v)) for k, v in vars(row).items() if not k.startswith("_"))))
    return out


def audit_actions(database: Database, org_id: int) -> list[str]:
    with database.session() as session:
        return list(session.scalars(select(AuditEntry.action).where(AuditEntry.org_id == org_id)
                                    .order_by(AuditEntry.id)))


# --- who may do what -----------------------------------------------------------------------------------------------


def test_admin_sees_groups_rules_and_agents(client: TestClient, database: Database, team: Team) -> None:
    make_rule(database, team.org_id, "VIP 家长", conditions={"channel": "web", "vip": True}, group_id=team.group_id,
              priority=10)
    make_rule(database, team.org_id, "其余咨询")
    online(database, team.users["zhang"].id, max_concurrent=3)
    login(client, "alpha", "admin")
    page = client.get("/admin/routing")
    assert page.status_code == 200
    html = page.text
    assert 'href="/admin/routing"' in html  # in the navigation
    assert "小学数学" in html and "最空闲优先" in html and "10 分钟" in html
    assert "zhang老师 · 5" in html and "li老师 · 2" in html
    assert "渠道：web；VIP 客户：是" in html and "全部会话" in html
    assert "公共队列" in html and "VIP 客户的优先级至少为 10、A 级线索至少为 5" in html
    assert html.index("VIP 家长") < html.index("其余咨询")
    agent_row = html[html.index(f'id="agent-{team.users["zhang"].id}"'):]
    agent_row = agent_row[:agent_row.index("</tr>")]
    assert "在线" in agent_row and "0 / 3" in agent_row
    other_row = html[html.index(f'id="agent-{team.users["li"].id}"'):]
    assert "离线" in other_row[:other_row.index("</tr>")] and "未打开工作台" in other_row[:other_row.index("</tr>")]


def test_supervisor_sees_everything_read_only(client: TestClient, database: Database, team: Team) -> None:
    rule_id = make_rule(database, team.org_id, "VIP 家长", conditions={"vip": True}, group_id=team.group_id)
    before = snapshot(database, team.org_id)
    token = login(client, "alpha", "supervisor")
    html = client.get("/admin/routing").text
    assert "小学数学" in html and "VIP 家长" in html and "只有管理员可以修改" in html
    assert "/move" not in html and 'action="/admin/routing/groups"' not in html and "/admin/routing/agents/" not in html
    html = client.get(f"/admin/routing/groups/{team.group_id}").text
    assert "zhang老师" in html and "<fieldset disabled" in html and 'class="primary"' not in html
    assert "/members" not in html and "/delete" not in html
    html = client.get(f"/admin/routing/rules/{rule_id}").text
    assert 'value="VIP 家长"' in html and "<fieldset disabled" in html and "保存规则" not in html
    assert client.get("/admin/routing/rules/new").status_code == 403

    gid, uid = team.group_id, team.users["li"].id
    for url, fields in [
        ("/admin/routing/groups", {"name": "主管建的组", "strategy": "least_busy", "queue_timeout_minutes": "5"}),
        (f"/admin/routing/groups/{gid}", {"name": "改名", "strategy": "manual", "queue_timeout_minutes": "0"}),
        (f"/admin/routing/groups/{gid}/delete", {}),
        (f"/admin/routing/groups/{gid}/members", {"user_id": str(team.users["zhao"].id), "level": "5"}),
        (f"/admin/routing/groups/{gid}/members/{uid}", {"level": "5"}),
        (f"/admin/routing/groups/{gid}/members/{uid}/remove", {}),
        ("/admin/routing/rules/new", RULE_FORM),
        (f"/admin/routing/rules/{rule_id}", {**RULE_FORM, "name": "改了"}),
        (f"/admin/routing/rules/{rule_id}/move", {"direction": "down"}),
        (f"/admin/routing/rules/{rule_id}/delete", {}),
        (f"/admin/routing/agents/{uid}", {"max_concurrent": "20"}),
    ]:
        assert post(client, url, token, **fields).status_code == 403, url
    assert snapshot(database, team.org_id) == before


def test_agents_and_strangers_are_kept_out(client: TestClient, database: Database, team: Team) -> None:
    assert client.get("/admin/routing", follow_redirects=False).status_code == 303
    resp = client.post("/admin/routing/groups", data={"name": "x"}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/login"
    token = login(client, "alpha", "agent")
    assert client.get("/admin/routing").status_code == 403
    assert client.get(f"/admin/routing/groups/{team.group_id}").status_code == 403
    assert post(client, "/admin/routing/groups", token, name="客服建的组").status_code == 403
    assert post(client, f"/admin/routing/agents/{team.users['li'].id}", token, max_concurrent="50").status_code == 403
    assert "客服建的组" not in groups(database, team.org_id)


def test_stale_csrf_is_refused_and_keeps_what_was_typed(client: TestClient, database: Database, team: Team) -> None:
    rule_id = make_rule(database, team.org_id, "第一条")
    make_rule(database, team.org_id, "第二条")
    before = snapshot(database, team.org_id)
    login(client, "alpha", "admin")
    resp = post(client, "/admin/routing/groups", "forged", name="少儿英语", strategy="manual",
                queue_timeout_minutes="7")
    assert resp.status_code == 400 and "页面已过期" in resp.text and 'value="少儿英语"' in resp.text
    resp = post(client, "/admin/routing/rules/new", "forged", **{**RULE_FORM, "contact_tags": "老学员"})
    assert resp.status_code == 400 and "页面已过期" in resp.text and 'value="老学员"' in resp.text
    resp = post(client, f"/admin/routing/rules/{rule_id}/move", "", direction="down")
    assert resp.status_code == 400 and "页面已过期" in resp.text
    resp = post(client, f"/admin/routing/agents/{team.users['li'].id}", "forged", max_concurrent="9")
    assert resp.status_code == 400 and "页面已过期" in resp.text and 'value="9"' in resp.text
    for url in (f"/admin/routing/groups/{team.group_id}/delete", f"/admin/routing/rules/{rule_id}/delete",
                f"/admin/routing/groups/{team.group_id}/members/{team.users['li'].id}/remove"):
        assert post(client, url, "forged").status_code == 400
    assert snapshot(database, team.org_id) == before


# --- skill groups and members --------------------------------------------------------------------------------------


def test_admin_creates_edits_and_deletes_a_group(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    token = login(client, "alpha", "admin")
    resp = post(client, "/admin/routing/groups", token, name=" 少儿英语 ", description="3–12 岁",
                strategy="round_robin", queue_timeout_minutes="１５")
    assert resp.status_code == 200 and "已创建技能组：少儿英语" in resp.text and "添加成员" in resp.text
    group = groups(database, orgs.a.id)["少儿英语"]
    assert group.strategy == Strategy.round_robin and group.queue_timeout_minutes == 15
    assert group.description == "3–12 岁" and groups(database, orgs.b.id) == {}

    resp = post(client, f"/admin/routing/groups/{group.id}", token, name="少儿英语", description="",
                strategy="manual", queue_timeout_minutes="0")
    assert resp.status_code == 200 and "已保存技能组：少儿英语" in resp.text
    html = client.get("/admin/routing").text
    row = html[html.index(f'id="group-{group.id}"'):]
    row = row[:row.index("</tr>")]
    assert "手动接入（抢单）" in row and "不超时" in row

    rule_id = make_rule(database, orgs.a.id, "英语页面", conditions={"page_contains": ["/english"]}, group_id=group.id)
    make_rule(database, orgs.a.id, "兜底")
    waiting = queue(database, orgs.a.id, "v1", group_id=group.id)
    page = client.get(f"/admin/routing/groups/{group.id}").text
    assert "指向这个技能组的 1 条分配规则" in page
    resp = post(client, f"/admin/routing/groups/{group.id}/delete", token)
    assert resp.status_code == 200 and "已删除技能组：少儿英语" in resp.text
    assert groups(database, orgs.a.id) == {}
    assert [r.id for r in rules(database, orgs.a.id)] != [rule_id]
    assert [r.name for r in rules(database, orgs.a.id)] == ["兜底"]
    with database.session() as session:
        conv = session.get(Conversation, waiting)
        assert conv is not None and conv.group_id is None  # back to the public queue
    actions = audit_actions(database, orgs.a.id)
    assert {"skill_group.create", "skill_group.update", "skill_group.delete"} <= set(actions)
    assert client.get(f"/admin/routing/groups/{group.id}").status_code == 404


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"name": "  "}, "name", "技能组名称不能为空"),
    ({"name": "组" * 65}, "name", "不超过 64 个字符"),
    ({"name": "小学数学"}, "name", "技能组 小学数学 已存在"),
    ({"strategy": "fastest"}, "strategy", "分配方式不正确"),
    ({"queue_timeout_minutes": "十分钟"}, "queue_timeout_minutes", "排队超时须为 0–1440 分钟"),
    ({"queue_timeout_minutes": "-5"}, "queue_timeout_minutes", "排队超时须为 0–1440 分钟"),
    ({"queue_timeout_minutes": "1441"}, "queue_timeout_minutes", "排队超时须为 0–1440 分钟"),
])
def test_bad_group_input_is_shown_beside_its_field(client: TestClient, database: Database, team: Team,
                                                   fields: dict[str, str], field: str, message: str) -> None:
    token = login(client, "alpha", "admin")
    before = snapshot(database, team.org_id)
    form = {"name": "少儿英语", "description": "新开的组", "strategy": "least_busy", "queue_timeout_minutes": "10",
            **fields}
    resp = post(client, "/admin/routing/groups", token, **form)
    assert resp.status_code == 422 and message in error_after(resp.text, field)
    assert 'value="新开的组"' in resp.text  # what was typed is kept
    if "已存在" not in message:  # the same on the group's own page (renaming: see the next test)
        resp = post(client, f"/admin/routing/groups/{team.group_id}", token,
                    **{**form, "name": fields.get("name", "小学数学")})
        assert resp.status_code == 422 and message in error_after(resp.text, field)
    assert snapshot(database, team.org_id) == before


def test_renaming_onto_another_group_is_refused(client: TestClient, database: Database, team: Team) -> None:
    other = make_team(database, team.org_id, "初中物理", {})
    token = login(client, "alpha", "admin")
    resp = post(client, f"/admin/routing/groups/{other.group_id}", token, name="小学数学", description="",
                strategy="least_busy", queue_timeout_minutes="10")
    assert resp.status_code == 422 and "技能组 小学数学 已存在" in error_after(resp.text, "name")
    assert set(groups(database, team.org_id)) == {"小学数学", "初中物理"}


def test_members_are_added_levelled_and_removed(client: TestClient, database: Database, team: Team,
                                                orgs: TwoOrgs) -> None:
    token = login(client, "alpha", "admin")
    wang = orgs.a.users["agent"]
    page = client.get(f"/admin/routing/groups/{team.group_id}").text
    add_form = page[page.index('id="member-add"'):]
    assert f'<option value="{wang.id}"' in add_form and f'<option value="{team.users["zhang"].id}"' not in add_form

    resp = post(client, f"/admin/routing/groups/{team.group_id}/members", token, user_id=str(wang.id), level="3")
    assert resp.status_code == 200 and "已保存成员：王老师" in resp.text
    assert levels(database, team.group_id)[wang.id] == 3

    resp = post(client, f"/admin/routing/groups/{team.group_id}/members/{wang.id}", token, level="5")
    assert resp.status_code == 200 and levels(database, team.group_id)[wang.id] == 5
    row = resp.text[resp.text.index(f'id="member-{wang.id}"'):]
    assert '<option value="5" selected>' in row[:row.index("</tr>")]

    for bad in ("6", "0", "五", ""):
        resp = post(client, f"/admin/routing/groups/{team.group_id}/members/{wang.id}", token, level=bad)
        assert resp.status_code == 422, bad
        row = resp.text[resp.text.index(f'id="member-{wang.id}"'):]
        assert "技能等级须在 1–5 之间" in row[:row.index("</tr>")]
    assert levels(database, team.group_id)[wang.id] == 5

    resp = post(client, f"/admin/routing/groups/{team.group_id}/members", token, user_id=str(orgs.a.users["agent2"].id),
                level="9")
    assert resp.status_code == 422 and "技能等级须在 1–5 之间" in error_after(resp.text, "level", within="member-add")
    resp = post(client, f"/admin/routing/groups/{team.group_id}/members", token, user_id="", level="1")
    assert resp.status_code == 422 and "请选择要加入的成员" in error_after(resp.text, "user_id", within="member-add")
    # A level change never adds anyone.
    resp = post(client, f"/admin/routing/groups/{team.group_id}/members/{orgs.a.users['agent2'].id}", token, level="2")
    assert resp.status_code == 422 and "该成员不在此技能组" in resp.text
    assert orgs.a.users["agent2"].id not in levels(database, team.group_id)

    resp = post(client, f"/admin/routing/groups/{team.group_id}/members/{wang.id}/remove", token)
    assert resp.status_code == 200 and "已移出成员：王老师" in resp.text
    assert wang.id not in levels(database, team.group_id) and len(levels(database, team.group_id)) == 3
    resp = post(client, f"/admin/routing/groups/{team.group_id}/members/{wang.id}/remove", token)
    assert resp.status_code == 422 and "该成员不在此技能组" in resp.text
    actions = audit_actions(database, team.org_id)
    assert actions.count("skill_group.add_member") == 3 + 2 and "skill_group.remove_member" in actions


# --- routing rules -------------------------------------------------------------------------------------------------


def test_rule_form_stores_every_condition_and_shows_it_back(client: TestClient, database: Database,
                                                            team: Team) -> None:
    token = login(client, "alpha", "admin")
    page = client.get("/admin/routing/rules/new").text
    assert "公共队列（不分组，由客服手动接入）" in page and "本系统已接入：" in page and "web" in page
    form = {**RULE_FORM, "name": "英语 VIP", "channel": "web，wechat_mp", "page_contains": "/english, 暑假班",
            "button": "trial", "faq_category": "课程/少儿英语", "contact_tags": "老学员, 转介绍, 老学员", "vip": "yes",
            "lead_grade": ["A", "b"], "group_id": str(team.group_id), "priority": "20", "senior_first": "1"}
    resp = post(client, "/admin/routing/rules/new", token, **form)
    assert resp.status_code == 200 and "已保存分配规则：英语 VIP" in resp.text
    [rule] = rules(database, team.org_id)
    assert rule.conditions == {"channel": ["web", "wechat_mp"], "page_contains": ["/english", "暑假班"],
                               "button": ["trial"], "faq_category": ["课程/少儿英语"],
                               "contact_tags": ["老学员", "转介绍"], "vip": True, "lead_grade": ["A", "B"]}
    assert (rule.group_id, rule.priority, rule.senior_first, rule.enabled) == (team.group_id, 20, True, True)
    assert "渠道：web、wechat_mp；来源页面包含：/english、暑假班" in resp.text

    page = client.get(f"/admin/routing/rules/{rule.id}").text
    assert 'value="web, wechat_mp"' in page and 'value="老学员, 转介绍"' in page
    assert '<option value="yes" selected>' in page and 'value="A" checked' in page and 'value="C" >' in page
    assert f'<option value="{team.group_id}" selected>' in page and 'value="20"' in page

    resp = post(client, f"/admin/routing/rules/{rule.id}", token,
                **{**RULE_FORM, "name": "英语老客户", "contact_tags": "老学员", "vip": "no", "priority": "0"})
    assert resp.status_code == 200
    [rule] = rules(database, team.org_id)
    assert rule.name == "英语老客户" and rule.conditions == {"contact_tags": ["老学员"], "vip": False}
    assert rule.group_id is None and rule.senior_first is False and rule.enabled is True
    assert "公共队列" in resp.text[resp.text.index(f'id="rule-{rule.id}"'):]

    resp = post(client, f"/admin/routing/rules/{rule.id}", token, **{**RULE_FORM, "enabled": ""})
    assert resp.status_code == 200 and rules(database, team.org_id)[0].enabled is False
    assert rules(database, team.org_id)[0].conditions == {}


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"name": ""}, "name", "规则名称不能为空"),
    ({"name": "规" * 101}, "name", "不超过 100 个字符"),
    ({"priority": "101"}, "priority", "优先级须为 0–100 的整数"),
    ({"priority": "高"}, "priority", "优先级须为 0–100 的整数"),
    ({"priority": "2.5"}, "priority", "优先级须为 0–100 的整数"),
    ({"vip": "maybe"}, "vip", "VIP 条件只能是"),
    ({"lead_grade": ["A", "Z"]}, "lead_grade", "线索等级只能是 A、B、C"),
    ({"contact_tags": "老学员, " + "长" * 101}, "contact_tags", "每项不超过 100 个字"),
    ({"channel": ",".join(f"c{i}" for i in range(31))}, "channel", "最多 30 项"),
    ({"group_id": "数学组"}, "group_id", "请选择技能组"),
])
def test_bad_rule_input_is_shown_beside_its_field(client: TestClient, database: Database, team: Team,
                                                  fields: dict[str, Any], field: str, message: str) -> None:
    rule_id = make_rule(database, team.org_id, "原来的规则", conditions={"button": ["price"]})
    before = snapshot(database, team.org_id)
    token = login(client, "alpha", "admin")
    form = {**RULE_FORM, "page_contains": "/english", **fields}
    for url in ("/admin/routing/rules/new", f"/admin/routing/rules/{rule_id}"):
        resp = post(client, url, token, **form)
        assert resp.status_code == 422, url
        assert message in error_after(resp.text, field)
        assert 'value="/english"' in resp.text  # the rest of the form is kept
    assert snapshot(database, team.org_id) == before


def test_rules_move_up_and_down(client: TestClient, database: Database, team: Team) -> None:
    first, second, third = (make_rule(database, team.org_id, name) for name in ("一", "二", "三"))
    token = login(client, "alpha", "admin")

    def order() -> list[int]:
        return [r.id for r in rules(database, team.org_id)]

    resp = post(client, f"/admin/routing/rules/{third}/move", token, direction="up")
    assert resp.status_code == 200 and "已调整规则顺序：三" in resp.text
    assert order() == [first, third, second]
    html = resp.text
    assert html.index(f'id="rule-{first}"') < html.index(f'id="rule-{third}"') < html.index(f'id="rule-{second}"')
    post(client, f"/admin/routing/rules/{first}/move", token, direction="up")  # already first: nothing moves
    assert order() == [first, third, second]
    post(client, f"/admin/routing/rules/{first}/move", token, direction="down")
    assert order() == [third, first, second]
    post(client, f"/admin/routing/rules/{second}/move", token, direction="down")  # already last
    assert order() == [third, first, second]
    resp = post(client, f"/admin/routing/rules/{first}/move", token, direction="sideways")
    assert resp.status_code == 422 and order() == [third, first, second]
    with database.session() as session:
        decision_rules = routing_service.rules_for_routing(session, team.org_id)
    assert [r.id for r in decision_rules] == [third, first, second]

    resp = post(client, f"/admin/routing/rules/{first}/delete", token)
    assert resp.status_code == 200 and "已删除分配规则：一" in resp.text and order() == [third, second]


# --- agents --------------------------------------------------------------------------------------------------------


def test_admin_sets_an_agents_maximum(client: TestClient, database: Database, team: Team) -> None:
    li = team.users["li"].id
    token = login(client, "alpha", "admin")
    resp = post(client, f"/admin/routing/agents/{li}", token, max_concurrent="8")
    assert resp.status_code == 200 and "已保存 li老师 的最大接待量" in resp.text
    row = resp.text[resp.text.index(f'id="agent-{li}"'):]
    assert "0 / 8" in row[:row.index("</tr>")]
    with database.session() as session:
        assert session.scalars(select(AgentState.max_concurrent).where(AgentState.user_id == li)).one() == 8
    for bad in ("0", "51", "八", ""):
        resp = post(client, f"/admin/routing/agents/{li}", token, max_concurrent=bad)
        assert resp.status_code == 422, bad
        row = resp.text[resp.text.index(f'id="agent-{li}"'):]
        row = row[:row.index("</tr>")]
        assert "最大接待量须为 1–50 的整数" in row and f'value="{bad}"' in row
    with database.session() as session:
        assert session.scalars(select(AgentState.max_concurrent).where(AgentState.user_id == li)).one() == 8
    assert audit_actions(database, team.org_id).count("agent.max_concurrent") == 1


# --- hostile input -------------------------------------------------------------------------------------------------


def test_hostile_text_is_stored_literally_and_shown_escaped(client: TestClient, database: Database,
                                                            orgs: TwoOrgs) -> None:
    token = login(client, "alpha", "admin")
    evil_group = "<script>alert('组')</script>"
    sql = "'; DROP TABLE skill_groups; --"
    resp = post(client, "/admin/routing/groups", token, name=evil_group, description=sql, strategy="least_busy",
                queue_timeout_minutes="10")
    assert resp.status_code == 200
    assert "<script>alert" not in resp.text and "&lt;script&gt;alert(&#39;组&#39;)&lt;/script&gt;" in resp.text
    group = groups(database, orgs.a.id)[evil_group]
    assert group.description == sql

    evil_rule = '<img src=x onerror="alert(1)">'
    resp = post(client, "/admin/routing/rules/new", token,
                **{**RULE_FORM, "name": evil_rule, "contact_tags": "<b>老学员</b>, 1' OR '1'='1",
                   "group_id": str(group.id)})
    assert resp.status_code == 200
    [rule] = rules(database, orgs.a.id)
    assert rule.name == evil_rule and rule.conditions == {"contact_tags": ["<b>老学员</b>", "1' OR '1'='1"]}
    for url in ("/admin/routing", f"/admin/routing/rules/{rule.id}", f"/admin/routing/groups/{group.id}"):
        html = client.get(url).text
        assert "<img src=x" not in html and "<script>alert" not in html and "<b>老学员" not in html, url
    html = client.get("/admin/routing").text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html and "&lt;b&gt;老学员&lt;/b&gt;" in html
    resp = post(client, f"/admin/routing/groups/{group.id}", token, name=sql, description="", strategy="least_busy",
                queue_timeout_minutes="10")
    assert resp.status_code == 200 and groups(database, orgs.a.id)[sql].id == group.id


# --- org isolation -------------------------------------------------------------------------------------------------


def test_another_orgs_ids_are_not_found(client: TestClient, database: Database, team: Team, orgs: TwoOrgs) -> None:
    rule_id = make_rule(database, team.org_id, "甲的规则", group_id=team.group_id)
    ours = make_team(database, orgs.b.id, "乙的组", {})
    before = snapshot(database, team.org_id)
    token = login(client, "beta", "admin")
    gid, uid = team.group_id, team.users["zhang"].id
    assert client.get(f"/admin/routing/groups/{gid}").status_code == 404
    assert client.get(f"/admin/routing/rules/{rule_id}").status_code == 404
    for url, fields in [
        (f"/admin/routing/groups/{gid}", {"name": "劫持", "strategy": "manual", "queue_timeout_minutes": "0"}),
        (f"/admin/routing/groups/{gid}/delete", {}),
        (f"/admin/routing/groups/{gid}/members", {"user_id": str(orgs.b.users["agent"].id), "level": "1"}),
        (f"/admin/routing/groups/{ours.group_id}/members", {"user_id": str(uid), "level": "5"}),
        (f"/admin/routing/groups/{gid}/members/{uid}", {"level": "1"}),
        (f"/admin/routing/groups/{ours.group_id}/members/{uid}", {"level": "1"}),
        (f"/admin/routing/groups/{gid}/members/{uid}/remove", {}),
        ("/admin/routing/rules/new", {**RULE_FORM, "group_id": str(gid)}),
        (f"/admin/routing/rules/{rule_id}", RULE_FORM),
        (f"/admin/routing/rules/{rule_id}/move", {"direction": "down"}),
        (f"/admin/routing/rules/{rule_id}/delete", {}),
        (f"/admin/routing/agents/{uid}", {"max_concurrent": "1"}),
    ]:
        resp = post(client, url, token, **fields)
        assert resp.status_code == 404, url
        assert "小学数学" not in resp.text and "zhang老师" not in resp.text
    html = client.get("/admin/routing").text
    assert "乙的组" in html and "小学数学" not in html and "甲的规则" not in html and "zhang老师" not in html
    assert snapshot(database, team.org_id) == before
    assert rules(database, orgs.b.id) == [] and levels(database, ours.group_id) == {}


def test_ids_no_record_can_have_are_refused_or_not_found(client: TestClient, team: Team) -> None:
    """An id outside the id columns in the URL is refused before any lookup (422, like every route:
    tests/test_route_ids.py); one chosen in a form names no record (404). Never a 500."""
    token = login(client, "alpha", "admin")
    huge = "9" * 20
    assert client.get(f"/admin/routing/groups/{huge}").status_code == 422
    assert client.get("/admin/routing/rules/0").status_code == 422
    assert post(client, f"/admin/routing/agents/{huge}", token, max_concurrent="3").status_code == 422
    assert post(client, "/admin/routing/rules/new", token, **{**RULE_FORM, "group_id": huge}).status_code == 404
    resp = post(client, f"/admin/routing/groups/{team.group_id}/members", token, user_id=huge, level="1")
    assert resp.status_code == 404


# --- language ------------------------------------------------------------------------------------------------------


def test_labels_from_the_code_have_english(client: TestClient, team: Team) -> None:
    catalogues = Catalogues()
    token = set_locale("en")
    try:
        missing = [label for label in [*STRATEGY_LABELS.values(), *STATUS_LABELS.values(),
                                       *CONDITION_LABELS.values()] if catalogues.gettext(label) == label]
    finally:
        set_locale("zh")
        del token
    assert not missing, f"add English for {missing} in messages.po"
    client.cookies.set("edudesk_lang", "en")
    login(client, "alpha", "admin")
    html = client.get("/admin/routing").text
    assert "Skill groups" in html and "最空闲优先" not in html and "离线" not in html
