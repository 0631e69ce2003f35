"""Classification rules run for a contact: tags set and removed by rules (never staff's), the debounced durable job,
and the rule's points in the lead's grade with its reason."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from edudesk import jobs
from edudesk.audit.service import Actor
from edudesk.channels.base import InboundMessage
from edudesk.contacts import service as contacts_service
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from edudesk.leads import service as leads_service
from edudesk.visitors import service as visitors_service
from tests.conftest import TwoOrgs
from tests.visitors.factories import add_visit, run_classify_jobs

PRICE = "https://s.example/courses/math/price"


def test_default_rules_are_seeded_once_and_a_deleted_one_stays_deleted(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        rules = visitors_service.list_rules(session, orgs.a.id)
        assert [r.tag for r in rules] == ["价格敏感", "高意向", "职业教育"]
        for rule in rules:
            visitors_service.delete_rule(session, Actor(orgs.a.id, label="t"), rule.id)
        session.commit()
        assert visitors_service.list_rules(session, orgs.a.id) == []
        assert [r.tag for r in visitors_service.list_rules(session, orgs.b.id)] == ["价格敏感", "高意向", "职业教育"]


def test_two_first_uses_at_once_seed_the_defaults_once(database: Database, orgs: TwoOrgs) -> None:
    """Two transactions seed one org at the same time (two instances' first jobs): the one that loses the race
    reads the other's rules instead of failing on the unique tag."""
    from edudesk.visitors import rules as rules_module

    first = database.sessionmaker()
    try:
        seeded = rules_module.seed_defaults(first, orgs.a.id)  # not committed yet: the other waits on it
        results: list[object] = []

        def other() -> None:
            try:
                with database.session() as session:
                    results.append([r.tag for r in rules_module.seed_defaults(session, orgs.a.id)])
                    session.commit()
            except BaseException as exc:  # re-raised below
                results.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(0.5)  # it is blocked on the first transaction's rows (PostgreSQL) or on the write gate (SQLite)
        first.commit()
        thread.join(30)
        assert results == [[r.tag for r in seeded]]
    finally:
        first.close()
    with database.session() as session:
        assert [r.tag for r in visitors_service.list_rules(session, orgs.a.id)] == ["价格敏感", "高意向", "职业教育"]


def test_a_visitor_message_does_not_seed_the_rules(database: Database, orgs: TwoOrgs) -> None:
    """Concurrent first messages of an org must not all seed its rules (they did, and all but one failed with a
    duplicate tag on PostgreSQL): the message path enqueues the job, which seeds them."""
    from edudesk.visitors.profile_models import ClassifyRule

    with database.session() as session:
        contact = contacts_service.find_or_create(session, orgs.a.id, "web", "v1")
        changed = {"signal": {"asked_price"}}
        assert visitors_service.trail_changed(session, orgs.a.id, [contact.id], changed=changed) == 1
        session.commit()
        assert session.scalars(select(ClassifyRule).where(ClassifyRule.org_id == orgs.a.id)).first() is None
    assert run_classify_jobs(database) == 1
    with database.session() as session:
        assert [r.tag for r in visitors_service.list_rules(session, orgs.a.id)] == ["价格敏感", "高意向", "职业教育"]


def test_trail_changed_enqueues_one_debounced_job_per_contact(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        one = contacts_service.find_or_create(session, orgs.a.id, "web", "v1")
        two = contacts_service.find_or_create(session, orgs.a.id, "web", "v2")
        assert visitors_service.trail_changed(session, orgs.a.id, [one.id, two.id, one.id]) == 2
        assert visitors_service.trail_changed(session, orgs.a.id, [one.id]) == 0
        session.commit()
        queued = list(session.scalars(select(jobs.Job).where(jobs.Job.kind == visitors_service.CLASSIFY_JOB)))
        assert sorted(j.payload["contact_id"] for j in queued) == sorted([one.id, two.id])
        assert all(j.run_at > jobs.utcnow() for j in queued)  # a burst of page views waits for one run
    assert run_classify_jobs(database) == 2
    with database.session() as session:
        assert visitors_service.trail_changed(session, orgs.a.id, [one.id]) == 1  # after the run: again


def test_rules_tag_and_untag_but_never_remove_a_staff_tag(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        contact = contacts_service.find_or_create(session, orgs.a.id, "web", "v1")
        contact.tags = ["老客户", "职业教育"]  # staff's, before any rule
        add_visit(session, orgs.a.id, contact_id=contact.id, pages=[PRICE, PRICE, PRICE],
                  source={"utm_campaign": "exam-prep-2027"}, source_kind="ad", campaign="exam-prep-2027")
        added, removed = visitors_service.classify_contact(session, orgs.a.id, contact.id)
        assert added == ["价格敏感"] and removed == []
        assert contact.tags == ["老客户", "职业教育", "价格敏感"]
        profile = visitors_service.profile_of(session, orgs.a.id, contact.id)
        by_name = {t.name: t for t in profile.tags}
        assert by_name["价格敏感"].rule_id is not None and "3 次" in (by_name["价格敏感"].reason or "")
        assert by_name["职业教育"].rule_id is None  # staff's, although the campaign rule holds too
        session.commit()

        # The rules stop holding (the price rule now wants 5 views; the campaign rule is gone).
        rules = {r.tag: r for r in visitors_service.list_rules(session, orgs.a.id)}
        visitors_service.save_rule(session, Actor(orgs.a.id, label="t"), rules["价格敏感"].id, tag="价格敏感",
                                   conditions="page *price* >= 5", points=15, label="价格敏感", enabled=True)
        visitors_service.delete_rule(session, Actor(orgs.a.id, label="t"), rules["职业教育"].id)
        added, removed = visitors_service.classify_contact(session, orgs.a.id, contact.id)
        assert (added, removed) == ([], ["价格敏感"])
        assert contact.tags == ["老客户", "职业教育"]


def test_a_rule_tag_staff_removed_is_not_put_back_while_the_rule_holds(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        contact = contacts_service.find_or_create(session, orgs.a.id, "web", "v1")
        add_visit(session, orgs.a.id, contact_id=contact.id, pages=[PRICE] * 3)
        visitors_service.classify_contact(session, orgs.a.id, contact.id)
        assert contact.tags == ["价格敏感"]
        contacts_service.set_tags(session, contact, [])  # staff took it off in the console
        assert visitors_service.classify_contact(session, orgs.a.id, contact.id) == ([], [])
        assert contact.tags == []


def test_tag_points_feed_the_lead_grade_with_the_rule_label(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        msg = InboundMessage(orgs.a.id, "web", "v1", "m1", text="我叫王芳，电话 13912345678")
        result = inbound_service.receive(session, msg, agents_online=True)
        contact_id = result.conversation.contact_id
        lead = leads_service.lead_for_contact(session, orgs.a.id, contact_id)
        assert lead is not None
        before = lead.score
        add_visit(session, orgs.a.id, contact_id=contact_id, pages=[PRICE] * 3)
        visitors_service.classify_contact(session, orgs.a.id, contact_id)
        assert lead.score == before + 15
        assert "+15 价格敏感" in lead.score_reasons
        # The org's own grading rules may name the tag (and win over the rule's points).
        leads_service.save_grading(session, Actor(orgs.a.id, label="t"),
                                   "has_phone|25|留下了手机号\ntag:价格敏感|30|特别在意价格", 60, 30)
        visitors_service.classify_contact(session, orgs.a.id, contact_id)
        assert "+30 特别在意价格" in lead.score_reasons and "+15 价格敏感" not in lead.score_reasons
        session.commit()


def test_asking_about_a_trial_tags_through_the_inbound_path_and_the_job(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        result = inbound_service.receive(session, InboundMessage(orgs.a.id, "web", "v9", "m1",
                                                                 text="可以免费试听吗？"), agents_online=True)
        contact_id = result.conversation.contact_id
        session.commit()
    assert run_classify_jobs(database) == 1
    with database.session() as session:
        assert "高意向" in contacts_service.get(session, orgs.a.id, contact_id).tags
        other = contacts_service.find_or_create(session, orgs.b.id, "web", "v9")
        assert other.tags == []


def test_what_rules_remember_is_exported_and_erased(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        contact = contacts_service.find_or_create(session, orgs.a.id, "web", "v1")
        add_visit(session, orgs.a.id, contact_id=contact.id, pages=[PRICE] * 3)
        visitors_service.classify_contact(session, orgs.a.id, contact.id)
        exported = visitors_service.export_classification(session, orgs.a.id, contact.id)
        assert set(exported["rule_tags"]) == {"价格敏感"} and exported["classified_at"]
        assert visitors_service.export_classification(session, orgs.b.id, contact.id)["rule_tags"] == {}
        assert visitors_service.erase_classification(session, orgs.b.id, contact.id) == 0
        assert visitors_service.erase_classification(session, orgs.a.id, contact.id) == 1
        assert visitors_service.export_classification(session, orgs.a.id, contact.id)["rule_tags"] == {}


def test_the_job_is_enqueued_with_the_change_and_goes_with_its_rollback(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        contact = contacts_service.find_or_create(session, orgs.a.id, "web", "v1")
        session.commit()
        add_visit(session, orgs.a.id, contact_id=contact.id)
        visitors_service.trail_changed(session, orgs.a.id, [contact.id])
        session.rollback()
        assert session.scalars(select(jobs.Job).where(jobs.Job.kind == visitors_service.CLASSIFY_JOB)).first() is None
        assert visitors_service.trail_changed(session, orgs.a.id, [contact.id]) == 1  # not left "queued"


def test_a_failing_run_is_given_up_and_the_next_change_tries_again(database: Database, orgs: TwoOrgs,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with database.session() as session:
        contact = contacts_service.find_or_create(session, orgs.a.id, "web", "v_fail")
        add_visit(session, orgs.a.id, contact_id=contact.id, pages=[PRICE] * 3)
        assert visitors_service.trail_changed(session, orgs.a.id, [contact.id]) == 1
        session.commit()
        contact_id = contact.id

    def broken(*_: object, **__: object) -> None:
        raise ValueError("a rule's bug")

    monkeypatch.setattr(visitors_service, "facts_of", broken)
    assert run_classify_jobs(database) == 1
    with database.session() as session:
        job = session.scalars(select(jobs.Job).where(jobs.Job.kind == visitors_service.CLASSIFY_JOB)).one()
        assert job.status == jobs.JobStatus.done  # given up, not retried for ever
        assert "价格敏感" not in contacts_service.get(session, orgs.a.id, contact_id).tags
        assert visitors_service.trail_changed(session, orgs.a.id, [contact_id]) == 1  # not left "queued"
        session.commit()
    monkeypatch.undo()
    assert run_classify_jobs(database) == 1
    with database.session() as session:
        assert "价格敏感" in contacts_service.get(session, orgs.a.id, contact_id).tags
