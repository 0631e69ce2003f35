"""Course URL patterns (admin → 访客 → 课程页面): which pages show which course, so a profile can say "看过
少儿编程 ×3" and a rule can ask "viewed a course". A pattern names a catalog course or, for a course the catalog
lacks, a free name."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.catalog import service as catalog_service
from edudesk.db import NotFoundError, get_in_org, org_query
from edudesk.errors import DomainError
from edudesk.visitors import patterns, rules
from edudesk.visitors.profile_models import CoursePattern

MAX_PATTERNS = 200
MAX_COURSE_NAME = 100


class CourseError(DomainError):
    pass


def list_patterns(session: Session, org_id: int) -> list[CoursePattern]:
    return list(session.scalars(org_query(CoursePattern, org_id).order_by(CoursePattern.position,
                                                                          CoursePattern.id)))


def add_pattern(session: Session, actor: audit_service.Actor, *, pattern: str, course_id: int | None,
                course_name: str) -> CoursePattern:
    """A pattern for a catalog course (``course_id``, which must be the org's) or a free ``course_name``."""
    org_id = actor.org_id
    clean = patterns.clean_pattern(pattern)
    name = course_name.strip()
    if course_id is not None:
        course = next((c for c in catalog_service.list_courses(session, org_id) if c.id == course_id), None)
        if course is None:  # another org's course (or one taken off sale) is not there to link
            raise NotFoundError("Course", course_id)
        name = course.name
    if not name:
        raise CourseError("empty_course", "请选择课程，或填写课程名称", "course_name")
    if len(name) > MAX_COURSE_NAME:
        raise CourseError("too_long", f"课程名称不超过 {MAX_COURSE_NAME} 个字符", "course_name")
    existing = list_patterns(session, org_id)
    if any(p.pattern == clean for p in existing):
        raise CourseError("duplicate", f"网址规则 {clean} 已存在", "pattern")
    if len(existing) >= MAX_PATTERNS:
        raise CourseError("too_many", f"课程页面规则不超过 {MAX_PATTERNS} 条", "pattern")
    row = CoursePattern(org_id=org_id, pattern=clean, course_id=course_id, course_name=name,
                        position=max((p.position for p in existing), default=-1) + 1)
    session.add(row)
    session.flush()
    audit_service.record(session, actor, "visitors.course_pattern.create", "course_pattern", row.id,
                         pattern=clean, course=name)
    rules.rules_changed(session, org_id)  # "course" conditions read the patterns: contacts are run again
    return row


def delete_pattern(session: Session, actor: audit_service.Actor, pattern_id: int) -> None:
    row = get_in_org(session, CoursePattern, pattern_id, actor.org_id)
    audit_service.record(session, actor, "visitors.course_pattern.delete", "course_pattern", row.id,
                         pattern=row.pattern, course=row.course_name)
    session.delete(row)
    session.flush()
    rules.rules_changed(session, actor.org_id)


def course_of(rows: Iterable[CoursePattern], url: str) -> str | None:
    """The course of a page: the first pattern (in the admin's order) that matches it."""
    return next((r.course_name for r in rows if patterns.matches(r.pattern, url)), None)


def course_counts(rows: list[CoursePattern], urls: Iterable[str]) -> dict[str, int]:
    """Page views per course, most viewed first."""
    counts = Counter(c for c in (course_of(rows, u) for u in urls) if c)
    return dict(counts.most_common())


def course_names(session: Session, org_id: int) -> list[tuple[int, str]]:
    """(id, name) of the org's catalog courses, for the pattern form's list."""
    return [(c.id, c.name) for c in catalog_service.list_courses(session, org_id)]

