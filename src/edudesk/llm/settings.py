"""An org's endpoint settings: validated, the API key encrypted and never shown again, every change audited.

The base URL is checked with the webhooks' SSRF policy when it is saved (and again before every call, in the
client): the server calls it, so an admin must not be able to point it at the server's own network unless the
deployment allows private hosts (``EDUDESK_LLM_ALLOW_PRIVATE``, for an Ollama / vLLM on the same LAN).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.db import utcnow
from edudesk.errors import DomainError
from edudesk.llm import client as llm_client
from edudesk.llm.gate import grounded_gate
from edudesk.llm.models import LlmCall, LlmSettings
from edudesk.secretbox import SecretBox
from edudesk.webhooks.urls import UrlPolicy, UrlRefused

MAX_TIMEOUT_SECONDS = 60.0
MIN_TIMEOUT_SECONDS = 1.0
MAX_BUDGET = 1_000_000_000
MAX_PHRASES = 100
MAX_PHRASE_LEN = 30
MAX_KEY_LEN = 500


class LlmSettingsError(DomainError):
    pass


@dataclass(frozen=True)
class SettingsInput:
    base_url: str
    model: str
    # Empty keeps the saved key (the page never shows it); ``clear_key`` removes it.
    api_key: str = ""
    clear_key: bool = False
    enabled: bool = False
    timeout_seconds: float = 8.0
    retries: int = 0
    monthly_token_budget: int = 1_000_000
    streaming: bool = True
    forbidden_phrases: str = ""


def current(session: Session, org_id: int) -> LlmSettings | None:
    return llm_client.settings_of(session, org_id)


def parse_phrases(raw: str) -> list[str]:
    """One phrase a line, or separated by commas (半角或全角) or 、."""
    parts = [p.strip() for chunk in raw.replace("，", ",").replace("、", ",").splitlines() for p in chunk.split(",")]
    phrases = list(dict.fromkeys(p for p in parts if p))
    if len(phrases) > MAX_PHRASES or any(len(p) > MAX_PHRASE_LEN for p in phrases):
        raise LlmSettingsError(
            "too_many", f"禁用承诺最多 {MAX_PHRASES} 条，每条不超过 {MAX_PHRASE_LEN} 个字", "forbidden_phrases"
        )
    return phrases


def _clean(data: SettingsInput, policy: UrlPolicy) -> tuple[str, str]:
    base_url = data.base_url.strip()
    model = data.model.strip()
    if data.enabled or base_url:
        if not base_url:
            raise LlmSettingsError("empty", "请填写接口地址", "base_url")
        try:
            base_url = policy.check(base_url)
        except UrlRefused as exc:
            raise LlmSettingsError("url_refused", exc.message, "base_url") from None
    if (data.enabled or model) and not model:
        raise LlmSettingsError("empty", "请填写模型名称", "model")
    if len(model) > 200 or any(ch.isspace() for ch in model):
        raise LlmSettingsError("bad_model", "模型名称不能包含空格，且不超过 200 个字符", "model")
    if not MIN_TIMEOUT_SECONDS <= data.timeout_seconds <= MAX_TIMEOUT_SECONDS:
        raise LlmSettingsError(
            "out_of_range", f"超时须在 {MIN_TIMEOUT_SECONDS:g}–{MAX_TIMEOUT_SECONDS:g} 秒之间", "timeout_seconds"
        )
    if data.retries not in (0, 1):
        raise LlmSettingsError("out_of_range", "重试次数只能是 0 或 1", "retries")
    if not 1_000 <= data.monthly_token_budget <= MAX_BUDGET:
        raise LlmSettingsError(
            "out_of_range", "每月 token 预算须在 1,000 到 1,000,000,000 之间", "monthly_token_budget"
        )
    key = data.api_key.strip()
    if len(key) > MAX_KEY_LEN or any(ch.isspace() or not ch.isprintable() for ch in key):
        raise LlmSettingsError("bad_key", "API 密钥格式不正确", "api_key")
    return base_url, model


def save(
    session: Session, actor: audit_service.Actor, box: SecretBox, policy: UrlPolicy, data: SettingsInput
) -> LlmSettings:
    base_url, model = _clean(data, policy)
    phrases = parse_phrases(data.forbidden_phrases)
    row = current(session, actor.org_id)
    if row is None:
        row = LlmSettings(org_id=actor.org_id, api_key_encrypted="", grounded_enabled=False, documents_revision=0)
        session.add(row)
    key_changed = bool(data.api_key.strip()) or (data.clear_key and bool(row.api_key_encrypted))
    if data.api_key.strip():
        row.api_key_encrypted = box.encrypt(data.api_key.strip())
    elif data.clear_key:
        row.api_key_encrypted = ""
    endpoint_changed = row.base_url != base_url or row.model != model
    row.base_url, row.model, row.enabled = base_url, model, data.enabled
    row.timeout_seconds, row.retries = float(data.timeout_seconds), data.retries
    row.monthly_token_budget, row.streaming = data.monthly_token_budget, data.streaming
    row.forbidden_phrases = phrases
    if endpoint_changed and row.grounded_enabled:
        # Another model answers differently: the evaluation that allowed it said nothing about this one.
        row.grounded_enabled = False
    row.updated_at = utcnow()
    session.flush()
    audit_service.record(
        session,
        actor,
        "llm.settings",
        "llm_settings",
        row.id,
        base_url=base_url,
        model=model,
        enabled=data.enabled,
        key_changed=key_changed,
        budget=data.monthly_token_budget,
    )
    return row


def set_grounded(session: Session, actor: audit_service.Actor, on: bool) -> LlmSettings:
    """Switches grounded answers on (only when the gate allows it and an endpoint is usable) or off."""
    row = current(session, actor.org_id)
    if on:
        if not llm_client.usable(row):
            raise LlmSettingsError("not_configured", "请先配置并启用模型接口", "grounded_enabled")
        allowed, why = grounded_gate(session, actor.org_id)
        if not allowed:
            raise LlmSettingsError("gate_refused", why, "grounded_enabled")
    if row is None:
        raise LlmSettingsError("not_configured", "请先配置并启用模型接口", "grounded_enabled")
    row.grounded_enabled = on
    row.updated_at = utcnow()
    audit_service.record(session, actor, "llm.grounded", "llm_settings", row.id, enabled=on)
    return row


def grounded_on(session: Session, org_id: int) -> LlmSettings | None:
    """The org's settings when grounded answers are on and an endpoint is usable; None otherwise (the common
    case: one indexed read per unanswered question)."""
    row = current(session, org_id)
    return row if row is not None and row.grounded_enabled and llm_client.usable(row) else None


def recent_calls(session: Session, org_id: int, limit: int = 20) -> list[LlmCall]:
    return list(
        session.scalars(select(LlmCall).where(LlmCall.org_id == org_id).order_by(LlmCall.id.desc()).limit(limit))
    )


def bump_documents(session: Session, org_id: int) -> int:
    """The org's documents changed: every process rebuilds its passage index at its next retrieval."""
    row = current(session, org_id)
    if row is None:
        row = LlmSettings(
            org_id=org_id,
            base_url="",
            model="",
            api_key_encrypted="",
            enabled=False,
            grounded_enabled=False,
            documents_revision=0,
        )
        session.add(row)
        session.flush()
    row.documents_revision = (row.documents_revision or 0) + 1
    return row.documents_revision
