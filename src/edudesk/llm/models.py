"""Tables of the optional large-model assist (docs/llm.md).

- ``llm_settings``: one row per org that configured an endpoint; nothing is called for an org without one.
- ``llm_calls``: every call, with its purpose, tokens, latency and outcome — never the text sent or received
  (a short hash of the prompt tells repeated calls apart without keeping what a parent wrote).
- ``llm_documents`` / ``llm_document_versions`` / ``llm_passages``: the org's own documents, split into the
  passages the grounded answers cite. A re-upload is a new version; the old version's passages stay, so an answer
  given before still names what it was built from.
- ``llm_evaluations``: the grounded path measured on the org's labelled questions; the gate for enabling it.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow


class CallOutcome(enum.StrEnum):
    ok = "ok"
    timeout = "timeout"
    error = "error"  # down, refused, a 4xx/5xx, or an answer that is not a chat completion
    over_budget = "over_budget"  # refused before sending: the month's tokens would pass the budget
    refused_by_guardrail = "refused_by_guardrail"  # answered, but a check stopped the answer (grounded.py)


class LlmSettings(OrgScoped, Base):
    __tablename__ = "llm_settings"
    __table_args__ = (UniqueConstraint("org_id", name="uq_llm_settings_org"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The endpoint as an admin entered it, e.g. https://api.deepseek.com/v1 (".../chat/completions" is appended).
    base_url: Mapped[str] = mapped_column(String(2000), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    # Fernet token (edudesk.secretbox, purpose "llm-api-key"); empty: the endpoint needs no key (a local vLLM).
    api_key_encrypted: Mapped[str] = mapped_column(Text, default="")
    # Calls are made only while this is on (the admin can keep the configuration and pause it).
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    timeout_seconds: Mapped[float] = mapped_column(Float, default=8.0)
    # 0 or 1: one retry of a call that failed to connect or got 429/5xx (never of a timeout: the parent waits).
    retries: Mapped[int] = mapped_column(Integer, default=0)
    monthly_token_budget: Mapped[int] = mapped_column(Integer, default=1_000_000)
    # The grounded path (answers from the org's documents); switched on only when ``grounded_gate`` allows it.
    grounded_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Stream grounded answers sentence by sentence to the widget (each sentence checked before it is sent).
    streaming: Mapped[bool] = mapped_column(Boolean, default=True)
    # Phrases no generated answer may contain, besides the defaults (grounded.DEFAULT_FORBIDDEN).
    forbidden_phrases: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Bumped on every change of the org's documents: each process rebuilds its passage index when it differs.
    documents_revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LlmCall(OrgScoped, Base):
    __tablename__ = "llm_calls"
    __table_args__ = (Index("ix_llm_calls_org_created", "org_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What the call was for: grounded, test, summary, suggest_reply, kb_draft, similar_questions, eval, …
    purpose: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200), default="")
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(32))
    # The first 16 hex digits of the prompt's SHA-256: no message content is kept.
    prompt_hash: Mapped[str] = mapped_column(String(16), default="")
    # A short reason for a failed call (HTTP status, "timeout", which guardrail), never content.
    detail: Mapped[str] = mapped_column(String(200), default="")
    conversation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class LlmDocument(OrgScoped, Base):
    __tablename__ = "llm_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    # "upload" (a file) or "url" (a web page the server fetched from an address an admin entered).
    source: Mapped[str] = mapped_column(String(16), default="upload")
    source_url: Mapped[str] = mapped_column(String(2000), default="")
    current_version: Mapped[int] = mapped_column(Integer, default=0)
    # Like KB entries: the document is used only from ``valid_from`` to ``valid_until`` (both inclusive).
    valid_from: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    valid_until: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    # Deleted documents are hidden and no longer retrieved; their passages stay for the citations of old answers.
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LlmDocumentVersion(OrgScoped, Base):
    __tablename__ = "llm_document_versions"
    __table_args__ = (UniqueConstraint("document_id", "version", name="uq_llm_document_versions_doc_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(Integer, ForeignKey("llm_documents.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255), default="")
    # pdf, docx, markdown, text, html
    kind: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    chars: Mapped[int] = mapped_column(Integer, default=0)
    passages: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LlmPassage(OrgScoped, Base):
    __tablename__ = "llm_passages"
    __table_args__ = (Index("ix_llm_passages_version", "version_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(Integer, ForeignKey("llm_documents.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(Integer, ForeignKey("llm_document_versions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    heading: Mapped[str] = mapped_column(String(300), default="")
    text: Mapped[str] = mapped_column(Text)


class LlmEvaluation(OrgScoped, Base):
    """One run of the grounded path over the org's labelled questions (``edudesk eval faq --llm``)."""

    __tablename__ = "llm_evaluations"
    __table_args__ = (Index("ix_llm_evaluations_org_created", "org_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    queries: Mapped[int] = mapped_column(Integer, default=0)
    # Fractions in 0..1, as `edudesk eval faq --json` prints them.
    answered: Mapped[float] = mapped_column(Float, default=0.0)
    wrong_rate: Mapped[float] = mapped_column(Float, default=0.0)
    refused: Mapped[float] = mapped_column(Float, default=0.0)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
