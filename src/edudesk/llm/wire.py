"""The OpenAI-compatible wire format and the shapes a call passes through: what the client sends (``Prepared``),
what it gets back (``Completion``), how it fails (``CallFailed``), and how tokens are counted when the endpoint does
not say. Shared by the one-shot client (``client``) and the streamed answer (``streaming``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edudesk.llm.models import CallOutcome, LlmSettings

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}

# Connecting gives up sooner than reading: a host that does not answer at all is down, not thinking.
CONNECT_TIMEOUT_SECONDS = 3.0
# A streamed answer may take longer than one read, but not for ever.
STREAM_TOTAL_FACTOR = 3.0
MAX_RESPONSE_BYTES = 256 * 1024


def estimate_tokens(text: str) -> int:
    """A generous estimate: a CJK character is about one token, other text about four characters a token."""
    cjk = sum(1 for ch in text if ord(ch) > 0x2E80)
    return cjk + (len(text) - cjk) // 3 + 1


def prompt_hash(messages: Sequence[Message]) -> str:
    digest = hashlib.sha256(json.dumps(list(messages), ensure_ascii=False, sort_keys=True).encode()).hexdigest()
    return digest[:16]


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    model: str
    call_id: int | None = None


class CallFailed(Exception):
    def __init__(self, outcome: CallOutcome, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


@dataclass
class Prepared:
    row: LlmSettings
    url: str
    headers: dict[str, str]
    extensions: dict[str, Any]
    body: dict[str, Any]
    hash: str
    estimate: int


def usage_of(raw: object) -> tuple[int, int] | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    if isinstance(prompt, int) and isinstance(completion, int) and prompt >= 0 and completion >= 0:
        return prompt, completion
    return None


def parse_completion(data: Any) -> tuple[str, tuple[int, int] | None]:
    """The answer text and (prompt, completion) tokens of a chat completion; garbage is a failed call."""
    try:
        choice = data["choices"][0]
        text = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise CallFailed(CallOutcome.error, "not a chat completion") from None
    if not isinstance(text, str) or not text.strip():
        raise CallFailed(CallOutcome.error, "empty answer")
    return text, usage_of(data.get("usage") if isinstance(data, dict) else None)
