"""Rows of the capture-rate report (套电率) that come from other areas: landing-page forms (表单).

``leads.reports`` knows conversations only and is imported by ``leads.service``; the form row is read from the
leadforms area here, beside it, so that the leads service never imports an area that builds on it (leadforms
records its values through ``leads.service``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from edudesk.leadforms import service as leadforms_service
from edudesk.leads.reports import CaptureRow


def extra_channels(session: Session, org_id: int, start: dt.date, end: dt.date) -> list[CaptureRow]:
    """The row ``form`` — views of the org's forms, and their submissions (each carries a phone: the field is
    required; a repeat merged into a submission is not counted again) — when the org has a form."""
    if end < start:
        start, end = end, start
    counts = leadforms_service.capture_counts(session, org_id, start, end)
    return [CaptureRow(leadforms_service.FORM_CHANNEL, counts[0], counts[1])] if counts is not None else []
