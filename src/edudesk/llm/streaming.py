"""A streamed chat completion (SSE): the text pieces as they arrive, a deadline over the whole stream, and the call
logged once when it ends, however it ends (done, failed, or stopped early by a guardrail)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.orm import Session

from edudesk.llm.models import CallOutcome, LlmCall
from edudesk.llm.wire import (
    MAX_RESPONSE_BYTES,
    STREAM_TOTAL_FACTOR,
    CallFailed,
    Completion,
    Prepared,
    estimate_tokens,
    usage_of,
)

if TYPE_CHECKING:
    from edudesk.llm.client import LlmClient


@dataclass
class Stream:
    """A streamed completion in progress. Iterating yields the text pieces; afterwards ``completion`` holds the
    whole answer (None when the stream failed: ``failed`` says so)."""

    client: LlmClient
    session: Session
    prepared: Prepared
    purpose: str
    conversation_id: int | None
    completion: Completion | None = None
    failed: bool = False
    _logged: LlmCall | None = None
    _text: list[str] = field(default_factory=list)
    _usage: tuple[int, int] | None = None
    _started: float = field(default_factory=time.monotonic)

    def __iter__(self) -> Iterator[str]:
        deadline = self._started + self.prepared.row.timeout_seconds * STREAM_TOTAL_FACTOR
        try:
            with self.client.http.stream(
                "POST",
                self.prepared.url,
                headers=self.prepared.headers,
                content=json.dumps(self.prepared.body, ensure_ascii=False).encode(),
                extensions=self.prepared.extensions,
                timeout=self.client._timeout(self.prepared.row),
            ) as resp:
                if resp.status_code != 200:
                    raise CallFailed(CallOutcome.error, f"http {resp.status_code}")
                size = 0
                for line in resp.iter_lines():
                    size += len(line)
                    if size > MAX_RESPONSE_BYTES:
                        raise CallFailed(CallOutcome.error, "response too large")
                    if time.monotonic() > deadline:
                        raise CallFailed(CallOutcome.timeout, "stream too slow")
                    piece = self._piece(line)
                    if piece is None:
                        break
                    if piece:
                        self._text.append(piece)
                        yield piece
        except CallFailed as exc:
            self._finish(exc.outcome, exc.detail)
            return
        except httpx.TimeoutException:
            self._finish(CallOutcome.timeout, "timeout")
            return
        except httpx.HTTPError as exc:
            self._finish(CallOutcome.error, f"transport {type(exc).__name__}")
            return
        if not self._text:
            self._finish(CallOutcome.error, "empty answer")
            return
        self._finish(CallOutcome.ok, "")

    def _piece(self, line: str) -> str | None:
        """The text of one SSE line: "" for a line without text, None at ``[DONE]``."""
        line = line.strip()
        if not line.startswith("data:"):
            return ""
        data = line[5:].strip()
        if data == "[DONE]":
            return None
        try:
            chunk = json.loads(data)
        except ValueError:
            raise CallFailed(CallOutcome.error, "bad stream chunk") from None
        if not isinstance(chunk, dict):
            raise CallFailed(CallOutcome.error, "bad stream chunk")
        usage = usage_of(chunk.get("usage"))
        if usage is not None:
            self._usage = usage
        choices = chunk.get("choices") or []
        if not isinstance(choices, list) or not choices:
            return ""
        delta = choices[0].get("delta") if isinstance(choices[0], dict) else None
        content = delta.get("content") if isinstance(delta, dict) else None
        return content if isinstance(content, str) else ""

    @property
    def text(self) -> str:
        return "".join(self._text)

    def close(self, outcome: CallOutcome | None = None, detail: str = "") -> None:
        """Ends the call early (a guardrail stopped the answer mid-stream): logged with that outcome."""
        if self._logged is None:
            self._finish(outcome or CallOutcome.ok, detail)
        elif outcome is not None:
            self.client.mark(self.session, self._logged.id, outcome, detail)
            self.completion = None

    def _finish(self, outcome: CallOutcome, detail: str) -> None:
        if self._logged is not None:
            return
        text = self.text
        prompt_tokens, completion_tokens = self._usage or (self.prepared.estimate, estimate_tokens(text) if text else 0)
        self._logged = self.client._log(
            self.session,
            self.prepared,
            self.purpose,
            outcome,
            self._started,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            detail=detail,
            conversation_id=self.conversation_id,
        )
        self.failed = outcome != CallOutcome.ok
        if not self.failed:
            self.completion = Completion(
                text,
                prompt_tokens,
                completion_tokens,
                self._logged.latency_ms,
                self.prepared.row.model,
                self._logged.id,
            )
