"""The knowledge-base service on SQLite and PostgreSQL: editing rules, search, soft delete, what the bot reads,
the kb.changed events, and the misses an editor resolves."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select

from edudesk.audit import service as audit_service
from edudesk.db import Database, NotFoundError
from edudesk.events import DomainEvent, EventBus
from edudesk.kb import categories as kb_categories
from edudesk.kb import misses as kb_misses
from edudesk.kb import service as kb_service
from edudesk.kb.models import KbEntry, KbMiss, KbSimilarQuestion, MissReason
from edudesk.kb.schemas import EntryInput
from edudesk.kb.text import KbError, today_in_shanghai
from tests.conftest import TwoOrgs
from tests.kb.conftest import SchoolKb, actor

TODAY = dt.date(2026, 11, 25)


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
        seen.append(sql.split(None, 1)[0].upper())

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", record)


@pytest.fixture
def events(database: Database) -> list[DomainEvent]:
    bus = EventBus()
    bus.attach(database.sessionmaker)
    got: list[DomainEvent] = []
    bus.subscribe(got.append)
    return got


def create(database: Database, org_id: int, question: str, answer: str = "答案", **kw: object) -> int:
    with database.session() as session:
        entry = kb_service.create_entry(session, actor(org_id), EntryInput(question=question, answer=answer,
                                                                           **kw))  # type: ignore[arg-type]
        session.commit()
        return entry.id


# --- editing ---------------------------------------------------------------------------------------------------------

def test_create_cleans_similar_questions_and_audits(database: Database, orgs: TwoOrgs) -> None:
    entry_id = create(database, orgs.a.id, "  可以免费试听吗？ ", "每个孩子可以免费试听一节课。",
                      similar=["有试听课吗", " 有试听课吗 ", "", "可以免费试听吗？", "ＡＢＣ试听", "abc试听",
                               "试听要钱吗"],
                      buttons=[{"label": "预约试听", "payload": "我想预约试听课"}, {"label": "转人工"}],
                      images=["https://cdn.example.com/trial.png", "/static/demo/classroom.jpg"])
    with database.session() as session:
        entry = kb_service.get_entry(session, orgs.a.id, entry_id)
        assert entry.question == "可以免费试听吗？" and entry.updated_by == "test" and entry.enabled
        # Trimmed, blanks and repeats dropped (compared NFKC + lower case), the standard question itself dropped.
        assert kb_service.similar_of(session, orgs.a.id, entry_id) == ["有试听课吗", "ＡＢＣ试听", "试听要钱吗"]
        assert entry.buttons == [{"label": "预约试听", "payload": "我想预约试听课"},
                                 {"label": "转人工", "payload": "转人工"}]
        last = audit_service.recent(session, orgs.a.id, limit=1)[0]
        assert (last.action, last.target_id, last.detail) == ("kb.entry.create", str(entry_id),
                                                              {"question": "可以免费试听吗？"})


BAD_INPUTS = [
    ({"question": "   "}, "empty", "question"),
    ({"question": "问" * 201}, "too_long", "question"),
    ({"answer": ""}, "empty", "answer"),
    ({"answer": "答" * 2001}, "too_long", "answer"),
    ({"similar": ["相" * 201]}, "too_long", "similar"),
    ({"similar": [f"问法{i}" for i in range(501)]}, "too_many", "similar"),
    ({"similar": ["试听|体验"]}, "bad_char", "similar"),
    ({"images": ["javascript:alert(1)"]}, "bad_url", "images"),
    ({"images": ["https://x.cn/a b.png"]}, "bad_url", "images"),
    ({"buttons": [{"label": f"按钮{i}"} for i in range(7)]}, "too_many", "buttons"),
    ({"buttons": [{"label": "预" * 21}]}, "too_long", "buttons"),
    ({"buttons": [{"label": " ", "payload": "x"}]}, "empty", "buttons"),
    ({"valid_from": dt.date(2026, 9, 1), "valid_until": dt.date(2026, 8, 31)}, "bad_range", "valid_until"),
    ({"hot_position": 1000}, "out_of_range", "hot_position"),
]


@pytest.mark.parametrize(("change", "code", "field"), BAD_INPUTS, ids=[f"{c}-{f}" for _, c, f in BAD_INPUTS])
def test_bad_input_is_refused_with_the_field(database: Database, orgs: TwoOrgs, change: dict[str, object],
                                             code: str, field: str) -> None:
    data = dataclasses.replace(EntryInput(question="周末几点上课？", answer="周六 9 点。"), **change)
    with database.session() as session:
        with pytest.raises(KbError) as caught:
            kb_service.create_entry(session, actor(orgs.a.id), data)
        assert (caught.value.code, caught.value.field) == (code, field)
        session.rollback()
        assert session.scalar(select(func.count()).select_from(KbEntry)) == 0


def test_another_orgs_category_or_entry_cannot_be_referenced(database: Database, orgs: TwoOrgs,
                                                             school: SchoolKb) -> None:
    foreign_category = school.categories["课程/价格"]
    foreign_entry = school.entries["可以免费试听吗？"]
    with database.session() as session:
        with pytest.raises(NotFoundError):
            kb_service.create_entry(session, actor(orgs.b.id), EntryInput("价格", "x", category_id=foreign_category))
        with pytest.raises(NotFoundError):
            kb_service.create_entry(session, actor(orgs.b.id), EntryInput("价格", "x", related_ids=[foreign_entry]))
        kb_service.delete_entry(session, actor(orgs.a.id), foreign_entry)
        with pytest.raises(KbError, match="已删除") as caught:
            kb_service.create_entry(session, actor(orgs.a.id), EntryInput("价格", "x", related_ids=[foreign_entry]))
        assert caught.value.field == "related_ids"
        with pytest.raises(NotFoundError):
            kb_service.update_entry(session, actor(orgs.b.id), foreign_entry, EntryInput("劫持", "被改了"))


def test_a_text_belongs_to_one_entry_only(database: Database, orgs: TwoOrgs, school: SchoolKb) -> None:
    price = school.entries["一对一辅导怎么收费？"]
    with database.session() as session:
        a = actor(orgs.a.id)
        with pytest.raises(KbError) as caught:
            kb_service.create_entry(session, a, EntryInput("班课怎么收费？", "x", similar=["一对一价格"]))
        assert caught.value.field == "similar" and caught.value.code == "duplicate"
        assert f"#{price}" in caught.value.message and "一对一辅导怎么收费？" in caught.value.message
        # Compared after NFKC, trimming and lower case: full-width "？" and spaces do not make it new.
        with pytest.raises(KbError, match="已存在"):
            kb_service.create_entry(session, a, EntryInput(" 一对一辅导怎么收费? ", "x"))
        with pytest.raises(KbError, match="的相似问") as caught:
            kb_service.create_entry(session, a, EntryInput("一对一多少钱", "x"))
        assert caught.value.field == "question"
        with pytest.raises(KbError, match="的标准问"):
            kb_service.create_entry(session, a, EntryInput("班课价格", "x", similar=["可以免费试听吗？"]))
        # An entry may keep its own texts when it is saved again.
        current = kb_service.entry_input(session, kb_service.get_entry(session, orgs.a.id, price))
        kb_service.update_entry(session, a, price, dataclasses.replace(current, answer="新价格表"))
        session.commit()
    # The other org has its own knowledge base: the same texts are fine there.
    create(database, orgs.b.id, "一对一辅导怎么收费？", similar=["一对一价格"])


def test_soft_delete_is_audited_and_frees_the_question(database: Database, orgs: TwoOrgs,
                                                      school: SchoolKb) -> None:
    refund = school.entries["报名后可以退费吗？"]
    with database.session() as session:
        assert kb_service.delete_entries(session, actor(orgs.a.id, "boss"), [refund]) == 1
        session.commit()
        deleted = audit_service.recent(session, orgs.a.id, limit=1)[0]
        assert (deleted.action, deleted.target_id, deleted.actor_label) == ("kb.entry.delete", str(refund), "boss")
        assert deleted.detail == {"question": "报名后可以退费吗？", "answer": SchoolKbAnswer.refund,
                                  "similar": ["怎么退费", "不想上了能退钱吗"], "category": "报名/退费"}
        assert kb_service.search(session, orgs.a.id, text="退费").total == 0
        assert [r.id for r in kb_service.search(session, orgs.a.id, deleted=True).items] == [refund]
    # The question and its similar questions may be used again by a new entry ...
    new_id = create(database, orgs.a.id, "报名后可以退费吗？", "新的退费政策", similar=["怎么退费"])
    with database.session() as session:
        # ... and then the old one cannot come back without a clash.
        with pytest.raises(KbError, match="已存在"):
            kb_service.restore_entries(session, actor(orgs.a.id), [refund])
        session.rollback()
        kb_service.delete_entry(session, actor(orgs.a.id), new_id)
        assert kb_service.restore_entries(session, actor(orgs.a.id), [refund]) == 1
        session.commit()
        assert kb_service.get_entry(session, orgs.a.id, refund).deleted_at is None


class SchoolKbAnswer:
    refund = "开课前全额退款；已上课的按实际课时扣除后退还剩余学费，7 个工作日内原路退回。"


def test_bulk_actions_are_all_or_nothing_across_orgs(database: Database, orgs: TwoOrgs, school: SchoolKb) -> None:
    ids = list(school.entries.values())
    other = create(database, orgs.b.id, "贝塔的问题")
    with database.session() as session:
        with pytest.raises(NotFoundError):
            kb_service.set_enabled(session, actor(orgs.a.id), [ids[0], other], False)
        session.rollback()
        assert kb_service.set_enabled(session, actor(orgs.a.id), ids[:3], False) == 3
        assert kb_service.set_enabled(session, actor(orgs.a.id), ids[:3], False) == 0  # already disabled
        session.commit()
        assert kb_service.search(session, orgs.a.id, enabled=False).total == 3
        assert kb_service.search(session, orgs.a.id, enabled=True).total == len(ids) - 3
        assert kb_service.get_entry(session, orgs.b.id, other).enabled


def test_search_text_category_subtree_and_paging(database: Database, orgs: TwoOrgs, school: SchoolKb) -> None:
    with database.session() as session:
        def found(**kw: object) -> set[str]:
            return {r.question for r in kb_service.search(session, orgs.a.id, **kw).items}  # type: ignore[arg-type]

        assert found(text="试听要钱") == {"可以免费试听吗？"}  # a similar question
        assert found(text="望京") == {"你们有哪些校区？"}  # the answer
        assert found(text="一对一") == {"一对一辅导怎么收费？"}
        assert found(text="%") == set() and found(text="_") == set()  # LIKE wildcards are literal
        course = school.categories["课程"]
        assert found(category_id=course) == {"一对一辅导怎么收费？", "可以免费试听吗？", "周末几点上课？"}
        assert found(category_id=school.categories["课程/试听"]) == {"可以免费试听吗？"}
        with pytest.raises(NotFoundError):
            kb_service.search(session, orgs.b.id, category_id=course)
        first = kb_service.search(session, orgs.a.id, per_page=4)
        second = kb_service.search(session, orgs.a.id, per_page=4, page=2)
        assert (first.total, first.pages, len(first.items), len(second.items)) == (6, 2, 4, 2)
        assert not {r.id for r in first.items} & {r.id for r in second.items}
        row = next(r for r in first.items + second.items if r.question == "你们有哪些校区？")
        assert (row.category, row.similar_count, row.active) == ("校区", 2, True)
        assert kb_service.search(session, orgs.b.id).total == 0


# --- what the bot reads ----------------------------------------------------------------------------------------------

def test_active_documents_respect_enabled_dates_and_deletion(database: Database, orgs: TwoOrgs,
                                                             school: SchoolKb) -> None:
    a = actor(orgs.a.id)
    with database.session() as session:
        def set_fields(question: str, **fields: object) -> None:
            entry = kb_service.get_entry(session, orgs.a.id, school.entries[question])
            data = dataclasses.replace(kb_service.entry_input(session, entry), **fields)
            kb_service.update_entry(session, a, entry.id, data)  # type: ignore[arg-type]

        set_fields("周末几点上课？", enabled=False)
        set_fields("老师都是什么背景？", valid_until=TODAY - dt.timedelta(days=1))  # expired yesterday
        set_fields("你们有哪些校区？", valid_from=TODAY + dt.timedelta(days=1))  # from tomorrow
        set_fields("可以免费试听吗？", valid_from=TODAY, valid_until=TODAY)  # today only
        kb_service.delete_entry(session, a, school.entries["报名后可以退费吗？"])
        session.commit()
        with statements(database) as seen:
            docs = kb_service.active_documents(session, orgs.a.id, TODAY)
        assert len(seen) == 3, seen
        assert {d.question: (d.similar, d.category) for d in docs} == {
            "一对一辅导怎么收费？": (("一对一多少钱", "一对一价格", "一对一课时费"), "课程/价格"),
            "可以免费试听吗？": (("有试听课吗", "试听要钱吗", "能先试听一节吗"), "课程/试听"),
        }
        # the answer comes along: the matcher reads which subjects it names (nlp.answers)
        assert all(d.answer == kb_service.get_entry(session, orgs.a.id, d.entry_id).answer and d.answer for d in docs)
        tomorrow = {d.question for d in kb_service.active_documents(session, orgs.a.id, TODAY + dt.timedelta(1))}
        assert tomorrow == {"一对一辅导怎么收费？", "你们有哪些校区？"}
        assert kb_service.active_documents(session, orgs.b.id, TODAY) == []


def test_today_is_the_day_in_shanghai() -> None:
    assert today_in_shanghai(dt.datetime(2026, 1, 1, 15, 59, tzinfo=dt.UTC)) == dt.date(2026, 1, 1)
    assert today_in_shanghai(dt.datetime(2026, 1, 1, 16, 0, tzinfo=dt.UTC)) == dt.date(2026, 1, 2)


def test_entry_card_shows_active_related_questions_only(database: Database, orgs: TwoOrgs,
                                                        school: SchoolKb) -> None:
    e = school.entries
    a = actor(orgs.a.id)
    with database.session() as session:
        trial = kb_service.get_entry(session, orgs.a.id, e["可以免费试听吗？"])
        data = dataclasses.replace(
            kb_service.entry_input(session, trial), related_ids=[e["周末几点上课？"], e["你们有哪些校区？"],
                                                                 e["一对一辅导怎么收费？"]],
            buttons=[{"label": "预约试听", "payload": "我想预约试听课"}], images=["/static/demo/trial.jpg"])
        kb_service.update_entry(session, a, trial.id, data)
        kb_service.set_enabled(session, a, [e["你们有哪些校区？"]], False)
        session.commit()
        card = kb_service.entry_card(session, orgs.a.id, trial.id, TODAY)
        assert card is not None
        assert card.answer.startswith("每个孩子都可以免费试听") and card.category == "课程/试听"
        assert card.related == ("周末几点上课？", "一对一辅导怎么收费？")  # the editor's order, disabled left out
        assert card.buttons == ({"label": "预约试听", "payload": "我想预约试听课"},)
        assert card.images == ("/static/demo/trial.jpg",)
        assert kb_service.entry_card(session, orgs.a.id, e["你们有哪些校区？"], TODAY) is None
        assert kb_service.entry_card(session, orgs.b.id, trial.id, TODAY) is None
        cards = kb_service.answer_contents(session, orgs.a.id, e.values(), TODAY)
        assert set(cards) == set(e.values()) - {e["你们有哪些校区？"]}


def test_hot_questions_pinned_first_then_most_asked(database: Database, orgs: TwoOrgs, school: SchoolKb) -> None:
    e = school.entries
    a = actor(orgs.a.id)
    with database.session() as session:
        for question, position in (("报名后可以退费吗？", 2), ("你们有哪些校区？", 1)):
            entry = kb_service.get_entry(session, orgs.a.id, e[question])
            kb_service.update_entry(session, a, entry.id, dataclasses.replace(
                kb_service.entry_input(session, entry), hot_pinned=True, hot_position=position))
        for question, times in (("周末几点上课？", 5), ("一对一辅导怎么收费？", 9), ("老师都是什么背景？", 2)):
            for _ in range(times):
                kb_service.record_answer(session, orgs.a.id, e[question])
        kb_service.set_enabled(session, a, [e["老师都是什么背景？"]], False)
        session.commit()
        assert kb_service.hot_questions(session, orgs.a.id, today=TODAY) == [
            "你们有哪些校区？", "报名后可以退费吗？", "一对一辅导怎么收费？", "周末几点上课？"]
        assert kb_service.hot_questions(session, orgs.a.id, limit=3, today=TODAY) == [
            "你们有哪些校区？", "报名后可以退费吗？", "一对一辅导怎么收费？"]
        assert kb_service.hot_questions(session, orgs.b.id, today=TODAY) == []


def test_record_answer_is_one_update_and_no_edit(database: Database, orgs: TwoOrgs, school: SchoolKb) -> None:
    entry_id = school.entries["一对一辅导怎么收费？"]
    with database.session() as session:
        before = kb_service.get_entry(session, orgs.a.id, entry_id).updated_at
    with database.session() as session, statements(database) as seen:
        kb_service.record_answer(session, orgs.a.id, entry_id)
        kb_service.record_answer(session, orgs.b.id, entry_id)  # another org's id changes nothing
        session.commit()
    assert [s for s in seen if s not in ("BEGIN", "COMMIT")] == ["UPDATE", "UPDATE"]
    with database.session() as session:
        entry = kb_service.get_entry(session, orgs.a.id, entry_id)
        assert (entry.ask_count, entry.updated_at) == (1, before)


# --- events ----------------------------------------------------------------------------------------------------------

def test_every_change_announces_kb_changed_after_commit(database: Database, orgs: TwoOrgs,
                                                        events: list[DomainEvent]) -> None:
    a = actor(orgs.a.id)
    with database.session() as session:
        category = kb_categories.create_category(session, a, name="课程")
        entry = kb_service.create_entry(session, a, EntryInput("周末几点上课？", "周六 9 点", category_id=category.id))
        session.flush()
        assert events == [], "published before commit"
        session.commit()
    assert [(e.type, e.org_id, e.data) for e in events] == [
        ("kb.changed", orgs.a.id, {"reason": "category"}), ("kb.changed", orgs.a.id, {"reason": "entry"})]
    assert all(e.topics == () for e in events)
    events.clear()
    with database.session() as session:
        kb_service.update_entry(session, a, entry.id, EntryInput("周末几点上课？", "周六 10 点"))
        kb_service.set_enabled(session, a, [entry.id], False)
        kb_service.delete_entry(session, a, entry.id)
        session.commit()
        assert [e.data for e in events] == [{"reason": "entry"}], "one event per transaction and reason"
        events.clear()
        kb_service.restore_entries(session, a, [entry.id])
        session.rollback()
        kb_service.record_answer(session, orgs.a.id, entry.id)  # counting answers changes nothing indexed
        kb_service.record_miss(session, orgs.a.id, "有停车位吗", MissReason.unanswered)
        session.commit()
    assert events == []


# --- misses and feedback -------------------------------------------------------------------------------------------

def test_feedback_is_idempotent_and_a_downvote_is_a_miss(database: Database, orgs: TwoOrgs,
                                                         school: SchoolKb) -> None:
    price = school.entries["一对一辅导怎么收费？"]
    with database.session() as session:
        kb_service.record_feedback(session, orgs.a.id, 501, price, False, query="一对一能便宜点吗",
                                   conversation_id=7)
        kb_service.record_feedback(session, orgs.a.id, 501, price, False, query="一对一能便宜点吗")
        kb_service.record_feedback(session, orgs.a.id, 502, price, False)  # no question known: the entry's
        session.commit()
        got = session.execute(select(KbMiss.message_id, KbMiss.query, KbMiss.reason, KbMiss.entry_id,
                                     KbMiss.conversation_id).order_by(KbMiss.id)).all()
        assert [tuple(r) for r in got] == [(501, "一对一能便宜点吗", MissReason.downvoted, price, 7),
                                           (502, "一对一辅导怎么收费？", MissReason.downvoted, price, None)]
        feedback = kb_service.record_feedback(session, orgs.a.id, 501, price, True)  # changed their mind
        session.commit()
        assert feedback.helpful is True
        assert session.scalars(select(KbMiss.message_id)).all() == [502]
        with pytest.raises(NotFoundError):
            kb_service.record_feedback(session, orgs.b.id, 503, price, False)


def test_blank_misses_are_not_logged(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        assert kb_service.record_miss(session, orgs.a.id, "   ", "unanswered") is None
        miss = kb_service.record_miss(session, orgs.a.id, "  Ｗi-Fi 密码多少 ", "suggested")
        assert miss is not None and (miss.query, miss.query_norm, miss.reason) == (
            "Ｗi-Fi 密码多少", "wi-fi 密码多少", MissReason.suggested)


def misses(database: Database, org_id: int, *texts: str) -> list[int]:
    with database.session() as session:
        rows = [kb_service.record_miss(session, org_id, t, MissReason.unanswered) for t in texts]
        session.commit()
        return [r.id for r in rows if r is not None]


def test_resolve_misses_as_similar_questions(database: Database, orgs: TwoOrgs, school: SchoolKb,
                                             events: list[DomainEvent]) -> None:
    parking = misses(database, orgs.a.id, "校区能停车吗", "校区能停车吗？", "校区可以停车吗")
    later = misses(database, orgs.a.id, "校区能停车吗")  # arrived after the editor opened the page
    other = misses(database, orgs.b.id, "校区能停车吗")
    campus = school.entries["你们有哪些校区？"]
    with database.session() as session:
        groups = kb_misses.miss_groups(session, orgs.a.id)
        assert [g.count for g in groups] == [4]
        kb_misses.resolve_misses_as_similar(session, actor(orgs.a.id, "boss"), parking, campus)
        session.commit()
        assert kb_service.similar_of(session, orgs.a.id, campus) == [
            "校区在哪里", "地址在哪", "校区能停车吗", "校区可以停车吗"]
        resolved = session.scalars(select(KbMiss).where(KbMiss.id.in_(parking + later))).all()
        assert all(m.resolved_at and m.resolved_by == "boss" and f"#{campus}" in m.resolution for m in resolved)
        assert session.get(KbMiss, other[0]).resolved_at is None  # type: ignore[union-attr]
        assert kb_misses.miss_groups(session, orgs.a.id) == []
        assert [g.count for g in kb_misses.miss_groups(session, orgs.a.id, include_resolved=True)] == [4]
        with pytest.raises(KbError, match="已经被处理"):
            kb_misses.dismiss_misses(session, actor(orgs.a.id), parking)
        with pytest.raises(NotFoundError):
            kb_misses.dismiss_misses(session, actor(orgs.a.id), other)
    assert {"reason": "entry"} in [e.data for e in events]


def test_create_entry_from_misses(database: Database, orgs: TwoOrgs, school: SchoolKb) -> None:
    ids = misses(database, orgs.a.id, "暑假班什么时候开课", "暑假班什么时候开课", "暑假班几号开始上课")
    with database.session() as session:
        entry = kb_misses.create_entry_from_misses(session, actor(orgs.a.id), ids, "7 月 6 日开课。",
                                                   school.categories["课程/上课时间"])
        session.commit()
        assert entry.question == "暑假班什么时候开课"  # the most frequent wording
        assert kb_service.similar_of(session, orgs.a.id, entry.id) == ["暑假班几号开始上课"]
        assert entry.category_id == school.categories["课程/上课时间"]
        assert kb_misses.unresolved_count(session, orgs.a.id) == 0
    ids = misses(database, orgs.a.id, "可以免费试听吗？")  # already a standard question: a clear refusal
    with database.session() as session:
        with pytest.raises(KbError, match="已存在"):
            kb_misses.create_entry_from_misses(session, actor(orgs.a.id), ids, "x")
        session.rollback()
        assert kb_misses.dismiss_misses(session, actor(orgs.a.id), ids, "重复问题") == 1
        session.commit()
        assert session.get(KbMiss, ids[0]).resolution == "重复问题"  # type: ignore[union-attr]


# --- categories ------------------------------------------------------------------------------------------------------

def test_category_tree_rules(database: Database, orgs: TwoOrgs, school: SchoolKb) -> None:
    a = actor(orgs.a.id)
    c = school.categories
    with database.session() as session:
        with pytest.raises(KbError, match="同一级下已有"):
            kb_categories.create_category(session, a, name="课程")
        with pytest.raises(KbError, match="同一级下已有"):
            kb_categories.create_category(session, a, name="价格", parent_id=c["课程"])
        with pytest.raises(KbError, match="不能包含"):
            kb_categories.create_category(session, a, name="课程/价格")
        kb_categories.create_category(session, a, name="价格")  # same name, other level: fine
        with pytest.raises(KbError, match="下级分类"):
            kb_categories.update_category(session, a, c["课程"], name="课程", parent_id=c["课程/试听"])
        with pytest.raises(KbError, match="下级分类"):
            kb_categories.update_category(session, a, c["课程"], name="课程", parent_id=c["课程"])
        with pytest.raises(KbError, match="还有子分类"):
            kb_categories.delete_category(session, a, c["课程"])
        with pytest.raises(KbError, match="还有词条"):
            kb_categories.delete_category(session, a, c["校区"])
        kb_categories.update_category(session, a, c["课程/试听"], name="体验课", parent_id=None)
        session.commit()
        paths = {n.path for n in kb_categories.tree(session, orgs.a.id)}
        assert "体验课" in paths and "课程/试听" not in paths and "价格" in paths
        docs = {d.question: d.category for d in kb_service.active_documents(session, orgs.a.id, TODAY)}
        assert docs["可以免费试听吗？"] == "体验课"
        with pytest.raises(NotFoundError):
            kb_categories.update_category(session, actor(orgs.b.id), c["校区"], name="劫持", parent_id=None)
        kb_service.delete_entry(session, a, school.entries["老师都是什么背景？"])
        kb_categories.delete_category(session, a, c["师资"])  # only a deleted entry left in it
        session.commit()
        assert session.scalar(select(func.count()).select_from(KbSimilarQuestion)) == 14
