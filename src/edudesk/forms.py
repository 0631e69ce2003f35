"""One shape for every staff form post: check the CSRF token, write in one transaction, say why not beside the field.

Every admin and console view that changes something used to repeat the same ten lines: compare the CSRF token,
open a session, call the service inside ``try``, commit, and on a ``DomainError`` roll back and re-render the page
with the message beside the field. Written out seventy times, one copy was bound to forget the rollback or to commit
twice. ``submit`` is that shape once; each view keeps only what is its own — what to write and how to show the
outcome (a page, an htmx fragment or a JSON error, so plain and htmx posts are answered alike)::

    outcome = submit(request, csrf_token, lambda session: service.save(session, actor, data))
    if isinstance(outcome, Rejected):
        return _page(request, user, form=form, errors=outcome.beside("form"), code=outcome.status)
    return _page(request, user, notice="已保存")

A stale or missing token answers 400 with ``STALE`` (the house rule since the first form: the person reloads and
tries again) and the write never runs; a ``DomainError`` rolls the whole transaction back, so a form post is one
transaction that either commits once or leaves nothing behind. Anything else (``NotFoundError`` for another org's
id, a permission error, a bug) is not the form's business: it rolls back and propagates to the app's handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from edudesk.db import Database
from edudesk.errors import DomainError
from edudesk.web import csrf_ok, error_response

T = TypeVar("T")
STALE = "页面已过期，请刷新后重试"
STALE_CODE = "csrf"


@dataclass(frozen=True)
class Rejected:
    """Why a posted form was not saved: the message, its machine code, the HTTP status and the field it belongs to
    (``None`` when it is about the whole form — the caller names the slot its page shows such messages in)."""

    message: str
    code: str
    status: int
    field: str | None = None

    def beside(self, default: str = "form") -> dict[str, str]:
        """The page's ``errors`` mapping: the message under its own field, or under ``default``."""
        return {self.field or default: self.message}

    @property
    def stale(self) -> bool:
        return self.code == STALE_CODE

    def as_json(self) -> JSONResponse:
        """The API's error body, for console posts that script() the answer rather than swap a fragment."""
        return error_response(self.status, self.code, self.message, self.field)


def unprocessable(exc: DomainError) -> int:
    """Most forms answer a broken business rule with 422, whatever status the API gives the same error."""
    return 422


def conflict_or_unprocessable(exc: DomainError) -> int:
    """409 where someone else got there first (a full session, a booking already marked), else 422."""
    return 409 if exc.status_code == 409 else 422


def as_raised(exc: DomainError) -> int:
    """The error's own status (404, 409, 422…), for pages that mirror the API's answer."""
    return exc.status_code


def submit(request: Request, csrf: str | None, write: Callable[[Session], T], *,
           status: Callable[[DomainError], int] = unprocessable,
           conflict: Rejected | None = None) -> T | Rejected:
    """Check ``csrf``, run ``write`` in one transaction and commit once; return what ``write`` returned, or why not.

    ``conflict``: a unique index that two people can race for (the same name saved twice at one moment) raises
    ``IntegrityError`` at commit; with ``conflict`` given that becomes this answer (message, field, status) instead
    of a 500. Without it an ``IntegrityError`` is a bug and propagates.
    """
    if not csrf_ok(request, csrf):
        return Rejected(STALE, STALE_CODE, 400)
    db: Database = request.app.state.ctx.db
    with db.session() as session:
        try:
            result = write(session)
            session.commit()
        except DomainError as exc:
            session.rollback()
            return Rejected(exc.message, exc.code, status(exc), exc.field)
        except IntegrityError:
            if conflict is None:
                raise
            session.rollback()
            return conflict
    return result
