"""The admin pages of classification rules, course pages and 千人千面: admins only, CSRF, bad input answered beside
the field with nothing stored, escaped output."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from edudesk.audit.service import Actor
from edudesk.catalog import service as catalog_service
from edudesk.db import Database
from edudesk.visitors.profile_models import ClassifyRule, CoursePattern, PersonalRule
from tests.conftest import TwoOrgs, login

XSS = "<script>alert(1)</script>"


def _count(database: Database, model: Any, org_id: int) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(model.org_id == org_id)) or 0)


@pytest.mark.parametrize("path", ["/admin/visitors/rules", "/admin/visitors/courses", "/admin/visitors/personal",
                                  "/admin/visitors/personal/report"])
def test_pages_are_for_admins_only(client: TestClient, orgs: TwoOrgs, path: str) -> None:
    assert client.get(path, follow_redirects=False).status_code in (302, 303, 401)
    login(client, "alpha", "supervisor")
    assert client.get(path).status_code == 403
    login(client, "alpha", "admin")
    assert client.get(path).status_code == 200


def test_rules_crud_and_bad_input(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    csrf = login(client, "alpha", "admin")
    page = client.get("/admin/visitors/rules")
    assert "价格敏感" in page.text and "page *price* &gt;= 3" in page.text  # the defaults, escaped
    seeded = _count(database, ClassifyRule, orgs.a.id)
    good = {"tag": "考研党", "conditions": "keyword 考研\nvisits >= 2", "points": "10", "label": "考研意向",
            "enabled": "1", "csrf_token": csrf}
    bad_cases: list[tuple[dict[str, str], str]] = [
        ({"tag": ""}, "请填写标签名称"),
        ({"tag": "x" * 33}, "不超过 32"),
        ({"tag": XSS}, "不能包含"),
        ({"tag": "价格敏感"}, "已有规则"),  # duplicate of a default
        ({"conditions": ""}, "至少填写一个条件"),
        ({"conditions": "drop table users"}, "未知条件"),
        ({"conditions": "page " + "x" * 400}, "不超过"),
        ({"points": "lots"}, "加分须为整数"),
        ({"points": "1000"}, "-100 到 100"),
        ({"label": XSS}, "尖括号"),
        ({"csrf_token": "stale"}, "页面已过期"),
    ]
    for change, words in bad_cases:
        resp = client.post("/admin/visitors/rules", data={**good, **change})
        assert resp.status_code == (400 if "csrf_token" in change else 422), change
        assert words in resp.text, (change, resp.text[:200])
        assert XSS not in resp.text
        assert 'value="考研意向"' in resp.text or change.get("label") or change.get("csrf_token")  # kept typed
    huge = client.post("/admin/visitors/rules", data={**good, "conditions": "x" * 6000})
    assert huge.status_code == 422  # over the form's limit
    assert _count(database, ClassifyRule, orgs.a.id) == seeded

    resp = client.post("/admin/visitors/rules", data=good)
    assert resp.status_code == 200 and "已保存规则「考研党」" in resp.text
    with database.session() as session:
        rule = session.scalars(select(ClassifyRule).where(ClassifyRule.org_id == orgs.a.id,
                                                          ClassifyRule.tag == "考研党")).one()
        assert rule.conditions == [{"kind": "keyword", "value": "考研", "min": 1},
                                   {"kind": "visits", "value": "", "min": 2}]
    edit = client.get(f"/admin/visitors/rules/{rule.id}")
    assert "keyword 考研\nvisits &gt;= 2" in edit.text
    resp = client.post(f"/admin/visitors/rules/{rule.id}", data={**good, "tag": "考研", "enabled": ""})
    assert resp.status_code == 200
    resp = client.post(f"/admin/visitors/rules/{rule.id}/delete", data={"csrf_token": csrf})
    assert resp.status_code == 200 and _count(database, ClassifyRule, orgs.a.id) == seeded
    assert client.get("/admin/visitors/rules/999999").status_code == 404


def test_course_patterns_crud_and_bad_input(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    with database.session() as session:
        course = catalog_service.add_course(session, Actor(orgs.a.id, label="t"), name="少儿美术", subject="美术")
        b_course = catalog_service.add_course(session, Actor(orgs.b.id, label="t"), name="乙的课", subject="美术")
        session.commit()
        course_id, b_course_id = course.id, b_course.id
    csrf = login(client, "alpha", "admin")
    assert "少儿美术" in client.get("/admin/visitors/courses").text
    for data, words in [({"pattern": "", "course_name": "x"}, "请填写网址规则"),
                        ({"pattern": "/a b", "course_name": "x"}, "不能包含空格"),
                        ({"pattern": XSS, "course_name": "x"}, "不能包含"),
                        ({"pattern": "/art", "course_name": ""}, "请选择课程"),
                        ({"pattern": "/art", "course_name": "x" * 101}, "不超过 100"),
                        ({"pattern": "/art", "course_id": "1 OR 1=1"}, "请选择本机构的课程")]:
        resp = client.post("/admin/visitors/courses", data={**data, "csrf_token": csrf})
        assert resp.status_code == 422 and words in resp.text, (data, resp.text[:300])
        assert XSS not in resp.text
    other_org = client.post("/admin/visitors/courses", data={"pattern": "/art", "course_id": str(b_course_id),
                                                             "csrf_token": csrf})
    assert other_org.status_code == 404 and "乙的课" not in other_org.text
    assert _count(database, CoursePattern, orgs.a.id) == 0
    resp = client.post("/admin/visitors/courses", data={"pattern": "/courses/art", "course_id": str(course_id),
                                                        "csrf_token": csrf})
    assert resp.status_code == 200 and "/courses/art" in resp.text
    dup = client.post("/admin/visitors/courses", data={"pattern": "/courses/art", "course_name": "别的",
                                                       "csrf_token": csrf})
    assert dup.status_code == 422 and "已存在" in dup.text
    with database.session() as session:
        row = session.scalars(select(CoursePattern).where(CoursePattern.org_id == orgs.a.id)).one()
        assert (row.course_id, row.course_name) == (course_id, "少儿美术")
    assert client.post(f"/admin/visitors/courses/{row.id}/delete", data={"csrf_token": "x"}).status_code == 400
    client.post(f"/admin/visitors/courses/{row.id}/delete", data={"csrf_token": csrf})
    assert _count(database, CoursePattern, orgs.a.id) == 0


def test_personal_rules_crud_and_bad_input(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    csrf = login(client, "alpha", "admin")
    good = {"name": "考证广告", "priority": "10", "enabled": "1", "campaign": "exam-prep", "welcome": "欢迎",
            "hot": "考试时间？\n报考条件？", "guess": "", "csrf_token": csrf}
    for change, words in [({"name": ""}, "请填写规则名称"),
                          ({"name": "x" * 61}, "不超过 60"),
                          ({"priority": "-1"}, "优先级"),
                          ({"priority": "abc"}, "优先级须为整数"),
                          ({"url_pattern": "<b>x"}, "不能包含"),
                          ({"source_kind": "tv"}, "来源类型"),
                          ({"welcome": "", "hot": "", "guess": ""}, "至少填写一项"),
                          ({"hot": "\n".join(f"问题{i}" for i in range(9))}, "最多 8 个"),
                          ({"hot": "问" * 101}, "不超过 100"),
                          ({"welcome": "欢" * 501}, "不超过 500")]:
        resp = client.post("/admin/visitors/personal", data={**good, **change})
        assert resp.status_code == 422 and words in resp.text, (change, resp.text[:300])
    assert _count(database, PersonalRule, orgs.a.id) == 0
    resp = client.post("/admin/visitors/personal", data={**good, "welcome": XSS})
    assert resp.status_code == 200 and XSS not in resp.text
    dup = client.post("/admin/visitors/personal", data=good)
    assert dup.status_code == 422 and "已存在" in dup.text
    with database.session() as session:
        rule = session.scalars(select(PersonalRule).where(PersonalRule.org_id == orgs.a.id)).one()
        assert rule.match == {"campaign": "exam-prep"} and rule.hot == ["考试时间？", "报考条件？"]
    edit = client.get(f"/admin/visitors/personal/{rule.id}")
    assert "exam-prep" in edit.text and XSS not in edit.text and "&lt;script&gt;" in edit.text
    resp = client.post(f"/admin/visitors/personal/{rule.id}", data={**good, "url_pattern": "/courses/kaoyan"})
    assert resp.status_code == 200
    report = client.get("/admin/visitors/personal/report")
    assert "考证广告" in report.text and "—" in report.text
    client.post(f"/admin/visitors/personal/{rule.id}/delete", data={"csrf_token": csrf})
    assert _count(database, PersonalRule, orgs.a.id) == 0
