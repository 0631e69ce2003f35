"""Lead-form fixtures: a form of org A built through the service, and a poster that sends what the form's script
sends (JSON, an Origin, a fresh idempotency key)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.db import Database
from edudesk.leadforms import service as leadforms_service
from edudesk.leadforms.models import LeadForm
from edudesk.leadforms.rules import FieldChoice, FormInput

SITE = "https://www.school-a.example"
FIELDS = (FieldChoice("name", True, True, "家长称呼"), FieldChoice("phone", True, True),
          FieldChoice("grade", True, False), FieldChoice("subject", True, False))


@dataclass(frozen=True)
class FormFixture:
    id: int
    public_id: str
    org_id: int


def make_form(database: Database, org_id: int, *, name: str = "暑期数学落地页", origins: str = SITE,
              fields: tuple[FieldChoice, ...] = FIELDS, **kw: Any) -> FormFixture:
    with database.session() as session:
        form = leadforms_service.create_form(session, Actor(org_id, label="test"), FormInput(
            name=name, title=kw.pop("title", "免费领取试听课"), intro=kw.pop("intro", "留下电话，老师联系您"),
            fields=fields, allowed_origins=origins, **kw))
        session.commit()
        return FormFixture(form.id, form.public_id, org_id)


def form_row(database: Database, form_id: int) -> LeadForm:
    with database.session() as session:
        form = session.scalars(select(LeadForm).where(LeadForm.id == form_id)).one()
        session.expunge(form)
        return form


def body(fields: dict[str, Any], *, key: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"idempotency_key": key or uuid.uuid4().hex, "fields": fields,
            "page_url": f"{SITE}/summer?utm_campaign=summer-math", "referrer": "https://www.baidu.com/", **extra}


def post(client: TestClient, public_id: str, fields: dict[str, Any], *, origin: str | None = SITE,
         key: str | None = None, **extra: Any) -> httpx.Response:
    headers = {"origin": origin} if origin else {}
    return client.post(f"/api/v1/forms/{public_id}/submissions", json=body(fields, key=key, **extra),
                       headers=headers)
