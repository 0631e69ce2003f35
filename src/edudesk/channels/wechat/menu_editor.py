"""The custom menu (自定义菜单) of a WeChat Official Account as the admin edits it: pure data and WeChat's rules.

A menu is up to 3 top-level buttons, each either a sub-menu of up to 5 buttons or a button of its own. A button
opens a link (VIEW, an https URL) or is clicked (CLICK, with a key) and then does one of the *actions*: start a bot
script, answer an FAQ entry, ask for a human, or reply a fixed text. Keys are the slot's position ("m2", "m2_3"),
so they need no bookkeeping; the menu in effect is the *published* copy kept beside the draft in the inbox's state,
which is what clicks are resolved against (``menu_actions``) until the next publish — an edited draft never changes
what the buttons people already see do.

Stored in ``Inbox.state``::

    {"wechat_menu": {"draft": [button, ...], "published": [button, ...], "published_at": "2026-…Z"},
     "replies": {"m1_2": "fixed text", ...}}   # the published text actions, read by the inbound orchestrator

a button: ``{"key", "name", "kind": sub|view|flow|faq|human|text, "url", "flow", "entry_id", "question", "text",
"sub": [button, ...]}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from edudesk.errors import DomainError

STATE_KEY = "wechat_menu"
REPLIES_KEY = "replies"  # generic: the inbound orchestrator answers "inboxtext:<key>" from it
TOP_MAX = 3
SUB_MAX = 5
TOP_NAME_BYTES = 16  # WeChat: 一级菜单 16 bytes (4 Chinese characters), 二级菜单 60 bytes
SUB_NAME_BYTES = 60
URL_BYTES = 1024
TEXT_MAX = 600  # a 客服消息 text stays well under WeChat's 2048 bytes
ACTIONS = ("flow", "faq", "human", "text")
KINDS = ("sub", "view", *ACTIONS)
KIND_LABELS = {"": "（不使用）", "sub": "子菜单", "view": "打开网页", "flow": "启动话术流程",
               "faq": "回答知识库问题", "human": "转人工", "text": "回复固定文字"}


class MenuError(DomainError):
    pass


_SLOT_NAME = re.compile(r"m(\d{1,3})(?:_(\d{1,3}))?_name")


@dataclass
class Slot:
    """One button's place on the form ("m2", "m2_3") and what it holds."""

    key: str
    top: bool
    name: str = ""
    kind: str = ""
    url: str = ""
    flow: str = ""
    entry_id: int = 0
    text: str = ""
    subs: list[Slot] = field(default_factory=list)


def top_key(i: int) -> str:
    return f"m{i}"


def sub_key(i: int, j: int) -> str:
    return f"m{i}_{j}"


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _int(value: Any) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return 0


def check_url(url: str, where: str) -> str:
    url = url.strip()
    parts = urlsplit(url) if url else None
    if parts is None or parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in url):
        raise MenuError("bad_url", "网页链接须是完整的 https:// 地址", where)
    if _nbytes(url) > URL_BYTES:
        raise MenuError("url_too_long", f"网页链接不能超过 {URL_BYTES} 字节", where)
    return url


def _button(form: Mapping[str, Any], key: str, *, top: bool, flows: Mapping[str, str],
            entries: Mapping[int, str]) -> dict[str, Any] | None:
    """The button the form's slot ``key`` describes, validated; None for an empty slot."""
    name = str(form.get(f"{key}_name") or "").strip()
    kind = str(form.get(f"{key}_kind") or "").strip()
    if not name and not kind:
        return None
    if not name:
        raise MenuError("name_required", "请填写菜单名称", f"{key}_name")
    if any(ord(c) < 32 for c in name):
        raise MenuError("bad_name", "菜单名称不能包含换行或控制字符", f"{key}_name")
    limit = TOP_NAME_BYTES if top else SUB_NAME_BYTES
    if _nbytes(name) > limit:
        chars = limit // 3
        raise MenuError("name_too_long", f"菜单名称“{name}”太长：{'一级' if top else '二级'}菜单最多 {limit} 字节"
                        f"（约 {chars} 个汉字）", f"{key}_name")
    if kind not in KINDS or (kind == "sub" and not top):
        raise MenuError("kind_required", f"请为“{name}”选择按钮类型", f"{key}_kind")
    button: dict[str, Any] = {"key": key, "name": name, "kind": kind}
    if kind == "view":
        button["url"] = check_url(str(form.get(f"{key}_url") or ""), f"{key}_url")
    elif kind == "flow":
        flow = str(form.get(f"{key}_flow") or "").strip()
        if flow not in flows:
            raise MenuError("flow_required", f"请为“{name}”选择一个话术流程", f"{key}_flow")
        button["flow"] = flow
    elif kind == "faq":
        entry_id = _int(form.get(f"{key}_faq"))
        if entry_id not in entries:
            raise MenuError("faq_required", f"请为“{name}”选择一个知识库问题", f"{key}_faq")
        button["entry_id"], button["question"] = entry_id, entries[entry_id]
    elif kind == "text":
        text = str(form.get(f"{key}_text") or "").strip()
        if not text:
            raise MenuError("text_required", f"请填写“{name}”回复的文字", f"{key}_text")
        if len(text) > TEXT_MAX:
            raise MenuError("text_too_long", f"回复文字不能超过 {TEXT_MAX} 个字", f"{key}_text")
        button["text"] = text
    return button


def parse_form(form: Mapping[str, Any], *, flows: Mapping[str, str], entries: Mapping[int, str]
               ) -> list[dict[str, Any]]:
    """The menu a posted editor form describes (empty slots skipped, order kept). ``flows``: the org's script
    keys → names; ``entries``: its knowledge-base entry ids → standard questions. Raises ``MenuError`` naming the
    field of the first problem."""
    _check_counts(form)
    buttons: list[dict[str, Any]] = []
    for i in range(1, TOP_MAX + 1):
        top = _button(form, top_key(i), top=True, flows=flows, entries=entries)
        subs = [b for j in range(1, SUB_MAX + 1)
                if (b := _button(form, sub_key(i, j), top=False, flows=flows, entries=entries)) is not None]
        if top is None:
            if subs:
                raise MenuError("top_required", f"第 {i} 个一级菜单有子菜单，请先填写它的名称并选择“子菜单”",
                                f"{top_key(i)}_name")
            continue
        if top["kind"] == "sub":
            if not subs:
                raise MenuError("subs_required", f"“{top['name']}”是子菜单，请至少填写一个子菜单按钮",
                                f"{top_key(i)}_kind")
            top["sub"] = subs
        elif subs:
            raise MenuError("not_a_submenu", f"“{top['name']}”下填写了子菜单：请把它的类型改为“子菜单”，"
                            "或清空子菜单", f"{top_key(i)}_kind")
        buttons.append(top)
    return buttons


def _check_counts(form: Mapping[str, Any]) -> None:
    """Buttons posted beyond WeChat's limits are refused, not silently dropped (the form has no such slots; a
    script or an old page might)."""
    for name, value in form.items():
        match = _SLOT_NAME.fullmatch(str(name))
        if match is None or not str(value or "").strip():
            continue
        top, sub = int(match.group(1)), int(match.group(2) or 0)
        if top > TOP_MAX or top < 1:
            raise MenuError("too_many_buttons", f"一级菜单最多 {TOP_MAX} 个", "form")
        if sub > SUB_MAX or (match.group(2) is not None and sub < 1):
            raise MenuError("too_many_buttons", f"每个一级菜单最多 {SUB_MAX} 个子菜单", "form")


def check_publishable(buttons: list[dict[str, Any]]) -> None:
    if not buttons:
        raise MenuError("menu_empty", "菜单是空的：请至少添加一个按钮（要撤下线上菜单请用“删除线上菜单”）", "form")
    if len(buttons) > TOP_MAX or any(len(b.get("sub") or []) > SUB_MAX for b in buttons):
        raise MenuError("menu_too_big", f"最多 {TOP_MAX} 个一级菜单，每个最多 {SUB_MAX} 个子菜单", "form")


def _wechat_button(b: Mapping[str, Any]) -> dict[str, Any]:
    if b.get("kind") == "sub":
        return {"name": b["name"], "sub_button": [_wechat_button(s) for s in b.get("sub") or []]}
    if b.get("kind") == "view":
        return {"type": "view", "name": b["name"], "url": b["url"]}
    return {"type": "click", "name": b["name"], "key": b["key"]}


def to_wechat(buttons: list[dict[str, Any]]) -> dict[str, Any]:
    """The body of ``/cgi-bin/menu/create``."""
    return {"button": [_wechat_button(b) for b in buttons]}


def flatten(buttons: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every clickable button by key (sub-menus are not clickable themselves)."""
    out: dict[str, dict[str, Any]] = {}
    for b in buttons:
        for item in (b.get("sub") or []) if b.get("kind") == "sub" else [b]:
            if isinstance(item, dict) and item.get("key"):
                out[str(item["key"])] = item
    return out


def replies_of(buttons: list[dict[str, Any]]) -> dict[str, str]:
    """The fixed texts of the text actions, by key: what ``Inbox.state["replies"]`` holds once published."""
    return {k: str(b["text"]) for k, b in flatten(buttons).items() if b.get("kind") == "text" and b.get("text")}


def menu_state(state: Mapping[str, Any] | None) -> dict[str, Any]:
    found = (state or {}).get(STATE_KEY)
    return found if isinstance(found, dict) else {}


def draft_of(state: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    found = menu_state(state).get("draft")
    return [b for b in found if isinstance(b, dict)] if isinstance(found, list) else []


def published_of(state: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    found = menu_state(state).get("published")
    return [b for b in found if isinstance(b, dict)] if isinstance(found, list) else []


def _slot(b: Mapping[str, Any] | None, key: str, top: bool) -> Slot:
    if b is None:
        return Slot(key, top)
    return Slot(key, top, name=str(b.get("name") or ""), kind=str(b.get("kind") or ""), url=str(b.get("url") or ""),
                flow=str(b.get("flow") or ""), entry_id=_int(b.get("entry_id")), text=str(b.get("text") or ""))


def slots(buttons: list[dict[str, Any]]) -> list[Slot]:
    """The editor's 3 × (1 + 5) slots filled from a stored menu, by the buttons' keys."""
    by_key = {str(b.get("key")): b for b in buttons}
    for b in buttons:
        for s in b.get("sub") or []:
            if isinstance(s, dict):
                by_key[str(s.get("key"))] = s
    out = []
    for i in range(1, TOP_MAX + 1):
        top = _slot(by_key.get(top_key(i)), top_key(i), True)
        top.subs = [_slot(by_key.get(sub_key(i, j)), sub_key(i, j), False) for j in range(1, SUB_MAX + 1)]
        out.append(top)
    return out


def slots_from_form(form: Mapping[str, Any]) -> list[Slot]:
    """The slots as posted (to show a refused form again as it was typed)."""
    def one(key: str, top: bool) -> Slot:
        return Slot(key, top, name=str(form.get(f"{key}_name") or "")[:200],
                    kind=str(form.get(f"{key}_kind") or "")[:16], url=str(form.get(f"{key}_url") or "")[:2000],
                    flow=str(form.get(f"{key}_flow") or "")[:64], entry_id=_int(form.get(f"{key}_faq")),
                    text=str(form.get(f"{key}_text") or "")[:TEXT_MAX * 2])

    out = []
    for i in range(1, TOP_MAX + 1):
        top = one(top_key(i), True)
        top.subs = [one(sub_key(i, j), False) for j in range(1, SUB_MAX + 1)]
        out.append(top)
    return out
