"""Classification under load (issue 17): a change no rule looks at enqueues no job, the org's rules come from a
per-process cache keyed by ``rules_version`` (right across instances), and a run reads only the facts the rules
read."""

from __future__ import annotations

from sqlalchemy import select, update

from edudesk import jobs
from edudesk.audit.service import Actor
from edudesk.channels.base import InboundMessage
from edudesk.contacts import service as contacts_service
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from edudesk.visitors import classify
from edudesk.visitors import rules as rules_module
from edudesk.visitors import service as visitors_service
from edudesk.visitors.profile_models import ClassifyRule, ContactClassification
from tests.conftest import TwoOrgs
from tests.statements import recorded_sql
from tests.visitors.factories import add_visit, run_classify_jobs

PRICE = "https://s.example/courses/math/price"
DEFAULT_TAGS = ["价格敏感", "高意向", "职业教育"]


def _classified_contact(database: Database, org_id: int, key: str) -> int:
    """A contact run once under the org's current rules (as after their first change)."""
    with database.session() as session:
        contact = contacts_service.find_or_create(session, org_id, "web", key)
        assert visitors_service.trail_changed(session, org_id, [contact.id]) == 1
        session.commit()
        contact_id = contact.id
    assert run_classify_jobs(database) == 1
    return contact_id


def test_a_change_no_rule_reads_enqueues_nothing_until_a_rule_reads_it(database: Database, orgs: TwoOrgs) -> None:
    contact_id = _classified_contact(database, orgs.a.id, "v1")
    faq = {"faq": frozenset({"课程价格"})}
    with database.session() as session:
        # The default rules read pages, the signal asked_trial and campaigns: not categories, not asked_price.
        assert visitors_service.trail_changed(session, orgs.a.id, [contact_id], changed=faq) == 0
        assert visitors_service.trail_changed(session, orgs.a.id, [contact_id],
                                              changed={"signal": frozenset({"asked_price"})}) == 0
        assert visitors_service.trail_changed(session, orgs.a.id, [contact_id],
                                              changed={"signal": frozenset({"asked_trial"})}) == 1
        session.rollback()
        # An admin adds a rule on categories: the same change now enqueues the job.
        visitors_service.save_rule(session, Actor(orgs.a.id, label="t"), None, tag="问价", conditions="faq 价格",
                                   points=5, label="问价", enabled=True)
        session.commit()
        assert visitors_service.trail_changed(session, orgs.a.id, [contact_id], changed=faq) == 1
        session.commit()
    assert run_classify_jobs(database) == 1
    with database.session() as session:
        # Run under the new rules: a category that rule does not match is skipped again, one it matches is not.
        assert visitors_service.trail_changed(session, orgs.a.id, [contact_id],
                                              changed={"faq": frozenset({"上课时间"})}) == 0
        assert visitors_service.trail_changed(session, orgs.a.id, [contact_id], changed=faq) == 1
        # Anything (no ``changed``) always enqueues.
        session.rollback()
        assert visitors_service.trail_changed(session, orgs.a.id, [contact_id]) == 1


def test_a_contact_run_under_older_rules_is_not_skipped(database: Database, orgs: TwoOrgs) -> None:
    contact_id = _classified_contact(database, orgs.a.id, "v1")
    never = _classified_contact(database, orgs.a.id, "v2")
    with database.session() as session:
        rule = visitors_service.list_rules(session, orgs.a.id)[0]
        visitors_service.delete_rule(session, Actor(orgs.a.id, label="t"), rule.id)  # its tags go on the next run
        session.execute(update(ContactClassification).where(ContactClassification.contact_id == never)
                        .values(rules_version=None))  # run before versions were kept
        session.commit()
        faq = {"faq": frozenset({"课程价格"})}
        assert visitors_service.trail_changed(session, orgs.a.id, [contact_id, never], changed=faq) == 2
        session.commit()
    assert run_classify_jobs(database) == 2
    with database.session() as session:
        assert visitors_service.trail_changed(session, orgs.a.id, [contact_id], changed=faq) == 0
        # A course page changes what "course" conditions see: a change of the rules' version too.
        visitors_service.add_pattern(session, Actor(orgs.a.id, label="t"), pattern="/courses/math",
                                     course_id=None, course_name="数学")
        assert visitors_service.trail_changed(session, orgs.a.id, [contact_id], changed=faq) == 1


def test_a_new_contact_is_always_run(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        contact = contacts_service.find_or_create(session, orgs.a.id, "web", "v1")
        assert visitors_service.trail_changed(session, orgs.a.id, [contact.id],
                                              changed={"faq": frozenset({"价格"})}) == 1


def test_the_cache_sees_a_rule_edited_by_another_instance(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        first = visitors_service.rules_of(session, orgs.a.id)
        session.commit()
        assert [r.tag for r in first.specs] == DEFAULT_TAGS
        assert visitors_service.rules_of(session, orgs.a.id) is first  # cached: one small query
    # Another process edits the rules table without a version change: this process keeps what it read (the cache
    # is in use) ...
    with database.session() as session:
        session.execute(update(ClassifyRule).where(ClassifyRule.org_id == orgs.a.id, ClassifyRule.tag == "高意向")
                        .values(enabled=False))
        session.commit()
        assert [r.tag for r in visitors_service.rules_of(session, orgs.a.id).specs] == DEFAULT_TAGS
    # ... and sees the edit as soon as the version says so, as every edit through save_rule / delete_rule does.
    with database.session() as session:
        rules_module.rules_changed(session, orgs.a.id)
        session.commit()
    with database.session() as session:
        assert [r.tag for r in visitors_service.rules_of(session, orgs.a.id).specs] == ["价格敏感", "职业教育"]
        rule = next(r for r in visitors_service.list_rules(session, orgs.a.id) if r.tag == "价格敏感")
        visitors_service.save_rule(session, Actor(orgs.a.id, label="t"), rule.id, tag="价格敏感",
                                   conditions="page *price* >= 5", points=20, label="价格敏感", enabled=True)
        session.commit()
    with database.session() as session:
        specs = visitors_service.rules_of(session, orgs.a.id).specs
        assert specs[0].points == 20 and specs[0].conditions[0].min == 5
        assert [r.tag for r in visitors_service.rules_of(session, orgs.b.id).specs] == DEFAULT_TAGS


def test_a_rolled_back_edit_never_leaves_its_rules_in_the_cache(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        rule = visitors_service.list_rules(session, orgs.a.id)[0]
        session.commit()
        visitors_service.save_rule(session, Actor(orgs.a.id, label="t"), rule.id, tag="试探", conditions="faq 价格",
                                   points=1, label="试探", enabled=True)
        assert visitors_service.rules_of(session, orgs.a.id).specs[0].tag == "试探"  # cached under its version
        session.rollback()
        assert visitors_service.rules_of(session, orgs.a.id).specs[0].tag == "价格敏感"


def test_a_run_reads_only_the_facts_the_rules_read(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        result = inbound_service.receive(session, InboundMessage(orgs.a.id, "web", "v1", "m1", text="学费多少？"),
                                         agents_online=True)
        contact_id = result.conversation.contact_id
        add_visit(session, orgs.a.id, contact_id=contact_id, pages=[PRICE] * 3)
        visitors_service.rules_of(session, orgs.a.id)
        session.commit()
        with recorded_sql(database) as seen:
            assert visitors_service.classify_contact(session, orgs.a.id, contact_id) == (["价格敏感"], [])
        session.commit()
    tables = " ".join(seen)
    # The default rules read pages, signals and campaigns: no conversations, FAQ categories, course pages, lead
    # card, nor the rules themselves (cached), only their version.
    for table in ("conversations", "bot_conversation_state", "visitor_course_patterns", "lead_values",
                  "visitor_classify_rules"):
        assert f"FROM {table}" not in tables, table
    assert len(seen) <= 9, seen  # 14 before issue 17 (rules, course pages, lead card, conversations, categories)
    # The same answer as with every fact gathered.
    with database.session() as session:
        rules = visitors_service.rules_of(session, orgs.a.id)
        some = visitors_service.facts_of(session, orgs.a.id, contact_id, rules.kinds)
        every = visitors_service.facts_of(session, orgs.a.id, contact_id)
        assert every.categories or every.visits  # there was more to gather
        assert classify.evaluate(rules.specs, some) == classify.evaluate(rules.specs, every)
        state = session.scalars(select(ContactClassification).where(
            ContactClassification.contact_id == contact_id)).one()
        assert state.rules_version == rules.version


def test_the_inbound_path_skips_signals_no_rule_reads(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        receive = inbound_service.receive
        receive(session, InboundMessage(orgs.a.id, "web", "v1", "m1", text="你好"), agents_online=True)
        session.commit()
        contact_id = contacts_service.find_or_create(session, orgs.a.id, "web", "v1").id
        visitors_service.trail_changed(session, orgs.a.id, [contact_id])
        session.commit()
    assert run_classify_jobs(database) == 1

    def waiting() -> int:
        with database.session() as session:
            return len(list(session.scalars(select(jobs.Job).where(
                jobs.Job.kind == visitors_service.CLASSIFY_JOB, jobs.Job.status == jobs.JobStatus.pending))))

    with database.session() as session:
        receive(session, InboundMessage(orgs.a.id, "web", "v1", "m2", text="学费多少钱？"), agents_online=True)
        session.commit()
    assert waiting() == 0  # asked_price: no rule reads it
    with database.session() as session:
        receive(session, InboundMessage(orgs.a.id, "web", "v1", "m3", text="可以免费试听吗？"), agents_online=True)
        session.commit()
    assert waiting() == 1  # asked_trial: the 高意向 rule
    assert run_classify_jobs(database) == 1
    with database.session() as session:
        assert "高意向" in contacts_service.get(session, orgs.a.id, contact_id).tags


def test_the_job_reads_and_evaluates_before_its_savepoint(database: Database, orgs: TwoOrgs) -> None:
    """On SQLite the savepoint takes the process's write gate, which every visitor's message waits for: it must
    hold the tag writes only, not the reading of the trail and the evaluation."""
    with database.session() as session:
        contact = contacts_service.find_or_create(session, orgs.a.id, "web", "v1")
        add_visit(session, orgs.a.id, contact_id=contact.id, pages=[PRICE] * 3)
        visitors_service.rules_of(session, orgs.a.id)
        assert visitors_service.trail_changed(session, orgs.a.id, [contact.id]) == 1
        session.commit()
        contact_id = contact.id
    with recorded_sql(database) as seen:
        assert run_classify_jobs(database) == 1
    opened = next(i for i, sql in enumerate(seen) if sql.startswith("SAVEPOINT"))
    closed = next(i for i, sql in enumerate(seen) if i > opened and sql.startswith("RELEASE"))
    before, inside = " ".join(seen[:opened]), " ".join(seen[opened:closed])
    assert "FROM visitor_page_views" in before and "FROM visitor_page_views" not in inside
    assert "UPDATE visitor_contact_classes" in inside  # the tags themselves
    with database.session() as session:
        state = session.scalars(select(ContactClassification).where(
            ContactClassification.contact_id == contact_id)).one()
        assert "价格敏感" in state.rule_tags and not state.queued
