"""What a telephony adapter is: it dials (``originate``) and it carries answered calls' audio as ``MediaPort``s
to the voice runtime. One adapter per ``LineKind``; the runtime never learns which one carried a call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from edudesk.voice.media import MediaPort


@dataclass(frozen=True)
class OriginateRequest:
    call_public_id: str
    org_id: int
    line_id: int
    to_e164: str
    from_number: str
    config: BaseModel  # the line's decrypted settings
    ring_timeout_seconds: int = 30


class DialFailed(Exception):
    """The call could not be placed or was not answered: ``state`` is no_answer, busy or failed."""

    def __init__(self, state: str, detail: str = "") -> None:
        super().__init__(f"{state}: {detail}")
        self.state = state
        self.detail = detail


# The runtime's side: an adapter calls this with each answered call's port and awaits it until the call ends.
CallHandler = Callable[[MediaPort], Awaitable[None]]


class TelephonyAdapter(Protocol):
    kind: ClassVar[str]
    label: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]

    async def start(self, handler: CallHandler, services: Any) -> None:
        """Begin listening for the adapter's traffic (an AudioSocket or SIP port), if it has any."""
        ...

    async def stop(self) -> None: ...

    async def originate(self, request: OriginateRequest) -> None:
        """Dial; return once the call is answered and its port has been handed to the handler (which runs on),
        or raise DialFailed."""
        ...
