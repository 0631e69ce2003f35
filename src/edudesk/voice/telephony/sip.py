"""placeholder"""

from __future__ import annotations


class SipAdapter:
    def __init__(self, listen: str, *, advertise: str = "") -> None:
        self.listen = listen
