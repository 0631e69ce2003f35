"""The bot never says the same sentence twice in a row.

A parent who sees "抱歉，这个问题我还没学会…" twice, or the same script question after each of five answers, feels
processed. So before a turn's replies are stored, :func:`vary` compares each with what the bot said in its previous
turn (kept per conversation, ``BotConversationState.said``) and with the replies before it in this turn. A repeat is

1. for an answer (knowledge base, keyword rule) asked again at once, replaced by a pointer to the answer just above
   and the way to a teacher — pasting the same long answer again helps nobody;
2. else said in other words: the built-in texts below have alternates (the org's own fallback text first, then
   ours); any other line gets a short lead-in ("再确认一下：" for a script's question);
3. a repeat inside one turn is left out.

Pure: texts in, texts out; the bot service reads and stores ``said``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from edudesk.bot import faq, flow_host, smalltalk
from edudesk.bot.engine import BotReply
from edudesk.bot.flows import runner
from edudesk.bot.rules import HANDOFF_BUTTON

__all__ = ["ANSWER_AGAIN", "MAX_SAID", "vary"]

MAX_SAID = 6  # texts of the previous turn kept per conversation
ANSWER_AGAIN = "这个问题上面刚回答过～如果还没解决，点“转人工”，老师会为您详细解答。"
FLOW_LEAD_INS = ("再确认一下：", "不好意思，再问一下：")
LEAD_IN = "就像刚才说的，"
# Answers to a question (the knowledge base's, a keyword rule's) that a visitor asked again at once.
ANSWER_KINDS = frozenset({"answer", "rule"})

# By reply kind: alternates for texts the org may have written itself (the fallback) or that vary by turn.
_BY_KIND: Mapping[str, tuple[str, ...]] = {
    "fallback": ("这个问题我暂时答不上来～换个说法试试，或者点“转人工”请老师来解答。",
                 "抱歉，我还是没能理解您的意思😅 可以点“转人工”找老师，也可以留下联系方式，老师会联系您。"),
    "suggest": ("我猜您想问的是下面这些：", "是下面哪个问题呢？点一下就可以～"),
}
# By the exact built-in text.
_BY_TEXT: Mapping[str, tuple[str, ...]] = {
    faq.ASK_CONTACT_TEXT: ("麻烦留一个手机号或微信号，再说说孩子的年级和想了解的课程，老师会尽快联系您～",),
    faq.CONTACT_NOTED_TEXT: ("好的，联系方式已经记下了～还有想了解的，直接问我就行。",),
    faq.ABUSE_TEXT: ("我明白您着急，我们一起把问题解决好～",),
    faq.COMPLAINT_TEXT: ("已经在为您转接老师了，请稍等片刻～",),
    runner.ON_FAIL_END_TEXT: ("好的～有需要随时找我。",),
    flow_host.FLOW_UNAVAILABLE_TEXT: ("这项服务还是暂时用不了～可以直接问我，或回复“转人工”找老师。",),
    runner.ON_FAIL_HANDOVER_TEXT: ("正在请课程老师来和您沟通，请稍候～",),
    **{talk.reply: talk.alternates for talk in smalltalk.REPLIES},
}
_PUNCT = re.compile(r"[\s,.!?;:，。！？；：、…~～“”\"'()（）]+")


def _key(text: str) -> str:
    return _PUNCT.sub("", text)


def _candidates(reply: BotReply) -> list[str]:
    kind = str(reply.extra.get("kind", ""))
    own = [reply.text, *_BY_TEXT.get(reply.text, ()), *_BY_KIND.get(kind, ())]
    if reply.extra.get("flow") is not None:
        own.extend(lead + reply.text for lead in FLOW_LEAD_INS)
    else:
        own.append(LEAD_IN + reply.text)
    return own


def vary(replies: Sequence[BotReply], said: Sequence[str]) -> tuple[tuple[BotReply, ...], list[str]]:
    """``replies`` with no text repeating the previous turn's (``said``) or an earlier one of this turn, and what to
    remember as said (this turn's texts; the previous ones when this turn says nothing)."""
    seen = {_key(t) for t in said}
    out: list[BotReply] = []
    for i, reply in enumerate(replies):
        if any(_key(r.text) == _key(reply.text) for r in out):
            continue  # said a moment ago in this very turn
        if _key(reply.text) not in seen:
            out.append(reply)
            seen.add(_key(reply.text))
            continue
        text = next((t for t in _candidates(reply) if _key(t) not in seen), None)
        if reply.extra.get("kind") in ANSWER_KINDS and _key(ANSWER_AGAIN) not in seen:
            extra = {"kind": "answer_again", "kb_entry_id": reply.extra.get("kb_entry_id")}
            out.append(BotReply(ANSWER_AGAIN, (HANDOFF_BUTTON,), extra))
            seen.add(_key(ANSWER_AGAIN))
        elif text is not None:
            out.append(replace(reply, text=text))
            seen.add(_key(text))
        elif reply.buttons or (not out and i == len(replies) - 1):
            out.append(reply)  # unreachable with the lead-ins above; kept rather than lose buttons or go silent
    texts = [r.text for r in out][-MAX_SAID:]
    return tuple(out), texts or list(said)
