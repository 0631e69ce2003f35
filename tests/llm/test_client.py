"""The client against the fake endpoint: answers, streaming, usage counting, the budget, faults → None."""

from __future__ import annotations

from sqlalchemy import select

from edudesk.db import Database
from edudesk.llm import client as llm_client
from edudesk.llm.models import CallOutcome, LlmCall
from tests.conftest import TwoOrgs
from tests.llm.conftest import ConfigureLlm
from tests.llm.fake_openai import FakeOpenAI, Reply

ASK = [{"role": "user", "content": "学费多少？"}]


def _calls(database: Database, org_id: int) -> list[LlmCall]:
    with database.session() as session:
        rows = list(session.scalars(select(LlmCall).where(LlmCall.org_id == org_id).order_by(LlmCall.id)))
        session.expunge_all()
        return rows


def test_complete_counts_usage_and_logs_no_content(
    database: Database, orgs: TwoOrgs, configure_llm: ConfigureLlm, fake_openai: FakeOpenAI, llm: llm_client.LlmClient
) -> None:
    configure_llm(orgs.a.id, api_key="sk-secret-1")
    fake_openai.add(Reply("一学期 3600 元。", usage=(30, 12)))
    with database.session() as session:
        done = llm.complete(session, orgs.a.id, ASK, purpose="grounded")
        session.commit()
        assert done is not None and done.text == "一学期 3600 元。"
        assert (done.prompt_tokens, done.completion_tokens) == (30, 12)
        assert llm_client.tokens_used(session, orgs.a.id) == 42
        assert llm_client.tokens_used(session, orgs.b.id) == 0
    sent = fake_openai.completions()[0]
    assert sent.headers["authorization"] == "Bearer sk-secret-1"
    assert sent.body["model"] == "fake-model" and sent.body["stream"] is False
    (call,) = _calls(database, orgs.a.id)
    assert call.outcome == "ok" and call.purpose == "grounded" and len(call.prompt_hash) == 16
    assert "学费" not in call.detail + call.prompt_hash


def test_stream_yields_pieces_and_counts_usage(
    database: Database, orgs: TwoOrgs, configure_llm: ConfigureLlm, fake_openai: FakeOpenAI, llm: llm_client.LlmClient
) -> None:
    configure_llm(orgs.a.id)
    fake_openai.add(Reply("我们在杭州有两个校区。", usage=(20, 10), chunk_chars=3))
    with database.session() as session:
        stream = llm.stream(session, orgs.a.id, ASK, purpose="grounded")
        assert stream is not None
        pieces = list(stream)
        assert len(pieces) > 1 and "".join(pieces) == "我们在杭州有两个校区。"
        assert stream.completion is not None and stream.completion.completion_tokens == 10
        session.commit()
        assert llm_client.tokens_used(session, orgs.a.id) == 30
    assert fake_openai.completions()[0].body["stream"] is True


def test_off_without_settings_or_disabled(
    database: Database, orgs: TwoOrgs, configure_llm: ConfigureLlm, fake_openai: FakeOpenAI, llm: llm_client.LlmClient
) -> None:
    with database.session() as session:
        assert llm.complete(session, orgs.a.id, ASK, purpose="grounded") is None
    configure_llm(orgs.a.id, enabled=False)
    with database.session() as session:
        assert llm.complete(session, orgs.a.id, ASK, purpose="grounded") is None
        assert llm.stream(session, orgs.a.id, ASK, purpose="grounded") is None
    assert fake_openai.requests == [] and _calls(database, orgs.a.id) == []


def test_over_budget_is_refused_before_sending(
    database: Database, orgs: TwoOrgs, configure_llm: ConfigureLlm, fake_openai: FakeOpenAI, llm: llm_client.LlmClient
) -> None:
    configure_llm(orgs.a.id, monthly_token_budget=600)
    fake_openai.add(Reply("好的", usage=(150, 10)))
    with database.session() as session:
        assert llm.complete(session, orgs.a.id, ASK, purpose="grounded", max_tokens=100) is not None
        session.commit()
        # 160 used; this one would pass 600 with its 400 completion tokens reserved.
        assert llm.complete(session, orgs.a.id, ASK, purpose="grounded", max_tokens=450) is None
        session.commit()
    assert len(fake_openai.completions()) == 1
    assert [c.outcome for c in _calls(database, orgs.a.id)] == ["ok", "over_budget"]


FAULTS = [
    (Reply(status=500), "error"),
    (Reply(status=429), "error"),
    (Reply("慢", delay=1.5), "timeout"),
    (Reply(raw=b"<html>502 Bad Gateway</html>"), "error"),
    (Reply(raw=b'{"choices": []}'), "error"),
    (Reply(raw=b'{"choices": [{"message": {"content": ""}}]}'), "error"),
]


def test_faults_return_none_and_are_logged(
    database: Database, orgs: TwoOrgs, configure_llm: ConfigureLlm, fake_openai: FakeOpenAI, llm: llm_client.LlmClient
) -> None:
    configure_llm(orgs.a.id, timeout_seconds=1.0)
    for reply, _ in FAULTS:
        fake_openai.add(reply)
        with database.session() as session:
            assert llm.complete(session, orgs.a.id, ASK, purpose="grounded") is None
            session.commit()
    assert [c.outcome for c in _calls(database, orgs.a.id)] == [outcome for _, outcome in FAULTS]


def test_one_retry_on_server_error(
    database: Database, orgs: TwoOrgs, configure_llm: ConfigureLlm, fake_openai: FakeOpenAI, llm: llm_client.LlmClient
) -> None:
    configure_llm(orgs.a.id, retries=1)
    fake_openai.add(Reply(status=503), Reply("第二次成功"))
    with database.session() as session:
        done = llm.complete(session, orgs.a.id, ASK, purpose="grounded")
        assert done is not None and done.text == "第二次成功"


def test_down_endpoint_and_refused_host(
    database: Database, orgs: TwoOrgs, configure_llm: ConfigureLlm, settings: object, llm: llm_client.LlmClient
) -> None:
    from tests.ports import free_port

    configure_llm(orgs.a.id, base_url=f"http://127.0.0.1:{free_port()}/v1")
    with database.session() as session:
        assert llm.complete(session, orgs.a.id, ASK, purpose="grounded") is None
        session.commit()
    strict = llm_client.LlmClient.create("test-secret-" + "x" * 20, allow_private=False)
    configure_llm(orgs.b.id)
    with database.session() as session:
        assert strict.complete(session, orgs.b.id, ASK, purpose="grounded") is None
        session.commit()
    strict.close()
    assert [c.outcome for c in _calls(database, orgs.a.id)] == ["error"]
    (refused,) = _calls(database, orgs.b.id)
    assert refused.outcome == CallOutcome.error and refused.detail.startswith("url refused")


def test_stream_failure_and_early_close(
    database: Database, orgs: TwoOrgs, configure_llm: ConfigureLlm, fake_openai: FakeOpenAI, llm: llm_client.LlmClient
) -> None:
    configure_llm(orgs.a.id)
    fake_openai.add(Reply(status=500), Reply("第一句。第二句。"))
    with database.session() as session:
        failed = llm.stream(session, orgs.a.id, ASK, purpose="grounded")
        assert failed is not None and list(failed) == [] and failed.failed and failed.completion is None
        stopped = llm.stream(session, orgs.a.id, ASK, purpose="grounded")
        assert stopped is not None
        next(iter(stopped))
        stopped.close(CallOutcome.refused_by_guardrail, "number")
        session.commit()
    assert [c.outcome for c in _calls(database, orgs.a.id)] == ["error", "refused_by_guardrail"]


def test_connection_test(
    database: Database, orgs: TwoOrgs, configure_llm: ConfigureLlm, fake_openai: FakeOpenAI, llm: llm_client.LlmClient
) -> None:
    with database.session() as session:
        assert not llm.test_connection(session, orgs.a.id).ok
    configure_llm(orgs.a.id)
    with database.session() as session:
        result = llm.test_connection(session, orgs.a.id)
        assert result.ok and "fake-model" in result.models
    configure_llm(orgs.a.id, model="other")
    with database.session() as session:
        result = llm.test_connection(session, orgs.a.id)
        assert not result.ok and "other" in result.message
    fake_openai.models_status = 404
    fake_openai.add("好")
    with database.session() as session:
        result = llm.test_connection(session, orgs.a.id)
        assert result.ok, result.message
