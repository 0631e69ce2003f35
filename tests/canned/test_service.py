"""The canned-reply service on SQLite and PostgreSQL: who manages what, the checks with their Chinese messages,
shortcut scopes and shadowing, the picker's search order, usage counts, audit entries and the demo set."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.canned import service as canned_service
from edudesk.canned.models import CannedReply
from edudesk.canned.text import CannedError, CannedForbidden, CannedInput, fill, normalise_shortcut
from edudesk.db import Database, NotFoundError
from tests.canned.conftest import Replies, add
from tests.conftest import TwoOrgs
from tests.statements import recorded_sql


def shortcuts(found: list[CannedReply]) -> list[str]:
    return [f"{'shared' if r.owner_id is None else 'own'}:{r.shortcut}" for r in found]


# --- checks ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "field", "message"), [
    (CannedInput(shortcut="", text="好"), "shortcut", "请填写快捷短语"),
    (CannedInput(shortcut=" / ", text="好"), "shortcut", "请填写快捷短语"),
    (CannedInput(shortcut="a" * 33, text="好"), "shortcut", "快捷短语不能超过 32 个字符"),
    (CannedInput(shortcut="x f", text="好"), "shortcut", "快捷短语只能包含字母、数字、汉字、- 和 _"),
    (CannedInput(shortcut="学费！", text="好"), "shortcut", "快捷短语只能包含字母、数字、汉字、- 和 _"),
    (CannedInput(shortcut="a/b", text="好"), "shortcut", "快捷短语只能包含字母、数字、汉字、- 和 _"),
    (CannedInput(shortcut="<b>", text="好"), "shortcut", "快捷短语只能包含字母、数字、汉字、- 和 _"),
    (CannedInput(shortcut="xf", text="  \n "), "text", "请填写回复内容"),
    (CannedInput(shortcut="xf", text="长" * 2001), "text", "回复内容不能超过 2000 个字"),
    (CannedInput(shortcut="xf", text="好", title="题" * 101), "title", "标题不能超过 100 个字"),
    (CannedInput(shortcut="xf", text="好", category="类" * 51), "category", "分类不能超过 50 个字"),
])
def test_bad_input_is_refused_with_a_clear_message(database: Database, orgs: TwoOrgs, data: CannedInput,
                                                   field: str, message: str) -> None:
    with database.session() as session:
        with pytest.raises(CannedError) as err:
            canned_service.create(session, orgs.a.users["agent"], data)
        assert err.value.field == field and err.value.message.startswith(message)
        session.rollback()
        assert session.scalars(select(CannedReply)).first() is None


def test_input_is_cleaned(database: Database, orgs: TwoOrgs) -> None:
    agent = orgs.a.users["agent"]
    with database.session() as session:
        raw = "\r\n第一行很长很长很长很长很长很长很长很长很长\r\n第二行\x00 "
        reply = canned_service.create(session, agent, CannedInput(shortcut=" ／ＸＦ-学费_1 ", text=raw,
                                                                  category="  课程 \t价格 "))
        session.commit()
        assert reply.shortcut == "xf-学费_1"
        assert reply.text == "第一行很长很长很长很长很长很长很长很长很长\n第二行"
        assert reply.title == "第一行很长很长很长很长很长很长很长很长很长"[:20]
        assert reply.category == "课程 价格" and reply.owner_id == agent.id and reply.use_count == 0
    assert normalise_shortcut("/XF ") == "xf"


def test_fill_placeholders() -> None:
    text = "{visitor_name}您好，我是{agent_name}，{unknown} 原样保留"
    assert fill(text, visitor_name="张妈妈", agent_name="王老师") == "张妈妈您好，我是王老师，{unknown} 原样保留"
    assert fill(text, visitor_name="", agent_name="王老师").startswith("您好，我是王老师")


# --- scopes and permissions ------------------------------------------------------------------------------------------

def test_shortcut_is_unique_per_scope_and_a_personal_one_may_shadow_a_shared_one(
        database: Database, orgs: TwoOrgs, replies: Replies) -> None:
    sup, agent, agent2 = orgs.a.users["supervisor"], orgs.a.users["agent"], orgs.a.users["agent2"]
    with database.session() as session:
        with pytest.raises(CannedError) as err:
            canned_service.create(session, sup, CannedInput(shortcut="XF", text="重复", shared=True))
        assert err.value.code == "duplicate_shortcut" and err.value.field == "shortcut"
        assert "公共快捷回复里已有 /xf（“学费”）" in err.value.message
        with pytest.raises(CannedError) as err:
            canned_service.create(session, agent, CannedInput(shortcut="wb", text="重复"))
        assert "你的快捷回复里已有 /wb" in err.value.message
        session.rollback()
        # The same shortcut in another person's scope, or another org, is fine.
        canned_service.create(session, agent2, CannedInput(shortcut="wb", text="李老师的晚点发"))
        canned_service.create(session, orgs.b.users["agent"], CannedInput(shortcut="xfbz", text="乙"))
        session.commit()


def test_agents_manage_only_their_own(database: Database, orgs: TwoOrgs, replies: Replies) -> None:
    agent = orgs.a.users["agent"]
    data = CannedInput(shortcut="new", text="新的", shared=True)
    with database.session() as session:
        with pytest.raises(CannedForbidden) as err:
            canned_service.create(session, agent, data)
        assert err.value.status_code == 403 and err.value.message == "只有主管和管理员可以管理公共快捷回复"
        with pytest.raises(CannedForbidden):
            canned_service.update(session, agent, replies.ids["shared:st"], CannedInput(shortcut="st", text="改"))
        with pytest.raises(CannedForbidden):
            canned_service.delete(session, agent, replies.ids["shared:st"])
        # A colleague's personal replies and another org's do not exist for them.
        for other in (replies.ids["agent2:secret"], replies.ids["b:xf"]):
            with pytest.raises(NotFoundError):
                canned_service.get(session, agent, other)
            with pytest.raises(NotFoundError):
                canned_service.update(session, agent, other, CannedInput(shortcut="x", text="劫持"))
            with pytest.raises(NotFoundError):
                canned_service.delete(session, agent, other)
            with pytest.raises(NotFoundError):
                canned_service.record_use(session, agent, other)
        session.rollback()
    with database.session() as session:
        assert session.get(CannedReply, replies.ids["shared:st"]).text.startswith("{visitor_name}您好")  # type: ignore[union-attr]
        assert session.get(CannedReply, replies.ids["agent2:secret"]).text == "李老师的私人话术"  # type: ignore[union-attr]


@pytest.mark.parametrize("role", ["supervisor", "admin"])
def test_supervisors_and_admins_manage_shared_ones(database: Database, orgs: TwoOrgs, replies: Replies,
                                                   role: str) -> None:
    user = orgs.a.users[role]
    with database.session() as session:
        reply = canned_service.update(session, user, replies.ids["shared:st"], CannedInput(
            shortcut="st", text="试听免费～", title="试听", category="课程", shared=True))
        assert reply.owner_id is None and reply.text == "试听免费～"
        # Sharing their own reply with the team, and taking a shared one back as personal.
        own = canned_service.create(session, user, CannedInput(shortcut="mine", text="自己的"))
        canned_service.update(session, user, own.id, CannedInput(shortcut="mine", text="大家的", shared=True))
        assert own.owner_id is None
        canned_service.update(session, user, reply.id, CannedInput(shortcut="st", text="我自己的试听"))
        assert reply.owner_id == user.id
        canned_service.delete(session, user, replies.ids["shared:xfbz"])
        session.commit()
    with database.session() as session:
        assert session.get(CannedReply, replies.ids["shared:xfbz"]) is None


def test_an_update_keeps_its_own_shortcut_but_cannot_take_a_taken_one(database: Database, orgs: TwoOrgs,
                                                                      replies: Replies) -> None:
    agent = orgs.a.users["agent"]
    with database.session() as session:
        reply = canned_service.update(session, agent, replies.ids["agent:wb"], CannedInput(
            shortcut="wb", text="晚上八点前发您课表", category="跟进"))
        session.commit()
        assert reply.text == "晚上八点前发您课表" and reply.updated_at >= reply.created_at
        with pytest.raises(CannedError) as err:
            canned_service.update(session, agent, replies.ids["agent:wb"], CannedInput(shortcut="xf", text="撞车"))
        assert err.value.code == "duplicate_shortcut"
        session.rollback()
        assert canned_service.get(session, agent, replies.ids["agent:wb"]).shortcut == "wb"


def test_changes_are_audited(database: Database, orgs: TwoOrgs, replies: Replies) -> None:
    sup = orgs.a.users["supervisor"]
    with database.session() as session:
        canned_service.delete(session, sup, replies.ids["shared:xf"])
        canned_service.delete(session, orgs.a.users["agent"], replies.ids["agent:wb"])
        session.commit()
        deletes = session.scalars(select(AuditEntry).where(AuditEntry.action == "canned.delete")
                                  .order_by(AuditEntry.id)).all()
    assert [(e.org_id, e.actor_user_id, e.target_id) for e in deletes] == [
        (orgs.a.id, sup.id, str(replies.ids["shared:xf"])),
        (orgs.a.id, orgs.a.users["agent"].id, str(replies.ids["agent:wb"]))]
    assert deletes[0].detail["shortcut"] == "xf" and deletes[0].detail["shared"] is True
    assert deletes[0].detail["text"] == "小学一对一 200 元/课时。"  # what was lost can be put back by hand


def test_library_lists_shared_and_own_and_marks_shadowed(database: Database, orgs: TwoOrgs,
                                                         replies: Replies) -> None:
    with database.session() as session:
        lib = canned_service.library(session, orgs.a.users["agent"])
    assert [r.shortcut for r in lib.shared] == ["st", "xf", "xfbz"]
    assert [r.shortcut for r in lib.mine] == ["xf", "wb"]  # by category: "" before 跟进
    assert lib.shadowed == {replies.ids["shared:xf"]}
    assert lib.categories == ["课程", "跟进"]


# --- search ----------------------------------------------------------------------------------------------------------

def test_search_prefix_first_then_text_ranked_by_use(database: Database, orgs: TwoOrgs, replies: Replies) -> None:
    with database.session() as session:
        sup = orgs.a.users["supervisor"]
        # Exact shortcut first, then other prefixes by use, then title/text matches by use.
        assert shortcuts(canned_service.search(session, sup, "xf")) == ["shared:xf", "shared:xfbz"]
        assert shortcuts(canned_service.search(session, sup, "x")) == ["shared:xfbz", "shared:xf"]
        assert shortcuts(canned_service.search(session, sup, "学费")) == ["shared:xfbz", "shared:xf", "shared:st"]
        assert shortcuts(canned_service.search(session, sup, "/XF")) == ["shared:xf", "shared:xfbz"]
        assert shortcuts(canned_service.search(session, sup, "")) == ["shared:xfbz", "shared:xf", "shared:st"]
        assert canned_service.search(session, sup, "没有这个") == []
        assert len(canned_service.search(session, sup, "", limit=2)) == 2


def test_the_personal_shortcut_wins_and_colleagues_replies_stay_private(database: Database, orgs: TwoOrgs,
                                                                        replies: Replies) -> None:
    with database.session() as session:
        agent, agent2 = orgs.a.users["agent"], orgs.a.users["agent2"]
        found = canned_service.search(session, agent, "xf")
        assert shortcuts(found) == ["own:xf", "shared:xfbz"]
        assert found[0].text.startswith("王老师的学费说法")
        assert shortcuts(canned_service.search(session, agent2, "xf")) == ["shared:xf", "shared:xfbz"]
        assert canned_service.search(session, agent, "secret") == []
        assert canned_service.search(session, agent, "私人话术") == []
        assert shortcuts(canned_service.search(session, orgs.b.users["agent"], "学费")) == ["shared:xf"]


def test_search_treats_like_wildcards_literally(database: Database, orgs: TwoOrgs, replies: Replies) -> None:
    agent = orgs.a.users["agent"]
    add(database, agent, "a_b", "带下划线", title="100% 满意")
    add(database, agent, "abc", "普通")
    with database.session() as session:
        assert shortcuts(canned_service.search(session, agent, "a_")) == ["own:a_b"]
        assert canned_service.search(session, agent, "_b") == []  # not "any character, then b" (abc)
        assert shortcuts(canned_service.search(session, agent, "%")) == ["own:a_b"]  # the title has a real %
        assert canned_service.search(session, agent, "x%") == []


def test_search_is_one_statement(database: Database, orgs: TwoOrgs, replies: Replies) -> None:
    agent = orgs.a.users["agent"]
    with database.session() as session, recorded_sql(database) as seen:
        canned_service.search(session, agent, "xf")
    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 1


def test_record_use_counts_atomically(database: Database, orgs: TwoOrgs, replies: Replies) -> None:
    agent, agent2 = orgs.a.users["agent"], orgs.a.users["agent2"]
    for user in (agent, agent2, agent):
        with database.session() as session:
            canned_service.record_use(session, user, replies.ids["shared:st"])
            session.commit()
    with database.session() as session:
        assert session.get(CannedReply, replies.ids["shared:st"]).use_count == 4  # type: ignore[union-attr]
        for _ in range(6):  # used most now (10 > 9): first for an empty query
            canned_service.record_use(session, agent2, replies.ids["shared:st"])
        session.commit()
        assert shortcuts(canned_service.search(session, agent2, ""))[0] == "shared:st"


def test_a_scope_is_bounded(database: Database, orgs: TwoOrgs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(canned_service, "MAX_PER_SCOPE", 2)
    agent = orgs.a.users["agent"]
    add(database, agent, "a1", "一")
    add(database, agent, "a2", "二")
    with database.session() as session, pytest.raises(CannedError) as err:
        canned_service.create(session, agent, CannedInput(shortcut="a3", text="三"))
    assert err.value.code == "too_many"
    add(database, orgs.a.users["agent2"], "a3", "别人的不受影响")


# --- demo ------------------------------------------------------------------------------------------------------------

def test_seed_demo_adds_shared_replies_once(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        added = canned_service.seed_demo(session, orgs.a.id)
        session.commit()
        assert added == len(canned_service.DEMO_REPLIES) >= 5
        assert canned_service.seed_demo(session, orgs.a.id) == 0
        session.commit()
        rows = session.scalars(select(CannedReply).where(CannedReply.org_id == orgs.a.id)).all()
        assert len(rows) == added and all(r.owner_id is None and r.category and r.title for r in rows)
        assert any("{visitor_name}" in r.text for r in rows) and any("{agent_name}" in r.text for r in rows)
        found = canned_service.search(session, orgs.a.users["agent"], "xf")
        assert found and found[0].shortcut == "xf" and "元/课时" in found[0].text
