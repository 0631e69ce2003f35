"""The one way to call an org's model: OpenAI-compatible chat completions over httpx.

Every caller (grounded answers, summaries, suggested replies, KB drafts, the evaluation) goes through
``LlmClient.complete`` or ``LlmClient.stream`` and gets ``None`` when there is no answer to use — the org has no
endpoint or paused it, the endpoint is down, slow, over the month's token budget or answers something that is not
a chat completion. Nothing here raises to a caller: the bot then behaves as if the model did not exist (FAQ only),
and a parent never sees an error because a model was slow.

Every call is logged in ``llm_calls`` in the caller's session (purpose, model, tokens, latency, outcome; a short
hash of the prompt, never its text). The budget is checked before a call with an estimate and counted after it
with the usage the endpoint reports (estimated when it reports none).

The URL an admin saved is checked again right before each call by the webhooks' SSRF policy and the request goes
to the checked address (``UrlPolicy.target``), so a DNS answer that changes after saving cannot point the server
at its own network.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edudesk.db import utcnow
from edudesk.llm.documents.index import PassageIndexes
from edudesk.llm.models import CallOutcome, LlmCall, LlmSettings
from edudesk.llm.streaming import Stream
from edudesk.llm.wire import (
    CONNECT_TIMEOUT_SECONDS,
    MAX_RESPONSE_BYTES,
    CallFailed,
    Completion,
    Message,
    Prepared,
    estimate_tokens,
    parse_completion,
    prompt_hash,
)
from edudesk.nlp.embedding import shared_embedder
from edudesk.secretbox import SecretBox, SecretBoxError
from edudesk.tls import client_context
from edudesk.webhooks.urls import UrlPolicy, UrlRefused

log = structlog.get_logger(__name__)

KEY_PURPOSE = "llm-api-key"


def secret_box(app_secret: str) -> SecretBox:
    return SecretBox(app_secret, KEY_PURPOSE)


def month_start(now: dt.datetime | None = None) -> dt.datetime:
    """The budget runs per calendar month, UTC."""
    now = now or utcnow()
    return dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC)


def tokens_used(session: Session, org_id: int, now: dt.datetime | None = None) -> int:
    """Tokens the org's calls used this month (the counter on the settings page)."""
    total = session.scalar(
        select(func.coalesce(func.sum(LlmCall.prompt_tokens + LlmCall.completion_tokens), 0)).where(
            LlmCall.org_id == org_id, LlmCall.created_at >= month_start(now)
        )
    )
    return int(total or 0)


def settings_of(session: Session, org_id: int) -> LlmSettings | None:
    return session.scalars(select(LlmSettings).where(LlmSettings.org_id == org_id)).first()


def usable(row: LlmSettings | None) -> bool:
    """Whether calls may be made for this org at all: an endpoint and a model saved, and switched on."""
    return row is not None and row.enabled and bool(row.base_url) and bool(row.model)


@dataclass(frozen=True)
class ConnectionResult:
    ok: bool
    message: str
    models: tuple[str, ...] = ()
    latency_ms: int = 0


class LlmClient:
    """Built once by the app factory around one pooled HTTP client; safe to share between threads."""

    def __init__(
        self, http: httpx.Client, box: SecretBox, policy: UrlPolicy, indexes: PassageIndexes | None = None
    ) -> None:
        self.http = http
        self.box = box
        self.policy = policy
        # The per-process cache of the orgs' passage indexes (llm.documents.index): beside the client because
        # every caller that retrieves passages then calls the model with them.
        self.indexes = indexes

    @classmethod
    def create(cls, app_secret: str, *, allow_private: bool = False) -> LlmClient:
        # trust_env=False: a proxy of the server's environment must not carry the org's prompts elsewhere.
        http = httpx.Client(
            timeout=httpx.Timeout(10.0, connect=CONNECT_TIMEOUT_SECONDS),
            trust_env=False,
            follow_redirects=False,
            verify=client_context(),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
        )
        return cls(
            http, secret_box(app_secret), UrlPolicy(allow_private=allow_private), PassageIndexes(shared_embedder)
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.http.close()

    # ---- calls ----
    def complete(
        self,
        session: Session,
        org_id: int,
        messages: Sequence[Message],
        *,
        purpose: str,
        max_tokens: int = 400,
        temperature: float = 0.1,
        conversation_id: int | None = None,
    ) -> Completion | None:
        """One chat completion, or None (logged) when there is no usable answer."""
        prepared = self._prepare(
            session,
            org_id,
            messages,
            purpose=purpose,
            max_tokens=max_tokens,
            temperature=temperature,
            stream=False,
            conversation_id=conversation_id,
        )
        if prepared is None:
            return None
        started = time.monotonic()
        attempts = 1 + min(max(prepared.row.retries, 0), 1)
        for attempt in range(attempts):
            try:
                data = self._post(prepared)
                text, usage = parse_completion(data)
            except CallFailed as exc:
                retry = (
                    attempt + 1 < attempts
                    and exc.outcome == CallOutcome.error
                    and exc.detail.startswith(("connect", "http 429", "http 5"))
                )
                if retry:
                    continue
                self._log(
                    session, prepared, purpose, exc.outcome, started, detail=exc.detail, conversation_id=conversation_id
                )
                return None
            prompt_tokens, completion_tokens = usage or (prepared.estimate, estimate_tokens(text))
            call = self._log(
                session,
                prepared,
                purpose,
                CallOutcome.ok,
                started,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                conversation_id=conversation_id,
            )
            return Completion(text, prompt_tokens, completion_tokens, call.latency_ms, prepared.row.model, call.id)
        return None  # pragma: no cover - the loop always returns

    def stream(
        self,
        session: Session,
        org_id: int,
        messages: Sequence[Message],
        *,
        purpose: str,
        max_tokens: int = 400,
        temperature: float = 0.1,
        conversation_id: int | None = None,
    ) -> Stream | None:
        """A streamed chat completion: iterate the returned ``Stream`` for text pieces as they arrive. None when
        no call is made (off, over budget, URL refused). A failure during the stream ends the iteration and sets
        ``Stream.failed``; the call is logged when the iteration ends or ``Stream.close`` is called."""
        prepared = self._prepare(
            session,
            org_id,
            messages,
            purpose=purpose,
            max_tokens=max_tokens,
            temperature=temperature,
            stream=True,
            conversation_id=conversation_id,
        )
        if prepared is None:
            return None
        return Stream(self, session, prepared, purpose, conversation_id)

    def mark(self, session: Session, call_id: int | None, outcome: CallOutcome, detail: str = "") -> None:
        """Changes a logged call's outcome: an answer a guardrail stopped is ``refused_by_guardrail``."""
        if call_id is None:
            return
        call = session.get(LlmCall, call_id)
        if call is not None:
            call.outcome = outcome.value
            call.detail = detail[:200]

    def test_connection(self, session: Session, org_id: int) -> ConnectionResult:
        """The admin's 测试连接: GET /models, and when the endpoint has no such list, a one-token completion."""
        row = settings_of(session, org_id)
        if row is None or not row.base_url or not row.model:
            return ConnectionResult(False, "请先填写接口地址和模型名称并保存")
        started = time.monotonic()
        try:
            target = self.policy.target(_url(row.base_url, "models"))
            headers = {"Host": target.host_header, **self._auth(row)}
            ext = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
            resp = self.http.get(
                target.url,
                headers=headers,
                extensions=ext,
                timeout=httpx.Timeout(row.timeout_seconds, connect=CONNECT_TIMEOUT_SECONDS),
            )
        except UrlRefused as exc:
            return ConnectionResult(False, exc.message)
        except SecretBoxError:
            return ConnectionResult(False, "API 密钥无法解密（应用密钥已更换），请重新填写")
        except httpx.TimeoutException:
            return ConnectionResult(False, f"连接超时（{row.timeout_seconds:g} 秒内无响应）")
        except httpx.HTTPError as exc:
            return ConnectionResult(False, f"无法连接：{type(exc).__name__}")
        latency = int((time.monotonic() - started) * 1000)
        if resp.status_code in (401, 403):
            return ConnectionResult(False, f"接口拒绝了 API 密钥（HTTP {resp.status_code}）", latency_ms=latency)
        if resp.status_code == 200:
            try:
                ids = tuple(str(m["id"]) for m in resp.json().get("data", []) if isinstance(m, dict) and "id" in m)
            except (ValueError, AttributeError, TypeError):
                ids = ()
            if ids and row.model not in ids:
                return ConnectionResult(False, f"连接成功，但接口没有模型“{row.model}”", ids[:20], latency)
            if ids:
                return ConnectionResult(True, f"连接成功，模型“{row.model}”可用（{latency} 毫秒）", ids[:20], latency)
        # No model list (404, or an empty one): try one token of a real completion.
        was_enabled = row.enabled
        row.enabled = True
        try:
            done = self.complete(session, org_id, [{"role": "user", "content": "你好"}], purpose="test", max_tokens=1)
        finally:
            row.enabled = was_enabled
        if done is None:
            return ConnectionResult(False, "连接失败：接口没有返回可用的回答（详见调用记录）")
        return ConnectionResult(
            True, f"连接成功，模型“{row.model}”已回答（{done.latency_ms} 毫秒）", latency_ms=done.latency_ms
        )

    # ---- internals ----
    def _auth(self, row: LlmSettings) -> dict[str, str]:
        if not row.api_key_encrypted:
            return {}
        return {"Authorization": f"Bearer {self.box.decrypt(row.api_key_encrypted)}"}

    def _prepare(
        self,
        session: Session,
        org_id: int,
        messages: Sequence[Message],
        *,
        purpose: str,
        max_tokens: int,
        temperature: float,
        stream: bool,
        conversation_id: int | None,
    ) -> Prepared | None:
        """The request, ready to send; None (logged when a call was refused) for an org without a usable endpoint,
        over its month's budget, or whose URL or key cannot be used now."""
        row = settings_of(session, org_id)
        if row is None or not usable(row):
            return None
        body: dict[str, Any] = {
            "model": row.model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        estimate = sum(estimate_tokens(m.get("content", "")) + 4 for m in messages)
        digest = prompt_hash(messages)
        started = time.monotonic()

        def refused(outcome: CallOutcome, detail: str) -> None:
            placeholder = Prepared(row, "", {}, {}, body, digest, estimate)
            self._log(session, placeholder, purpose, outcome, started, detail=detail, conversation_id=conversation_id)

        if tokens_used(session, row.org_id) + estimate + max_tokens > row.monthly_token_budget:
            refused(CallOutcome.over_budget, "monthly budget")
            return None
        try:
            target = self.policy.target(_url(row.base_url, "chat/completions"))
            headers = {"Host": target.host_header, "Content-Type": "application/json", **self._auth(row)}
        except UrlRefused as exc:
            refused(CallOutcome.error, f"url refused: {exc}")
            return None
        except SecretBoxError:
            refused(CallOutcome.error, "api key unreadable")
            return None
        ext = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
        return Prepared(row, target.url, headers, ext, body, digest, estimate)

    def _timeout(self, row: LlmSettings) -> httpx.Timeout:
        return httpx.Timeout(row.timeout_seconds, connect=min(CONNECT_TIMEOUT_SECONDS, row.timeout_seconds))

    def _post(self, prepared: Prepared) -> Any:
        try:
            resp = self.http.post(
                prepared.url,
                content=json.dumps(prepared.body, ensure_ascii=False).encode(),
                headers=prepared.headers,
                extensions=prepared.extensions,
                timeout=self._timeout(prepared.row),
            )
        except httpx.TimeoutException:
            raise CallFailed(CallOutcome.timeout, "timeout") from None
        except httpx.ConnectError:
            raise CallFailed(CallOutcome.error, "connect failed") from None
        except httpx.HTTPError as exc:
            raise CallFailed(CallOutcome.error, f"transport {type(exc).__name__}") from None
        if resp.status_code != 200:
            raise CallFailed(CallOutcome.error, f"http {resp.status_code}")
        if len(resp.content) > MAX_RESPONSE_BYTES:
            raise CallFailed(CallOutcome.error, "response too large")
        try:
            return resp.json()
        except ValueError:
            raise CallFailed(CallOutcome.error, "not json") from None

    def _log(
        self,
        session: Session,
        prepared: Prepared,
        purpose: str,
        outcome: CallOutcome,
        started: float,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        detail: str = "",
        conversation_id: int | None = None,
    ) -> LlmCall:
        call = LlmCall(
            org_id=prepared.row.org_id,
            purpose=purpose[:32],
            model=prepared.row.model[:200],
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=int((time.monotonic() - started) * 1000),
            outcome=outcome.value,
            prompt_hash=prepared.hash,
            detail=detail[:200],
            conversation_id=conversation_id,
        )
        session.add(call)
        session.flush()
        log.info(
            "llm_call",
            org_id=call.org_id,
            purpose=call.purpose,
            outcome=call.outcome,
            latency_ms=call.latency_ms,
            tokens=prompt_tokens + completion_tokens,
            detail=call.detail,
        )
        return call


def _url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path
