"""The event types edudesk emits: the one list the admin page offers as checkboxes.

``emit`` accepts any ``area.action`` name so an area can add a type before the admin page knows it; endpoints
subscribe only to types listed here. ``webhook.test`` is sent by the "send test event" button to one endpoint,
whatever it subscribes to.
"""

from __future__ import annotations

import re

EVENT_TYPE_RE = re.compile(r"^[a-z_]+\.[a-z_]+$")

KNOWN_EVENT_TYPES: tuple[str, ...] = ("lead.created", "lead.updated", "lead.status_changed", "trial.booked",
                                       "ticket.created", "ticket.status_changed", "contact.erased")
TEST_EVENT_TYPE = "webhook.test"
