"""Courses and campuses of an institution.

The course catalogue is also the org's own subject lexicon for field extraction (:func:`subject_terms`): the bot
builds it once per bot version, so adding a course bumps the org's ``bot_version``.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.catalog.models import Campus, Course
from edudesk.db import org_query
from edudesk.errors import DomainError
from edudesk.orgs import service as orgs_service


class CatalogError(DomainError):
    pass


def add_course(session: Session, actor: audit_service.Actor, *, name: str, subject: str, grades: str = "",
               price_text: str = "", description: str = "") -> Course:
    if not name.strip() or len(name) > 100:
        raise CatalogError("bad_name", "课程名称不能为空，且不超过 100 个字符", "name")
    course = Course(org_id=actor.org_id, name=name.strip(), subject=subject.strip()[:32], grades=grades[:64],
                    price_text=price_text[:100], description=description)
    session.add(course)
    session.flush()
    audit_service.record(session, actor, "course.create", "course", course.id)
    orgs_service.bump_bot_version(session, actor.org_id)  # the bot's subject lexicon includes the course
    return course


def add_campus(session: Session, actor: audit_service.Actor, *, name: str, city: str = "", district: str = "",
               address: str = "", phone: str = "", hours: str = "") -> Campus:
    if not name.strip() or len(name) > 100:
        raise CatalogError("bad_name", "校区名称不能为空，且不超过 100 个字符", "name")
    campus = Campus(org_id=actor.org_id, name=name.strip(), city=city[:32], district=district[:32],
                    address=address[:300], phone=phone[:32], hours=hours[:100])
    session.add(campus)
    session.flush()
    audit_service.record(session, actor, "campus.create", "campus", campus.id)
    return campus


def list_courses(session: Session, org_id: int) -> list[Course]:
    return list(session.scalars(org_query(Course, org_id).where(Course.active.is_(True)).order_by(Course.id)))


def subject_terms(session: Session, org_id: int) -> list[tuple[str, str]]:
    """(course name, subject) of the org's active courses: what ``nlp.extract.lexicon`` adds to the subjects."""
    rows = session.execute(org_query(Course, org_id).with_only_columns(Course.name, Course.subject)
                           .where(Course.active.is_(True)).order_by(Course.id))
    return [(name, subject) for name, subject in rows]


def list_campuses(session: Session, org_id: int) -> list[Campus]:
    return list(session.scalars(org_query(Campus, org_id).order_by(Campus.id)))
