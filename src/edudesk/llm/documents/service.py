"""The org's documents: add (a file or a web page), replace (a new version), validity dates, delete; passages.

A new version never changes an old one: its passages are new rows, and the old version's stay, so an answer given
before names what it was built from (``sources`` in the message). Deleting hides the document and takes it out of
retrieval; its passages stay for the same reason, and the deletion is audited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.audit import service as audit_service
from edudesk.db import NotFoundError, get_in_org, utcnow
from edudesk.llm import settings as llm_settings
from edudesk.llm.documents import passages as splitter
from edudesk.llm.documents.extract import MAX_BYTES, DocumentError, Extracted, extract_file, safe_filename
from edudesk.llm.models import LlmDocument, LlmDocumentVersion, LlmPassage

INDEX_JOB = "llm.documents.index"
MAX_DOCUMENTS = 500
MAX_TITLE = 200


@dataclass(frozen=True)
class Validity:
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None


def parse_validity(valid_from: str, valid_until: str) -> Validity:
    def one(value: str, field: str) -> dt.date | None:
        value = value.strip()
        if not value:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise DocumentError("bad_date", "日期格式应为 2026-09-01", field) from None

    start, end = one(valid_from, "valid_from"), one(valid_until, "valid_until")
    if start and end and end < start:
        raise DocumentError("bad_range", "失效日期不能早于生效日期", "valid_until")
    return Validity(start, end)


def list_documents(session: Session, org_id: int) -> list[LlmDocument]:
    return list(
        session.scalars(
            select(LlmDocument)
            .where(LlmDocument.org_id == org_id, LlmDocument.deleted_at.is_(None))
            .order_by(LlmDocument.updated_at.desc(), LlmDocument.id.desc())
        )
    )


def get_document(session: Session, org_id: int, document_id: int) -> LlmDocument:
    document = get_in_org(session, LlmDocument, document_id, org_id)
    if document.deleted_at is not None:
        raise NotFoundError("llm_document", document_id)
    return document


def versions_of(session: Session, document: LlmDocument) -> list[LlmDocumentVersion]:
    return list(
        session.scalars(
            select(LlmDocumentVersion)
            .where(LlmDocumentVersion.org_id == document.org_id, LlmDocumentVersion.document_id == document.id)
            .order_by(LlmDocumentVersion.version.desc())
        )
    )


def passages_of(session: Session, document: LlmDocument, version: int | None = None) -> list[LlmPassage]:
    wanted = version or document.current_version
    return list(
        session.scalars(
            select(LlmPassage)
            .join(LlmDocumentVersion, LlmDocumentVersion.id == LlmPassage.version_id)
            .where(
                LlmPassage.org_id == document.org_id,
                LlmPassage.document_id == document.id,
                LlmDocumentVersion.version == wanted,
            )
            .order_by(LlmPassage.position)
        )
    )


def _changed(session: Session, org_id: int) -> None:
    """Every process rebuilds the org's passage index; a job warms it now."""
    llm_settings.bump_documents(session, org_id)
    jobs.enqueue(session, INDEX_JOB, {"org_id": org_id}, org_id=org_id, max_attempts=3)


def _store(
    session: Session,
    actor: audit_service.Actor,
    document: LlmDocument,
    extracted: Extracted,
    *,
    filename: str,
    size: int,
    digest: str,
) -> LlmDocumentVersion:
    pieces = splitter.split(extracted.text)
    if not pieces:
        raise DocumentError("no_text", "没有从文件中读出文字", "file")
    version = LlmDocumentVersion(
        org_id=document.org_id,
        document_id=document.id,
        version=document.current_version + 1,
        filename=filename,
        kind=extracted.kind,
        size_bytes=size,
        sha256=digest,
        chars=len(extracted.text),
        passages=len(pieces),
        created_by=actor.label[:100],
    )
    session.add(version)
    session.flush()
    session.add_all(
        LlmPassage(
            org_id=document.org_id,
            document_id=document.id,
            version_id=version.id,
            position=p.position,
            heading=p.heading,
            text=p.text,
        )
        for p in pieces
    )
    document.current_version = version.version
    document.updated_at = utcnow()
    _changed(session, document.org_id)
    return version


def _new_document(
    session: Session, org_id: int, title: str, validity: Validity, *, source: str, source_url: str = ""
) -> LlmDocument:
    count = len(list_documents(session, org_id))
    if count >= MAX_DOCUMENTS:
        raise DocumentError("too_many", f"最多 {MAX_DOCUMENTS} 份资料，请先删除不用的", "file")
    document = LlmDocument(
        org_id=org_id,
        title=title,
        source=source,
        source_url=source_url,
        current_version=0,
        valid_from=validity.valid_from,
        valid_until=validity.valid_until,
    )
    session.add(document)
    session.flush()
    return document


def _same_as_current(session: Session, document: LlmDocument, digest: str) -> bool:
    current = session.scalars(
        select(LlmDocumentVersion.sha256).where(
            LlmDocumentVersion.org_id == document.org_id,
            LlmDocumentVersion.document_id == document.id,
            LlmDocumentVersion.version == document.current_version,
        )
    ).first()
    return current == digest


def add_file(
    session: Session,
    actor: audit_service.Actor,
    *,
    filename: str,
    data: bytes,
    title: str = "",
    validity: Validity | None = None,
    document_id: int | None = None,
    limit: int = MAX_BYTES,
) -> LlmDocumentVersion:
    """A new document from a file, or (``document_id``) a new version of one."""
    name = safe_filename(filename)
    if not name:
        raise DocumentError("bad_name", "文件名不正确", "file")
    extracted = extract_file(name, data, limit)
    digest = hashlib.sha256(data).hexdigest()
    title = " ".join(title.split())[:MAX_TITLE] or extracted.title or name
    if document_id is None:
        document = _new_document(session, actor.org_id, title, validity or Validity(), source="upload")
        action = "llm.document.create"
    else:
        document = get_document(session, actor.org_id, document_id)
        if _same_as_current(session, document, digest):
            raise DocumentError("duplicate", "内容与当前版本相同，没有生成新版本", "file")
        if validity is not None:
            document.valid_from, document.valid_until = validity.valid_from, validity.valid_until
        action = "llm.document.version"
    version = _store(session, actor, document, extracted, filename=name, size=len(data), digest=digest)
    audit_service.record(
        session, actor, action, "llm_document", document.id, version=version.version, filename=name, sha256=digest[:16]
    )
    return version


def add_page(
    session: Session,
    actor: audit_service.Actor,
    *,
    url: str,
    final_url: str,
    extracted: Extracted,
    title: str = "",
    validity: Validity | None = None,
    document_id: int | None = None,
) -> LlmDocumentVersion:
    """A web page the server fetched (``fetch.fetch_page``) as a new document or a new version of one."""
    data = extracted.text.encode()
    digest = hashlib.sha256(data).hexdigest()
    title = " ".join(title.split())[:MAX_TITLE] or extracted.title or final_url[:MAX_TITLE]
    if document_id is None:
        document = _new_document(
            session, actor.org_id, title, validity or Validity(), source="url", source_url=url.strip()[:2000]
        )
        action = "llm.document.create"
    else:
        document = get_document(session, actor.org_id, document_id)
        if _same_as_current(session, document, digest):
            raise DocumentError("duplicate", "网页内容没有变化，没有生成新版本", "url")
        action = "llm.document.version"
    version = _store(session, actor, document, extracted, filename=final_url[:255], size=len(data), digest=digest)
    audit_service.record(session, actor, action, "llm_document", document.id, version=version.version, url=url[:300])
    return version


def set_validity(session: Session, actor: audit_service.Actor, document_id: int, validity: Validity) -> LlmDocument:
    document = get_document(session, actor.org_id, document_id)
    document.valid_from, document.valid_until = validity.valid_from, validity.valid_until
    document.updated_at = utcnow()
    audit_service.record(
        session,
        actor,
        "llm.document.validity",
        "llm_document",
        document.id,
        valid_from=str(validity.valid_from or ""),
        valid_until=str(validity.valid_until or ""),
    )
    _changed(session, actor.org_id)
    return document


def delete(session: Session, actor: audit_service.Actor, document_id: int) -> None:
    document = get_document(session, actor.org_id, document_id)
    document.deleted_at = utcnow()
    audit_service.record(
        session,
        actor,
        "llm.document.delete",
        "llm_document",
        document.id,
        title=document.title,
        versions=document.current_version,
    )
    _changed(session, actor.org_id)


@dataclass(frozen=True)
class Source:
    """One cited passage as the console and QC show it."""

    document_id: int
    document: str
    version: int
    position: int
    heading: str
    text: str
    deleted: bool


def sources(session: Session, org_id: int, cited: list[dict[str, object]]) -> list[Source]:
    """The passages a generated answer cited (``extra.sources``), read in the caller's org only."""
    ids = [p for c in cited if isinstance(p := c.get("passage"), int)]
    if not ids:
        return []
    stmt = (
        select(LlmPassage, LlmDocument, LlmDocumentVersion.version)
        .join(LlmDocument, LlmDocument.id == LlmPassage.document_id)
        .join(LlmDocumentVersion, LlmDocumentVersion.id == LlmPassage.version_id)
        .where(LlmPassage.org_id == org_id, LlmDocument.org_id == org_id, LlmPassage.id.in_(ids))
    )
    found = {
        p.id: Source(d.id, d.title, v, p.position, p.heading, p.text, d.deleted_at is not None)
        for p, d, v in session.execute(stmt)
    }
    return [found[i] for i in ids if i in found]
