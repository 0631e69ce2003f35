"""The job that builds an org's passage index after its documents changed, so the first visitor question after
an upload does not wait for it (the process that runs the job warms its own cache; the others rebuild at their
next retrieval, seeing the new ``documents_revision``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from edudesk.jobs import JobRegistry
from edudesk.llm.client import LlmClient
from edudesk.llm.documents.service import INDEX_JOB


def register(registry: JobRegistry, client: LlmClient) -> None:
    def build(session: Session, payload: dict[str, Any]) -> None:
        if client.indexes is not None:
            client.indexes.get(session, int(payload["org_id"]))

    registry.register(INDEX_JOB, build)
