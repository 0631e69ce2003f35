"""The knowledge-base admin pages through the real app on SQLite and PostgreSQL: roles, CSRF, escaping, forms that
keep the input beside their errors, bulk actions, import/export and the misses page."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.db import Database
from edudesk.kb import service as kb_service
from edudesk.kb.models import KbEntry, KbMiss, MissReason
from tests.conftest import TwoOrgs, csrf_from, login
from tests.kb.conftest import ROWS, SchoolKb, csv_bytes, stored

HOSTILE = "<script>alert(1)</script>"
HOSTILE_NAME = "<img src=x onerror=alert(1)>"  # a category name cannot contain "/"
PAGES = ["/admin/kb", "/admin/kb/new", "/admin/kb/categories", "/admin/kb/import", "/admin/kb/misses",
         "/admin/kb/export?format=csv"]


def entry_form(**fields: str) -> dict[str, str]:
    base = {"question": "晚托班几点放学？", "similar": "晚托几点结束\n晚托放学时间",
            "answer": "20:30 放学，到前台签字接走。", "images": "", "buttons": "预约试听|我想预约试听课\n转人工",
            "category_id": "", "enabled": "1", "valid_from": "", "valid_until": "", "hot_position": "0"}
    return {**base, **fields}


def test_agents_are_forbidden_everywhere(client: TestClient, orgs: TwoOrgs, school: SchoolKb) -> None:
    csrf = login(client, "alpha", "agent")
    entry = school.entries["可以免费试听吗？"]
    for url in [*PAGES, f"/admin/kb/{entry}"]:
        assert client.get(url).status_code == 403, url
    resp = client.post(f"/admin/kb/{entry}", data={**entry_form(), "csrf_token": csrf})
    assert resp.status_code == 403
    assert 'href="/admin/kb"' not in client.get("/console").text  # no link to a page they cannot open


@pytest.mark.parametrize("role", ["admin", "supervisor"])
def test_admins_and_supervisors_see_every_page(client: TestClient, orgs: TwoOrgs, school: SchoolKb,
                                               role: str) -> None:
    login(client, "alpha", role)
    for url in PAGES:
        resp = client.get(url)
        assert resp.status_code == 200, (url, resp.text[:300])
    home = client.get("/admin/kb").text
    assert 'href="/admin/kb"' in home and "一对一辅导怎么收费？" in home and "课程/价格" in home


def test_create_edit_and_errors_beside_the_field(client: TestClient, database: Database, orgs: TwoOrgs,
                                                 school: SchoolKb) -> None:
    csrf = login(client, "alpha", "supervisor")
    resp = client.post("/admin/kb/new", data={**entry_form(similar="晚托几点结束\n一对一价格"), "csrf_token": csrf})
    assert resp.status_code == 422
    form = resp.text[resp.text.index('id="kb-entry"'):]
    price = school.entries["一对一辅导怎么收费？"]
    message = f"相似问“一对一价格”已属于词条 #{price}“一对一辅导怎么收费？”"
    textarea = form.index('name="similar"')
    assert form.index(message) > textarea and form.index(message) < form.index('name="answer"')
    assert "晚托几点结束\n一对一价格</textarea>" in form and 'value="晚托班几点放学？"' in form  # input kept
    resp = client.post("/admin/kb/new", data={**entry_form(buttons="好" * 21), "csrf_token": csrf})
    assert resp.status_code == 422 and "按钮文字不能超过 20 个字" in resp.text
    resp = client.post("/admin/kb/new", data={**entry_form(valid_from="2026-13-01"), "csrf_token": csrf})
    assert resp.status_code == 422 and "日期格式应为 YYYY-MM-DD" in resp.text

    related = school.entries["你们有哪些校区？"]
    data = {**entry_form(category_id=str(school.categories["课程/上课时间"]), valid_until="2026-12-31",
                         hot_pinned="1", hot_position="2"), "related_ids": [str(related)], "csrf_token": csrf}
    resp = client.post("/admin/kb/new", data=data)
    assert resp.status_code == 200 and "词条已保存" in resp.text
    with database.session() as session:
        entry = session.scalars(select(KbEntry).where(KbEntry.question == "晚托班几点放学？",
                                                      KbEntry.org_id == orgs.a.id)).one()
        assert entry.buttons == [{"label": "预约试听", "payload": "我想预约试听课"},
                                 {"label": "转人工", "payload": "转人工"}]
        assert (entry.related_ids, entry.hot_pinned, entry.hot_position) == ([related], True, 2)
        assert entry.valid_until is not None and entry.valid_until.isoformat() == "2026-12-31"
        assert entry.updated_by == "supervisor"
    page = client.get(f"/admin/kb/{entry.id}").text
    assert "晚托放学时间" in page and "预约试听|我想预约试听课" in page
    assert f'<option value="{related}" selected' in page
    resp = client.post(f"/admin/kb/{entry.id}", data={**entry_form(answer="21:00 放学。", enabled=""),
                                                      "csrf_token": csrf})
    assert resp.status_code == 200
    with database.session() as session:
        entry = kb_service.get_entry(session, orgs.a.id, entry.id)
        assert (entry.answer, entry.enabled, entry.related_ids) == ("21:00 放学。", False, [])


def test_csrf_is_required_on_every_form(client: TestClient, database: Database, orgs: TwoOrgs,
                                        school: SchoolKb) -> None:
    login(client, "alpha", "admin")
    entry = school.entries["可以免费试听吗？"]
    category = school.categories["校区"]
    before = stored(database, orgs.a.id)
    posts = [("/admin/kb/new", entry_form(question="新问题")), (f"/admin/kb/{entry}", entry_form()),
             (f"/admin/kb/{entry}/delete", {}), ("/admin/kb/bulk", {"action": "delete", "ids": str(entry)}),
             ("/admin/kb/categories", {"name": "新分类"}), (f"/admin/kb/categories/{category}", {"name": "改名"}),
             (f"/admin/kb/categories/{category}/delete", {}),
             ("/admin/kb/misses/dismiss", {"miss_ids": "1"})]
    for url, form in posts:
        for token in (None, "forged-token"):
            data = {**form, **({"csrf_token": token} if token else {})}
            resp = client.post(url, data=data)
            assert resp.status_code == 400, (url, token, resp.status_code)
    resp = client.post("/admin/kb/import", files={"file": ("kb.csv", csv_bytes(ROWS), "text/csv")},
                       data={"csrf_token": "forged"})
    assert resp.status_code == 400
    assert stored(database, orgs.a.id) == before


def test_hostile_text_is_escaped(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "admin")
    resp = client.post("/admin/kb/new", data={**entry_form(question=HOSTILE, answer=f"见 {HOSTILE}",
                                                           similar=f"{HOSTILE}？"), "csrf_token": csrf})
    assert resp.status_code == 200
    resp = client.post("/admin/kb/categories", data={"name": HOSTILE_NAME, "csrf_token": csrf})
    assert resp.status_code == 200
    with database.session() as session:
        kb_service.record_miss(session, orgs.a.id, HOSTILE + "怎么办", MissReason.unanswered)
        session.commit()
    for url in ("/admin/kb", "/admin/kb/categories", "/admin/kb/misses", "/admin/kb/new", "/admin/kb?q=<script>"):
        page = client.get(url).text
        assert HOSTILE not in page and HOSTILE_NAME not in page, url
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get("/admin/kb").text


def test_another_orgs_records_are_not_found(client: TestClient, database: Database, orgs: TwoOrgs,
                                            school: SchoolKb) -> None:
    csrf = login(client, "beta", "admin")
    entry = school.entries["可以免费试听吗？"]
    with database.session() as session:
        miss = kb_service.record_miss(session, orgs.a.id, "甲机构的问题", MissReason.unanswered)
        session.commit()
        assert miss is not None
    before = stored(database, orgs.a.id)
    assert client.get(f"/admin/kb/{entry}").status_code == 404
    assert client.post(f"/admin/kb/{entry}", data={**entry_form(), "csrf_token": csrf}).status_code == 404
    assert client.post(f"/admin/kb/{entry}/delete", data={"csrf_token": csrf}).status_code == 404
    assert client.post("/admin/kb/bulk", data={"action": "delete", "ids": [str(entry)],
                                               "csrf_token": csrf}).status_code == 404
    assert client.get(f"/admin/kb/export?category={school.categories['校区']}").status_code == 404
    assert client.post("/admin/kb/misses/dismiss", data={"miss_ids": str(miss.id),
                                                         "csrf_token": csrf}).status_code == 404
    page = client.get("/admin/kb").text
    assert "可以免费试听吗？" not in page and "甲机构的问题" not in client.get("/admin/kb/misses").text
    assert stored(database, orgs.a.id) == before


def test_list_filters_paging_and_bulk_actions(client: TestClient, database: Database, orgs: TwoOrgs,
                                              school: SchoolKb) -> None:
    csrf = login(client, "alpha", "admin")
    e = school.entries
    assert re.findall(r'id="entry-(\d+)"', client.get("/admin/kb?q=试听要钱").text) == [str(e["可以免费试听吗？"])]
    course = client.get(f"/admin/kb?category={school.categories['课程']}").text
    assert "周末几点上课？" in course and "你们有哪些校区？" not in course
    ids = [str(e["周末几点上课？"]), str(e["你们有哪些校区？"])]
    resp = client.post("/admin/kb/bulk", data={"action": "disable", "ids": ids, "status": "", "csrf_token": csrf})
    assert resp.status_code == 200 and "已停用 2 个词条" in resp.text
    disabled = client.get("/admin/kb?status=disabled").text
    assert "周末几点上课？" in disabled and "一对一辅导怎么收费？" not in disabled
    resp = client.post("/admin/kb/bulk", data={"action": "delete", "ids": ids[:1], "csrf_token": csrf})
    assert "已删除 1 个词条" in resp.text
    trash = client.get("/admin/kb?status=deleted").text
    assert "周末几点上课？" in trash and 'value="restore"' in trash
    resp = client.post("/admin/kb/bulk", data={"action": "restore", "ids": ids[:1], "status": "deleted",
                                               "csrf_token": csrf})
    assert "已恢复 1 个词条" in resp.text
    assert client.post("/admin/kb/bulk", data={"action": "delete", "csrf_token": csrf}).status_code == 422
    paged = client.get("/admin/kb?page=2").text
    assert "第 2 / 1 页" in paged or "没有符合条件的词条" in paged


def test_single_delete_and_restore(client: TestClient, database: Database, orgs: TwoOrgs, school: SchoolKb) -> None:
    csrf = login(client, "alpha", "admin")
    entry = school.entries["老师都是什么背景？"]
    resp = client.post(f"/admin/kb/{entry}/delete", data={"csrf_token": csrf})
    assert resp.status_code == 200 and "恢复这个词条" in resp.text
    assert "老师都是什么背景？" not in stored(database, orgs.a.id)
    resp = client.post(f"/admin/kb/{entry}/restore", data={"csrf_token": csrf})
    assert resp.status_code == 200 and "词条已恢复" in resp.text
    assert "老师都是什么背景？" in stored(database, orgs.a.id)


def test_categories_page(client: TestClient, database: Database, orgs: TwoOrgs, school: SchoolKb) -> None:
    csrf = login(client, "alpha", "admin")
    resp = client.post("/admin/kb/categories", data={"name": "少儿英语", "parent_id": str(school.categories["课程"]),
                                                     "csrf_token": csrf})
    assert resp.status_code == 200 and "课程/少儿英语" in resp.text
    resp = client.post("/admin/kb/categories", data={"name": "校区", "csrf_token": csrf})
    assert resp.status_code == 422 and "同一级下已有分类“校区”" in resp.text
    course = school.categories["课程"]
    resp = client.post(f"/admin/kb/categories/{course}", data={
        "name": "课程", "parent_id": str(school.categories["课程/价格"]), "csrf_token": csrf})
    assert resp.status_code == 422 and "下级分类" in resp.text
    resp = client.post(f"/admin/kb/categories/{course}", data={"name": "全部课程", "parent_id": "",
                                                              "csrf_token": csrf})
    assert resp.status_code == 200 and "全部课程/价格" in resp.text
    resp = client.post(f"/admin/kb/categories/{course}/delete", data={"csrf_token": csrf})
    assert resp.status_code == 422 and "还有子分类" in resp.text
    assert stored(database, orgs.a.id)["一对一辅导怎么收费？"][2] == "全部课程/价格"


def test_import_upload_preview_then_import(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "admin")
    data = csv_bytes([*ROWS, ["", "", "没有问题", ""]], "gbk")
    resp = client.post("/admin/kb/import", files={"file": ("学校.csv", data, "text/csv")},
                       data={"dry_run": "1", "csrf_token": csrf})
    assert resp.status_code == 200 and "预览结果（未写入任何数据）" in resp.text
    assert "新建 3，更新 0，无变化 0，拒绝 1" in resp.text and "标准问不能为空" in resp.text
    assert stored(database, orgs.a.id) == {}
    resp = client.post("/admin/kb/import", files={"file": ("学校.csv", data, "text/csv")},
                       data={"csrf_token": csrf})
    assert resp.status_code == 200 and "导入结果" in resp.text
    assert set(stored(database, orgs.a.id)) == {r[0] for r in ROWS}
    resp = client.post("/admin/kb/import", files={"file": ("坏.xlsx", b"PK\x03\x04junk", "application/zip")},
                       data={"csrf_token": csrf})
    assert resp.status_code == 422 and "XLSX 文件已损坏" in resp.text
    big = b"question,answer\n" + b"x" * (5 * 1024 * 1024)
    resp = client.post("/admin/kb/import", files={"file": ("big.csv", big, "text/csv")}, data={"csrf_token": csrf})
    assert resp.status_code == 413 and "不能超过 5 MB" in resp.text
    resp = client.post("/admin/kb/import", data={"csrf_token": csrf})
    assert resp.status_code == 422 and "请选择要导入的" in resp.text


def test_export_downloads(client: TestClient, orgs: TwoOrgs, school: SchoolKb) -> None:
    login(client, "alpha", "admin")
    resp = client.get("/admin/kb/export?format=csv")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    assert resp.content.decode("utf-8-sig").count("\r\n") == len(school.entries) + 1
    resp = client.get(f"/admin/kb/export?format=xlsx&category={school.categories['校区']}")
    sheet = openpyxl.load_workbook(io.BytesIO(resp.content)).worksheets[0]
    assert sheet["A2"].value == "你们有哪些校区？" and sheet.max_row == 2
    assert client.get("/admin/kb/export?format=pdf").status_code == 422


def test_misses_page_actions(client: TestClient, database: Database, orgs: TwoOrgs, school: SchoolKb) -> None:
    csrf = login(client, "alpha", "supervisor")
    with database.session() as session:
        texts = ("能停车吗", "能停车吗？", "可以停车吗", "暑假班几号开课", "暑假班什么时候开课", "你是机器人吗")
        ids = [kb_service.record_miss(session, orgs.a.id, text, MissReason.unanswered) for text in texts]
        session.commit()
        parking, summer, robot = ([m.id for m in ids[i:j] if m] for i, j in ((0, 3), (3, 5), (5, 6)))
    page = client.get("/admin/kb/misses").text
    assert "共 6 条待处理" in page and "3 次" in page and "能停车吗" in page
    campus = school.entries["你们有哪些校区？"]
    resp = client.post("/admin/kb/misses/similar", data={"miss_ids": ",".join(map(str, parking)),
                                                         "entry_id": str(campus), "csrf_token": csrf})
    assert resp.status_code == 200 and f"已加为词条 #{campus} 的相似问" in resp.text
    resp = client.post("/admin/kb/misses/new-entry", data={"miss_ids": ",".join(map(str, summer)), "answer": "",
                                                           "csrf_token": csrf})
    assert resp.status_code == 422 and "答案不能为空" in resp.text
    resp = client.post("/admin/kb/misses/new-entry", data={
        "miss_ids": ",".join(map(str, summer)), "answer": "7 月 6 日开课。",
        "category_id": str(school.categories["课程/上课时间"]), "csrf_token": csrf})
    assert resp.status_code == 200 and "已新建词条" in resp.text
    resp = client.post("/admin/kb/misses/dismiss", data={"miss_ids": str(robot[0]), "csrf_token": csrf})
    assert resp.status_code == 200 and "没有待处理的问题" in resp.text
    kb = stored(database, orgs.a.id)
    assert kb["你们有哪些校区？"][1] == ["校区在哪里", "地址在哪", "能停车吗", "可以停车吗"]
    new = {q: v for q, v in kb.items() if q.startswith("暑假班")}
    assert [(set([q, *v[1]]), v[0], v[2]) for q, v in new.items()] == [
        ({"暑假班几号开课", "暑假班什么时候开课"}, "7 月 6 日开课。", "课程/上课时间")]
    with database.session() as session:
        assert session.scalars(select(KbMiss).where(KbMiss.resolved_at.is_(None))).all() == []


def test_language_switch_translates_kb_pages(client: TestClient, orgs: TwoOrgs) -> None:
    login(client, "alpha", "admin")
    client.cookies.set("edudesk_lang", "en")
    page = client.get("/admin/kb").text
    assert "Knowledge base" in page and "知识库" not in page.split("<main>")[1]
    assert csrf_from(page)


def test_misses_page_groups_by_meaning_not_only_shared_characters(client: TestClient, database: Database,
                                                                   orgs: TwoOrgs) -> None:
    login(client, "alpha", "supervisor")
    with database.session() as session:
        for text in ("学费多少", "学费多少钱？", "你们学费是多少", "能停车吗"):
            kb_service.record_miss(session, orgs.a.id, text, MissReason.unanswered)
        session.commit()
    page = client.get("/admin/kb/misses").text
    assert "3 次" in page and "1 次" in page  # the three fee questions are one group, parking another
