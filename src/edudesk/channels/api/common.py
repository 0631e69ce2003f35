"""What the API channel's adapter and routes share: its kind and capabilities, the token scope, the event type
of outbound messages, and the URLs it hands out."""

from __future__ import annotations

from urllib.parse import urljoin

from edudesk.channels import base

KIND = "api"
# The integrator's client draws buttons and pictures itself; links and line breaks are its to render.
CAPABILITIES = frozenset({base.BUTTONS, base.IMAGES, base.RICH_TEXT})
SCOPE = "channels:write"
EVENT_TYPE = "message.outbound"


def owner_of(inbox_id: int) -> str:
    """The key of an inbox's own webhook endpoint in the webhooks area."""
    return f"inbox:{inbox_id}"


def inbound_path(public_id: str) -> str:
    return f"/api/v1/channels/{public_id}/messages"


def absolute(base_url: str, url: str) -> str:
    """A capability URL (``/api/v1/attachments/…``) or a knowledge-base picture as the integrator can fetch it;
    an absolute URL stays as it is."""
    return urljoin(base_url.rstrip("/") + "/", url)
