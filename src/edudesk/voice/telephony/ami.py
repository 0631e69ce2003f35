"""A minimal Asterisk Manager Interface client: log in, send ``Originate``, read its ``OriginateResponse``.

AMI is a line protocol over TCP: a greeting line, then messages of ``Key: Value`` lines ended by an empty line
(CRLF). ``Originate`` with ``Async: true`` is answered ``Response: Success`` at once; the outcome comes later as
an ``OriginateResponse`` event whose ``Reason`` is Asterisk's control code (4 answered, 5 busy, 1/3 not answered,
8 congestion).
"""

from __future__ import annotations

import asyncio
import secrets

ORIGINATE_REASONS = {"4": "answered", "5": "busy", "1": "no_answer", "3": "no_answer", "8": "failed", "0": "failed"}
MAX_MESSAGE_BYTES = 64 * 1024


class AmiError(Exception):
    pass


def encode(fields: list[tuple[str, str]]) -> bytes:
    for key, value in fields:
        if any(c in key + value for c in "\r\n"):
            raise AmiError("AMI field with a line break")
    return "".join(f"{k}: {v}\r\n" for k, v in fields).encode() + b"\r\n"


class AmiClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, host: str, port: int, *, wait: float = 10.0) -> AmiClient:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), wait)
        client = cls(reader, writer)
        greeting = await asyncio.wait_for(reader.readline(), wait)
        if not greeting.startswith(b"Asterisk Call Manager"):
            writer.close()
            raise AmiError("not an Asterisk manager interface")
        return client

    async def read_message(self) -> dict[str, str]:
        message: dict[str, str] = {}
        size = 0
        while True:
            line = await self.reader.readline()
            if not line:
                raise AmiError("AMI connection closed")
            size += len(line)
            if size > MAX_MESSAGE_BYTES:
                raise AmiError("AMI message too large")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if not text:
                if message:
                    return message
                continue
            key, _, value = text.partition(":")
            message.setdefault(key.strip(), value.strip())

    async def action(self, name: str, fields: list[tuple[str, str]]) -> dict[str, str]:
        action_id = secrets.token_hex(8)
        self.writer.write(encode([("Action", name), ("ActionID", action_id), *fields]))
        await self.writer.drain()
        while True:
            message = await self.read_message()
            if message.get("ActionID") == action_id and "Response" in message:
                if message["Response"].lower() not in ("success", "goodbye"):
                    raise AmiError(f"{name} refused: {message.get('Message', '')}"[:200])
                return message

    async def login(self, username: str, secret: str) -> None:
        await self.action("Login", [("Username", username), ("Secret", secret), ("Events", "call")])

    async def originate(
        self, *, channel: str, context: str, caller_id: str, timeout_ms: int, variables: dict[str, str]
    ) -> str:
        """Sends the Originate and waits for its outcome: one of answered / busy / no_answer / failed."""
        action_id = secrets.token_hex(8)
        fields = [
            ("Action", "Originate"),
            ("ActionID", action_id),
            ("Channel", channel),
            ("Context", context),
            ("Exten", "s"),
            ("Priority", "1"),
            ("CallerID", caller_id),
            ("Timeout", str(timeout_ms)),
            ("Async", "true"),
        ]
        fields += [("Variable", f"{k}={v}") for k, v in variables.items()]
        self.writer.write(encode(fields))
        await self.writer.drain()
        while True:
            message = await self.read_message()
            if message.get("ActionID") != action_id:
                continue
            if message.get("Response", "").lower() == "error":
                raise AmiError(f"Originate refused: {message.get('Message', '')}"[:200])
            if message.get("Event") == "OriginateResponse":
                return ORIGINATE_REASONS.get(message.get("Reason", ""), "failed")

    async def close(self) -> None:
        try:
            self.writer.write(encode([("Action", "Logoff")]))
            await self.writer.drain()
        except (ConnectionError, RuntimeError):
            pass
        self.writer.close()
