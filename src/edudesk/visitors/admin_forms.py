"""What the visitors area's admin pages share (trail settings, classification rules, course pages, 千人千面): the
admin-only user, the CSRF field, and "delete, then back to the list" through ``forms.submit``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from edudesk.auth.deps import admin
from edudesk.auth.models import User
from edudesk.forms import Rejected, as_raised, submit

Admin = Annotated[User, Depends(admin)]
CsrfField = Annotated[str, Form(max_length=100)]
Block = Annotated[str, Form(max_length=5000)]


def delete_then_list(request: Request, csrf: str, delete: Callable[[Session], object],
                     redraw: Callable[[str, int], Response], location: str) -> Response:
    """Runs ``delete`` (one transaction, CSRF checked); on a refusal redraws the page with the message (another
    org's id is a 404), else back to the list at ``location``."""
    done = submit(request, csrf, delete, status=as_raised)
    if isinstance(done, Rejected):
        return redraw(done.message, done.status)
    return RedirectResponse(location, status_code=303)
