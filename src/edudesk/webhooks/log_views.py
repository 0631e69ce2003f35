"""The delivery log of one endpoint: deliveries with filters, each delivery's attempts, and manual replay.

Mounted under /admin/webhooks by webhooks.views. Supervisors may read the log; replaying is for admins.
"""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from edudesk.auth.deps import Forbidden, actor_of, supervisor
from edudesk.auth.models import Role, User
from edudesk.context import get_ctx
from edudesk.forms import Rejected, submit
from edudesk.inputs import PathId
from edudesk.privacy import service as privacy_service
from edudesk.web import page
from edudesk.webhooks import service as webhooks_service
from edudesk.webhooks.event_types import KNOWN_EVENT_TYPES, TEST_EVENT_TYPE
from edudesk.webhooks.models import DeliveryStatus

router = APIRouter()
Supervisor = Annotated[User, Depends(supervisor)]
PER_PAGE = 50


def _log_page(request: Request, user: User, endpoint_id: int, *, status: str = "", event_type: str = "",
              page_no: int = 1, notice: str | None = None, error: str | None = None, code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        endpoint = webhooks_service.get_endpoint(session, user.org_id, endpoint_id)
        deliveries, total = webhooks_service.list_deliveries(session, user.org_id, endpoint_id, status=status,
                                                             event_type=event_type, page=page_no, per_page=PER_PAGE)
    filters = {"status": status, "event_type": event_type}

    def page_url(n: int) -> str:
        query = urlencode({**{k: v for k, v in filters.items() if v}, "page": n})
        return f"/admin/webhooks/{endpoint_id}/deliveries?{query}"

    return page(request, "admin/webhooks_deliveries.html", status_code=code, user=user, endpoint=endpoint,
                deliveries=deliveries, total=total, page_no=page_no, pages=max(1, -(-total // PER_PAGE)),
                page_url=page_url, filters=filters, statuses=list(DeliveryStatus),
                event_types=[*KNOWN_EVENT_TYPES, TEST_EVENT_TYPE], notice=notice, error=error)


@router.get("/{endpoint_id}/deliveries", response_class=HTMLResponse)
def delivery_log(request: Request, user: Supervisor, endpoint_id: PathId,
                 status: Annotated[str, Query(max_length=20)] = "",
                 event_type: Annotated[str, Query(max_length=64)] = "",
                 page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1) -> Response:
    return _log_page(request, user, endpoint_id, status=status, event_type=event_type, page_no=page_no)


def _delivery_page(request: Request, user: User, endpoint_id: int, delivery_id: int, *, notice: str | None = None,
                   error: str | None = None, code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        endpoint = webhooks_service.get_endpoint(session, user.org_id, endpoint_id)
        delivery = webhooks_service.get_delivery(session, user.org_id, endpoint_id, delivery_id)
        event = webhooks_service.event_of(session, delivery)
        attempts = webhooks_service.attempts_of(session, delivery)
        data = event.payload
        phone = data.get("phone_e164") or (data.get("fields") or {}).get("phone")
        if isinstance(data.get("contact_id"), int) and phone:
            # The payload shows the lead's full number to whoever opens the delivery.
            privacy_service.phone_seen(request, session, actor_of(request, user), "webhooks.delivery",
                                       [data["contact_id"]])
            session.commit()
    payload = json.dumps(event.payload, ensure_ascii=False, indent=2)
    return page(request, "admin/webhooks_delivery.html", status_code=code, user=user, endpoint=endpoint,
                delivery=delivery, event=event, payload=payload, attempts=attempts, notice=notice, error=error)


@router.get("/{endpoint_id}/deliveries/{delivery_id}", response_class=HTMLResponse)
def delivery_detail(request: Request, user: Supervisor, endpoint_id: PathId, delivery_id: PathId) -> Response:
    return _delivery_page(request, user, endpoint_id, delivery_id)


@router.post("/{endpoint_id}/deliveries/{delivery_id}/replay", response_class=HTMLResponse)
def replay(request: Request, user: Supervisor, endpoint_id: PathId, delivery_id: PathId,
           csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    if user.role != Role.admin:
        raise Forbidden()
    done = submit(request, csrf_token, lambda session: webhooks_service.replay(
        session, actor_of(request, user), endpoint_id, delivery_id))
    if isinstance(done, Rejected):
        return _delivery_page(request, user, endpoint_id, delivery_id, error=done.message, code=done.status)
    return _delivery_page(request, user, endpoint_id, delivery_id, notice="已重新排队推送")
