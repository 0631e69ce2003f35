"""Finding or creating the contact behind a channel identity, and the contact details agents edit."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import Select, bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from edudesk.contacts.models import Contact, ContactIdentity
from edudesk.db import get_in_org, utcnow
from edudesk.errors import DomainError
from edudesk.nlp.extract.names import is_bare_surname

# A visit counts again after this much silence, like the "return visit" of web analytics.
NEW_VISIT_AFTER = dt.timedelta(minutes=30)
SEEN_RESOLUTION = dt.timedelta(minutes=1)


class ContactError(DomainError):
    pass


# Read on every inbound message: built once, with the org and the identity as parameters.
_BY_IDENTITY = (
    select(Contact)
    .join(ContactIdentity, ContactIdentity.contact_id == Contact.id)
    .where(
        ContactIdentity.org_id == bindparam("org_id"),
        ContactIdentity.channel == bindparam("channel"),
        ContactIdentity.external_id == bindparam("external_id"),
        Contact.org_id == bindparam("org_id"),
    )
)


def find_by_identity(session: Session, org_id: int, channel: str, external_id: str) -> Contact | None:
    params = {"org_id": org_id, "channel": channel, "external_id": external_id}
    return session.scalars(_BY_IDENTITY, params).first()


def contact_ids_by_identity(session: Session, org_id: int, channel: str, external_ids: list[str]) -> dict[str, int]:
    """external id → contact id for the identities among ``external_ids`` that exist (the trail's writer links a
    batch of visitors at once)."""
    found: dict[str, int] = {}
    unique = sorted(set(external_ids))
    for start in range(0, len(unique), 500):
        rows = session.execute(select(ContactIdentity.external_id, ContactIdentity.contact_id).where(
            ContactIdentity.org_id == org_id, ContactIdentity.channel == channel,
            ContactIdentity.external_id.in_(unique[start:start + 500])))
        found.update({ext: cid for ext, cid in rows})
    return found


def find_or_create(
    session: Session, org_id: int, channel: str, external_id: str, *, page_url: str | None = None,
    aliases: tuple[tuple[str, str], ...] = (),
) -> Contact:
    """The contact behind an identity, created on first sight. ``aliases`` are other identities of the same person
    (a WeChat unionid): a contact already known by one of them is used, and every identity missing from it is
    added, so the org's Official Account and WeCom customer service see one parent."""
    contact = find_by_identity(session, org_id, channel, external_id)
    if contact is not None:
        if aliases:
            attach_identities(session, contact, aliases)
        return contact
    for alias_kind, alias_id in aliases:
        contact = find_by_identity(session, org_id, alias_kind, alias_id)
        if contact is not None:
            attach_identities(session, contact, ((channel, external_id), *aliases))
            return contact
    try:
        with session.begin_nested():
            contact = Contact(org_id=org_id, first_page_url=page_url, last_page_url=page_url)
            session.add(contact)
            session.flush()
            session.add(ContactIdentity(org_id=org_id, contact_id=contact.id, channel=channel,
                                        external_id=external_id))
            session.flush()
    except IntegrityError:
        # Another request created the same identity at the same moment: use theirs.
        contact = find_by_identity(session, org_id, channel, external_id)
        if contact is None:
            raise
    if aliases:
        attach_identities(session, contact, aliases)
    return contact


def attach_identities(session: Session, contact: Contact, identities: tuple[tuple[str, str], ...]) -> None:
    """Adds the identities the contact lacks; one that already belongs to another contact is left with it (the
    two are the same person, but merging contacts is an agent's decision, not a side effect of a message)."""
    for kind, external_id in identities:
        if not kind or not external_id:
            continue
        owner = find_by_identity(session, contact.org_id, kind, external_id)
        if owner is not None:
            continue
        try:
            with session.begin_nested():
                session.add(ContactIdentity(org_id=contact.org_id, contact_id=contact.id, channel=kind[:32],
                                            external_id=external_id[:128]))
                session.flush()
        except IntegrityError:
            continue


def identity_of(session: Session, org_id: int, contact_id: int, kind: str) -> str | None:
    """The contact's id on one channel identity space (its openid on one Official Account), if known."""
    return session.scalar(select(ContactIdentity.external_id).where(
        ContactIdentity.org_id == org_id, ContactIdentity.contact_id == contact_id,
        ContactIdentity.channel == kind).order_by(ContactIdentity.id).limit(1))


def identities_of(session: Session, org_id: int, contact_id: int) -> list[ContactIdentity]:
    """How each channel knows the contact (widget visitor id, WeChat openid, …), oldest first."""
    return list(session.scalars(select(ContactIdentity).where(
        ContactIdentity.org_id == org_id, ContactIdentity.contact_id == contact_id).order_by(ContactIdentity.id)))


def get(session: Session, org_id: int, contact_id: int) -> Contact:
    return get_in_org(session, Contact, contact_id, org_id)


def touch(session: Session, contact: Contact, *, page_url: str | None = None) -> None:
    """Records that the contact is here. ``last_seen_at`` moves in steps of a minute, so a chatting visitor does
    not cost a contact UPDATE on every message (the hot path of every turn)."""
    now = utcnow()
    gap = now - contact.last_seen_at
    if gap > NEW_VISIT_AFTER:
        contact.visits += 1
    if gap >= SEEN_RESOLUTION:
        contact.last_seen_at = now
    if page_url and contact.last_page_url != page_url[:1000]:
        contact.last_page_url = page_url[:1000]


def set_attributes(session: Session, contact: Contact, **values: object) -> None:
    """Merges channel facts into the contact's attributes (``wechat_subscribed=False`` when a parent unfollows an
    Official Account); the JSON column is replaced, not mutated, so the change is saved."""
    contact.attributes = {**(contact.attributes or {}), **values}


def update_details(
    session: Session,
    contact: Contact,
    *,
    name: str | None = None,
    phone: str | None = None,
    wechat_id: str | None = None,
    notes: str | None = None,
) -> Contact:
    if name is not None:
        name = name.strip()
        if len(name) > 100:
            raise ContactError("too_long", "姓名不超过 100 个字符", "name")
        contact.name = name or None
    if phone is not None:
        digits = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
        if phone.strip() and not (7 <= len(digits.lstrip("+")) <= 15):
            raise ContactError("bad_phone", "电话号码格式不正确", "phone")
        contact.phone = digits or None
    if wechat_id is not None:
        wechat_id = wechat_id.strip()
        if len(wechat_id) > 64:
            raise ContactError("too_long", "微信号不超过 64 个字符", "wechat_id")
        contact.wechat_id = wechat_id or None
    if notes is not None:
        if len(notes) > 5000:
            raise ContactError("too_long", "备注不超过 5000 个字符", "notes")
        contact.notes = notes
    return contact


def display_names(session: Session, org_id: int, contact_ids: set[int]) -> dict[int, str]:
    if not contact_ids:
        return {}
    stmt = select(Contact).where(Contact.org_id == org_id, Contact.id.in_(contact_ids))
    return {c.id: display_name(c) for c in session.scalars(stmt)}


def display_name(contact: Contact) -> str:
    """How staff lists and the chat header name the visitor. A parent who gave only a surname ("姓李") is "李家长",
    as a school addresses them, not a bare "李" that reads like a typo in a list."""
    if not contact.name:
        return f"访客{contact.id}"
    return f"{contact.name}家长" if is_bare_surname(contact.name) else contact.name


_MOBILE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")


def mask_phones_in(text: str) -> str:
    """A visitor's own words with the mainland mobile numbers in them masked (138****5678), for staff who may not
    see the number itself (a profile's "questions asked")."""
    return _MOBILE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


def mask_phone(phone: str | None) -> str | None:
    """138****5678: agents see enough to recognise a number without being able to copy it out."""
    if not phone:
        return phone
    prefix, digits = ("+", phone[1:]) if phone.startswith("+") else ("", phone)
    if prefix and digits.startswith("86") and len(digits) == 13:  # +86 mobile: mask the national number
        prefix, digits = "+86", digits[2:]
    if len(digits) < 7:
        return prefix + "*" * len(digits)
    return prefix + digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


# --- privacy: export, erasure and retention (called by privacy.service) -----------------------------------------

def export_contact(session: Session, org_id: int, contact_id: int) -> dict[str, object]:
    """Everything the contacts area holds on one person: the contact row and how each channel knows them."""
    contact = get(session, org_id, contact_id)
    identities = session.scalars(select(ContactIdentity).where(
        ContactIdentity.org_id == org_id, ContactIdentity.contact_id == contact_id).order_by(ContactIdentity.id))
    return {
        "id": contact.id, "name": contact.name, "phone": contact.phone, "wechat_id": contact.wechat_id,
        "email": contact.email, "notes": contact.notes, "attributes": contact.attributes, "tags": contact.tags,
        "vip": contact.vip, "first_page_url": contact.first_page_url, "last_page_url": contact.last_page_url,
        "first_seen_at": contact.first_seen_at.isoformat(), "last_seen_at": contact.last_seen_at.isoformat(),
        "visits": contact.visits, "erased_at": contact.erased_at.isoformat() if contact.erased_at else None,
        "identities": [{"channel": i.channel, "external_id": i.external_id, "created_at": i.created_at.isoformat()}
                       for i in identities],
    }


def erase_contact(session: Session, org_id: int, contact_id: int, now: dt.datetime) -> int:
    """Empties the contact row (kept, as "访客<id>", so conversations and leads still count in reports) and deletes
    its channel identities, so the same visitor coming back is a new, unknown contact. Returns identities deleted."""
    contact = get(session, org_id, contact_id)
    contact.name = contact.phone = contact.wechat_id = contact.email = None
    contact.first_page_url = contact.last_page_url = None
    contact.notes, contact.attributes, contact.tags, contact.vip = "", {}, [], False
    contact.erased_at = now
    gone = session.execute(delete(ContactIdentity).where(ContactIdentity.org_id == org_id,
                                                         ContactIdentity.contact_id == contact_id))
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]


def contacts_active_since(org_id: int, since: dt.datetime) -> Select[Any]:
    """Contacts seen since ``since`` or already erased: the lead purge leaves them alone."""
    return select(Contact.id).where(Contact.org_id == org_id,
                                    (Contact.last_seen_at >= since) | Contact.erased_at.is_not(None))


# --- tags and merging (called by visitors.service) --------------------------------------------------------------

def set_tags(session: Session, contact: Contact, tags: list[str]) -> bool:
    """Replaces the contact's tags (order kept, duplicates dropped; the JSON column is replaced, not mutated, so the
    change is saved). Returns whether anything changed."""
    clean = list(dict.fromkeys(t for t in tags if t))
    if clean == list(contact.tags or []):
        return False
    contact.tags = clean
    return True


MERGED_INTO = "merged_into"


def merge_into(session: Session, keep: Contact, gone: Contact) -> list[str]:
    """Moves what makes ``gone`` a person onto ``keep`` (the same parent on another channel): every channel identity,
    the details ``keep`` lacks, the union of tags and message signals, the visits. ``gone`` stays as an empty row
    pointing to ``keep`` (``attributes.merged_into``) so whatever still refers to it (a ticket, a trial booking)
    keeps its history. Returns the identities moved, as ``channel:external_id``."""
    if keep.org_id != gone.org_id or keep.id == gone.id:
        raise ContactError("bad_merge", "只能合并同一机构的两个不同联系人")
    moved = []
    for ident in session.scalars(select(ContactIdentity).where(ContactIdentity.org_id == gone.org_id,
                                                               ContactIdentity.contact_id == gone.id)):
        ident.contact_id = keep.id
        moved.append(f"{ident.channel}:{ident.external_id}")
    keep.name = keep.name or gone.name
    keep.phone = keep.phone or gone.phone
    keep.wechat_id = keep.wechat_id or gone.wechat_id
    keep.email = keep.email or gone.email
    if gone.notes and gone.notes not in keep.notes:
        keep.notes = f"{keep.notes}\n{gone.notes}".strip()[:5000]
    keep.first_page_url = keep.first_page_url if keep.first_seen_at <= gone.first_seen_at else gone.first_page_url
    keep.first_seen_at = min(keep.first_seen_at, gone.first_seen_at)
    keep.last_seen_at = max(keep.last_seen_at, gone.last_seen_at)
    keep.visits = (keep.visits or 0) + (gone.visits or 0)
    keep.vip = keep.vip or gone.vip
    set_tags(session, keep, [*(keep.tags or []), *(gone.tags or [])])
    mine, theirs = dict(keep.attributes or {}), dict(gone.attributes or {})
    signals = sorted({*mine.get("signals", []), *theirs.get("signals", [])})
    keep.attributes = {**theirs, **mine, **({"signals": signals} if signals else {})}
    keep.attributes.pop(MERGED_INTO, None)
    gone.attributes = {MERGED_INTO: keep.id}
    gone.tags, gone.vip = [], False
    session.flush()
    return moved
