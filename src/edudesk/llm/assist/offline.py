"""The model for the offline evaluations (``edudesk eval faq --llm``, ``edudesk eval kb-growth``): an
OpenAI-compatible endpoint named on the command line, no database, no org.

The live client (``edudesk.llm.client``) reads an org's settings and logs into ``llm_calls``; an evaluation of a
KB file has neither, so this is the same chat-completions request with nothing around it but counters. Like the
client it never raises to the caller: a failed call is None and counted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from edudesk.llm.wire import Message


@dataclass
class OfflineEndpoint:
    url: str
    model: str
    key: str = ""
    timeout: float = 30.0
    calls: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    http: httpx.Client = field(default_factory=lambda: httpx.Client(trust_env=False))

    def complete(self, messages: Sequence[Message], max_tokens: int = 400) -> str | None:
        self.calls += 1
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {self.key}"} if self.key else {})}
        body = {
            "model": self.model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "stream": False,
        }
        started = time.monotonic()
        try:
            resp = self.http.post(
                self.url.rstrip("/") + "/chat/completions",
                headers=headers,
                content=json.dumps(body, ensure_ascii=False).encode(),
                timeout=httpx.Timeout(self.timeout, connect=min(3.0, self.timeout)),
            )
            data: Any = resp.json() if resp.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            data = None
        finally:
            self.seconds += time.monotonic() - started
        text = _text(data)
        if text is None:
            self.failures += 1
            return None
        usage = data.get("usage") if isinstance(data, dict) else None
        if isinstance(usage, dict):
            self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            self.completion_tokens += int(usage.get("completion_tokens") or 0)
        return text

    def stats(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "calls": self.calls,
            "failures": self.failures,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "seconds": round(self.seconds, 2),
        }

    def close(self) -> None:
        self.http.close()


def _text(data: Any) -> str | None:
    try:
        content = data["choices"][0]["message"]["content"]
    except (TypeError, KeyError, IndexError):
        return None
    return content if isinstance(content, str) and content.strip() else None
