"""Webhook endpoints, the event outbox and the delivery log.

Other areas call ``emit`` in the same transaction as the state change it reports: the event row, one delivery per
subscribed endpoint and the delivery jobs commit (or roll back) with that change, so no webhook announces a change
that did not happen, and none is lost because the process died right after a commit. Sending is done by the
``webhooks.deliver`` job (webhooks.delivery).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.audit import service as audit_service
from edudesk.audit.service import Actor
from edudesk.db import NotFoundError, get_in_org, org_query, utcnow
from edudesk.errors import DomainError
from edudesk.secretbox import SecretBox
from edudesk.webhooks import signing
from edudesk.webhooks.event_types import EVENT_TYPE_RE, KNOWN_EVENT_TYPES, TEST_EVENT_TYPE
from edudesk.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookSubject,
)
from edudesk.webhooks.urls import UrlPolicy

DELIVER_JOB = "webhooks.deliver"
SECRET_PURPOSE = "webhook-secrets"  # noqa: S105 (a key-derivation label)
MAX_PAYLOAD_BYTES = 256 * 1024
# The job table's own retries cover database errors only; delivery retries are scheduled by the handler.
JOB_MAX_ATTEMPTS = 20


class WebhookError(DomainError):
    pass


def secret_box(app_secret: str) -> SecretBox:
    return SecretBox(app_secret, SECRET_PURPOSE)


# --- emitting ----------------------------------------------------------------------------------------------------

def _next_sequence(session: Session, org_id: int, subject_key: str) -> int:
    """Hands out 1, 2, 3 … per subject. The UPDATE takes the subject's row lock, so two transactions emitting for
    the same lead at once get consecutive numbers in commit order instead of a unique-constraint error."""
    dialect = session.get_bind().dialect.name
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(WebhookSubject)
    session.execute(ins.values(org_id=org_id, subject_key=subject_key, last_sequence=0)
                    .on_conflict_do_nothing(index_elements=["org_id", "subject_key"]))
    return int(session.execute(
        update(WebhookSubject)
        .where(WebhookSubject.org_id == org_id, WebhookSubject.subject_key == subject_key)
        .values(last_sequence=WebhookSubject.last_sequence + 1)
        .returning(WebhookSubject.last_sequence),
        execution_options={"synchronize_session": False},
    ).scalar_one())


def _queue(session: Session, event: WebhookEvent, endpoint_id: int) -> WebhookDelivery:
    now = utcnow()
    delivery = WebhookDelivery(
        org_id=event.org_id, public_id="dlv_" + secrets.token_hex(12), event_id=event.id, endpoint_id=endpoint_id,
        event_type=event.type, subject_key=event.subject_key, sequence=event.sequence,
        status=DeliveryStatus.pending, attempts=0, series_started_at=now, next_attempt_at=now, created_at=now)
    session.add(delivery)
    session.flush()
    schedule(session, delivery)
    return delivery


def schedule(session: Session, delivery: WebhookDelivery) -> None:
    """Enqueues a delivery job for when the delivery is due. Duplicate jobs are harmless: the handler claims the
    delivery with a lease, and a delivery that is not due, blocked or finished is left alone."""
    jobs.enqueue(session, DELIVER_JOB, {"delivery_id": delivery.id}, org_id=delivery.org_id,
                 run_at=max(delivery.next_attempt_at, utcnow()), max_attempts=JOB_MAX_ATTEMPTS)


def _validated(event_type: str, subject_key: str, payload: dict[str, Any]) -> None:
    if not EVENT_TYPE_RE.match(event_type) or len(event_type) > 64:
        raise WebhookError("bad_event_type", f"事件类型 {event_type!r} 应形如 lead.created")
    if not subject_key or len(subject_key) > 200:
        raise WebhookError("bad_subject", "subject_key 不能为空，且不超过 200 个字符")
    try:
        size = len(json.dumps(payload, ensure_ascii=False).encode())
    except (TypeError, ValueError) as exc:
        raise WebhookError("bad_payload", f"事件内容无法转成 JSON：{exc}") from None
    if size > MAX_PAYLOAD_BYTES:
        raise WebhookError("payload_too_large", "事件内容超过 256 KB")


def _record_event(session: Session, org_id: int, event_type: str, subject_key: str,
                  payload: dict[str, Any]) -> WebhookEvent:
    _validated(event_type, subject_key, payload)
    event = WebhookEvent(org_id=org_id, public_id="evt_" + secrets.token_hex(12), type=event_type,
                         subject_key=subject_key, sequence=_next_sequence(session, org_id, subject_key),
                         payload=payload, created_at=utcnow())
    session.add(event)
    session.flush()
    return event


def emit(session: Session, org_id: int, event_type: str, subject_key: str, payload: dict[str, Any], *,
         endpoint_ids: list[int] | None = None) -> WebhookEvent:
    """Records an event and queues it for every enabled endpoint of the org subscribed to its type.

    Call it inside the transaction of the change it reports, before the caller's commit; nothing is sent if the
    caller rolls back. ``subject_key`` ("lead:42") is the ordering scope: an endpoint receives the events of one
    subject in the order they were emitted. ``payload`` must be JSON-able; it becomes the body's ``data``.

    ``endpoint_ids``: queue it for exactly these enabled endpoints of the org instead, whatever they subscribe to
    (an owned endpoint, such as an API inbox's callback URL, gets events only this way; the org's subscriptions
    never receive owned traffic, nor owned endpoints the org's events).
    """
    event = _record_event(session, org_id, event_type, subject_key, payload)
    stmt = org_query(WebhookEndpoint, org_id).where(WebhookEndpoint.enabled.is_(True)).order_by(WebhookEndpoint.id)
    if endpoint_ids is not None:
        for endpoint in session.scalars(stmt.where(WebhookEndpoint.id.in_(endpoint_ids or [0]))):
            _queue(session, event, endpoint.id)
        return event
    for endpoint in session.scalars(stmt.where(WebhookEndpoint.owner == "")):
        if event_type in endpoint.event_types:
            _queue(session, event, endpoint.id)
    return event


# --- endpoints ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EndpointInput:
    url: str
    event_types: list[str]
    description: str = ""
    enabled: bool = True


def _clean(data: EndpointInput, policy: UrlPolicy) -> EndpointInput:
    url = policy.check(data.url)
    unknown = [t for t in data.event_types if t not in KNOWN_EVENT_TYPES]
    if unknown:
        raise WebhookError("unknown_event_type", f"未知的事件类型：{', '.join(unknown)}", "event_types")
    if not data.event_types:
        raise WebhookError("no_event_types", "请至少选择一种事件", "event_types")
    description = data.description.strip()
    if len(description) > 200:
        raise WebhookError("description_too_long", "备注不能超过 200 个字符", "description")
    types = [t for t in KNOWN_EVENT_TYPES if t in data.event_types]
    return EndpointInput(url=url, event_types=types, description=description, enabled=data.enabled)


def list_endpoints(session: Session, org_id: int) -> list[WebhookEndpoint]:
    """The org's own subscriptions (owned endpoints are listed by their owner)."""
    return list(session.scalars(org_query(WebhookEndpoint, org_id).where(WebhookEndpoint.owner == "")
                                .order_by(WebhookEndpoint.id)))


def get_endpoint(session: Session, org_id: int, endpoint_id: int) -> WebhookEndpoint:
    return get_in_org(session, WebhookEndpoint, endpoint_id, org_id)


def create_endpoint(session: Session, actor: Actor, box: SecretBox, policy: UrlPolicy,
                    data: EndpointInput) -> tuple[WebhookEndpoint, str]:
    """Returns the endpoint and its signing secret, which is shown to the admin this once."""
    data = _clean(data, policy)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(org_id=actor.org_id, url=data.url, secret_encrypted=box.encrypt(secret),
                               event_types=data.event_types, description=data.description, enabled=data.enabled)
    session.add(endpoint)
    session.flush()
    audit_service.record(session, actor, "webhook.create", "webhook_endpoint", endpoint.id, url=endpoint.url,
                         event_types=endpoint.event_types)
    return endpoint, secret


def _not_owned(endpoint: WebhookEndpoint) -> None:
    if endpoint.owner:
        raise WebhookError("managed_elsewhere", "这个推送地址由其他功能管理（如 API 渠道），请在那里修改或删除", "url")


def update_endpoint(session: Session, actor: Actor, policy: UrlPolicy, endpoint_id: int,
                    data: EndpointInput) -> WebhookEndpoint:
    endpoint = get_in_org(session, WebhookEndpoint, endpoint_id, actor.org_id, for_update=True)
    _not_owned(endpoint)
    data = _clean(data, policy)
    endpoint.url, endpoint.event_types = data.url, data.event_types
    endpoint.description, endpoint.enabled = data.description, data.enabled
    endpoint.updated_at = utcnow()
    audit_service.record(session, actor, "webhook.update", "webhook_endpoint", endpoint.id, url=endpoint.url,
                         event_types=endpoint.event_types, enabled=endpoint.enabled)
    return endpoint


def rotate_secret(session: Session, actor: Actor, box: SecretBox, endpoint_id: int) -> str:
    """A new secret signs every delivery from now on (retries included); the old one stops working at once."""
    endpoint = get_in_org(session, WebhookEndpoint, endpoint_id, actor.org_id, for_update=True)
    secret = signing.new_secret()
    endpoint.secret_encrypted = box.encrypt(secret)
    endpoint.secret_rotated_at = endpoint.updated_at = utcnow()
    audit_service.record(session, actor, "webhook.rotate_secret", "webhook_endpoint", endpoint.id)
    return secret


def delete_endpoint(session: Session, actor: Actor, endpoint_id: int) -> None:
    """Deletes the endpoint with its delivery log; queued deliveries to it are dropped."""
    endpoint = get_in_org(session, WebhookEndpoint, endpoint_id, actor.org_id, for_update=True)
    _not_owned(endpoint)
    _delete(session, actor, endpoint)


def _delete(session: Session, actor: Actor, endpoint: WebhookEndpoint) -> None:
    audit_service.record(session, actor, "webhook.delete", "webhook_endpoint", endpoint.id, url=endpoint.url)
    session.delete(endpoint)
    session.flush()


# --- owned endpoints ---------------------------------------------------------------------------------------------
# Another feature's endpoint (an API inbox's callback URL): the same signing, retries, order, delivery log, test
# event, secret rotation and replay as the org's own, but events reach it only through ``emit(endpoint_ids=…)``
# and its owner sets its URL. ``owner`` is the owner's own key ("inbox:12"); the webhooks area does not read it.

OWNER_MAX = 64


def owned_endpoint(session: Session, org_id: int, owner: str, *, for_update: bool = False) -> WebhookEndpoint | None:
    if not owner:
        return None
    stmt = org_query(WebhookEndpoint, org_id).where(WebhookEndpoint.owner == owner).order_by(WebhookEndpoint.id)
    return session.scalars(stmt.with_for_update() if for_update else stmt).first()


def _owned_input(url: str, description: str, policy: UrlPolicy) -> tuple[str, str]:
    url = policy.check(url)
    description = description.strip()
    if len(description) > 200:
        raise WebhookError("description_too_long", "备注不能超过 200 个字符", "description")
    return url, description


def create_owned_endpoint(session: Session, actor: Actor, box: SecretBox, policy: UrlPolicy, *, owner: str,
                          url: str, description: str = "", enabled: bool = True) -> tuple[WebhookEndpoint, str]:
    """An endpoint for ``owner``; returns it with its signing secret, which the owner shows to the admin once."""
    if not owner or len(owner) > OWNER_MAX:
        raise WebhookError("bad_owner", f"owner 不能为空，且不超过 {OWNER_MAX} 个字符")
    url, description = _owned_input(url, description, policy)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(org_id=actor.org_id, url=url, secret_encrypted=box.encrypt(secret), event_types=[],
                               description=description, enabled=enabled, owner=owner)
    session.add(endpoint)
    session.flush()
    audit_service.record(session, actor, "webhook.create", "webhook_endpoint", endpoint.id, url=endpoint.url,
                         owner=owner)
    return endpoint, secret


def update_owned_endpoint(session: Session, actor: Actor, policy: UrlPolicy, endpoint: WebhookEndpoint, *,
                          url: str, description: str, enabled: bool) -> WebhookEndpoint:
    """New URL, description or state from the owner's settings; audited only when something changed."""
    url, description = _owned_input(url, description, policy)
    if (url, description, enabled) != (endpoint.url, endpoint.description, endpoint.enabled):
        endpoint.url, endpoint.description, endpoint.enabled = url, description, enabled
        endpoint.updated_at = utcnow()
        audit_service.record(session, actor, "webhook.update", "webhook_endpoint", endpoint.id, url=endpoint.url,
                             enabled=enabled, owner=endpoint.owner)
    return endpoint


def delete_owned_endpoint(session: Session, actor: Actor, owner: str) -> None:
    """Deletes the owner's endpoint with its delivery log (its queued deliveries are dropped)."""
    endpoint = owned_endpoint(session, actor.org_id, owner, for_update=True)
    if endpoint is not None:
        _delete(session, actor, endpoint)


def send_test(session: Session, actor: Actor, endpoint_id: int) -> WebhookDelivery:
    endpoint = get_in_org(session, WebhookEndpoint, endpoint_id, actor.org_id)
    if not endpoint.enabled:
        raise WebhookError("endpoint_disabled", "请先启用这个地址再发送测试事件")
    event = _record_event(session, actor.org_id, TEST_EVENT_TYPE, f"test:{endpoint.id}",
                          {"message": "这是一条来自 edudesk 的测试事件", "endpoint_id": endpoint.id})
    delivery = _queue(session, event, endpoint.id)
    audit_service.record(session, actor, "webhook.test", "webhook_endpoint", endpoint.id, event=event.public_id)
    return delivery


# --- the delivery log --------------------------------------------------------------------------------------------

def list_deliveries(session: Session, org_id: int, endpoint_id: int, *, status: str = "", event_type: str = "",
                    page: int = 1, per_page: int = 50) -> tuple[list[WebhookDelivery], int]:
    """One page of an endpoint's deliveries, newest first, and how many match the filters."""
    get_endpoint(session, org_id, endpoint_id)
    stmt = org_query(WebhookDelivery, org_id).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status in DeliveryStatus.__members__:
        stmt = stmt.where(WebhookDelivery.status == DeliveryStatus(status))
    if event_type:
        stmt = stmt.where(WebhookDelivery.event_type == event_type)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(WebhookDelivery.id.desc()).offset((page - 1) * per_page).limit(per_page))
    return list(rows), int(total)


def get_delivery(session: Session, org_id: int, endpoint_id: int, delivery_id: int) -> WebhookDelivery:
    delivery = get_in_org(session, WebhookDelivery, delivery_id, org_id)
    if delivery.endpoint_id != endpoint_id:
        raise NotFoundError("WebhookDelivery", delivery_id)
    return delivery


def event_of(session: Session, delivery: WebhookDelivery) -> WebhookEvent:
    return get_in_org(session, WebhookEvent, delivery.event_id, delivery.org_id)


def attempts_of(session: Session, delivery: WebhookDelivery) -> list[WebhookAttempt]:
    stmt = org_query(WebhookAttempt, delivery.org_id).where(WebhookAttempt.delivery_id == delivery.id)
    return list(session.scalars(stmt.order_by(WebhookAttempt.id.desc())))


def replay(session: Session, actor: Actor, endpoint_id: int, delivery_id: int) -> WebhookDelivery:
    """Sends a delivery again, whatever its status, as a new series of attempts (a new 24-hour retry window).

    It keeps its place in its subject's order: later unfinished events of the subject wait behind it again."""
    delivery = get_delivery(session, actor.org_id, endpoint_id, delivery_id)
    if event_of(session, delivery).payload == ERASED_PAYLOAD:
        raise WebhookError("erased", "这条事件涉及的个人信息已删除，不能重发")
    now = utcnow()
    session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery.id).values(
        status=DeliveryStatus.pending, attempts=0, series_started_at=now, next_attempt_at=now, locked_until=None))
    session.refresh(delivery)
    schedule(session, delivery)
    audit_service.record(session, actor, "webhook.replay", "webhook_delivery", delivery.id,
                         delivery=delivery.public_id, endpoint_id=endpoint_id)
    return delivery



def emit_if_subscribed(session: Session, org_id: int, event_type: str, subject_key: str,
                       payload: Callable[[], dict[str, Any]]) -> WebhookEvent | None:
    """``emit`` for hot paths: one indexed read when no enabled endpoint wants ``event_type``, and the payload is
    built only when one does (most small schools connect no CRM)."""
    wanted = any(event_type in e.event_types for e in session.scalars(
        org_query(WebhookEndpoint, org_id).where(WebhookEndpoint.enabled.is_(True), WebhookEndpoint.owner == "")))
    return emit(session, org_id, event_type, subject_key, payload()) if wanted else None


# --- privacy: export, erasure and retention (called by privacy.service) -----------------------------------------

ERASED_PAYLOAD: dict[str, Any] = {"erased": True}
ERASED_ERROR = "个人信息已删除，不再发送"
UNFINISHED_STATUSES = (DeliveryStatus.pending, DeliveryStatus.failed)


def events_of_subjects(session: Session, org_id: int, subject_keys: list[str]) -> list[dict[str, Any]]:
    """Which events about the person were sent to the CRM (type, id, time; the payloads are the lead and ticket
    data the export already holds)."""
    rows = session.scalars(select(WebhookEvent).where(WebhookEvent.org_id == org_id,
                                                      WebhookEvent.subject_key.in_(subject_keys or [""]))
                           .order_by(WebhookEvent.id))
    return [{"id": e.public_id, "type": e.type, "subject": e.subject_key, "created_at": e.created_at.isoformat()}
            for e in rows]


def forget_subjects(session: Session, org_id: int, subject_keys: list[str]) -> tuple[int, int]:
    """Replaces the payloads of every event about these subjects (the delivery log shows them; a replay would send
    them again), stops their unfinished deliveries for good and blanks what receivers answered. Returns
    (events redacted, deliveries stopped)."""
    if not subject_keys:
        return 0, 0
    events_q = select(WebhookEvent.id).where(WebhookEvent.org_id == org_id, WebhookEvent.subject_key.in_(subject_keys))
    redacted = session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(events_q))
                               .values(payload=ERASED_PAYLOAD), execution_options={"synchronize_session": False})
    stopped = session.execute(update(WebhookDelivery).where(
        WebhookDelivery.org_id == org_id, WebhookDelivery.event_id.in_(events_q),
        WebhookDelivery.status.in_(UNFINISHED_STATUSES)).values(
        status=DeliveryStatus.dead, last_error=ERASED_ERROR, locked_until=None),
        execution_options={"synchronize_session": False})
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.org_id == org_id,
                                                  WebhookDelivery.event_id.in_(events_q))
    session.execute(update(WebhookAttempt).where(WebhookAttempt.org_id == org_id,
                                                 WebhookAttempt.delivery_id.in_(deliveries))
                    .values(response_body=""), execution_options={"synchronize_session": False})
    return int(redacted.rowcount or 0), int(stopped.rowcount or 0)  # type: ignore[attr-defined]

