"""The rule kinds of an inspection rule set, their parameters, validation and the default set.

A rule is plain data (stored as JSON in a rule-set revision): ``key`` (stable within the org's rule set), ``kind``,
``name``, ``severity``, ``points`` (deducted once per conversation when the rule hits), ``enabled`` and ``params``.
Each kind declares its parameters as :class:`Param` specs; the editor builds its fields from them and
:func:`clean_rule` checks what it posts. No database, no HTTP.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from edudesk.errors import DomainError


class RuleError(DomainError):
    status_code = 422


SEVERITIES = ("minor", "major", "severe")
SEVERITY_LABELS = {"minor": "轻微", "major": "较重", "severe": "严重"}
MAX_RULES = 50
MAX_WORDS = 300
MAX_WORD_CHARS = 30
MAX_NAME = 40


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # "words" (one per line), "int", "bool", "choice", "aliases" (课程名=别名1,别名2 per line)
    label: str
    minimum: int = 0
    maximum: int = 0
    choices: tuple[tuple[str, str], ...] = ()
    hint: str = ""


@dataclass(frozen=True)
class Kind:
    key: str
    label: str
    description: str
    params: tuple[Param, ...]


_NEGATION = Param("negation", "bool", "否定句不算（如“不能保证提分”）")
_BUSINESS = Param("business_hours", "bool", "只计营业时间内的等待")
KINDS: dict[str, Kind] = {k.key: k for k in (
    Kind("forbidden", "违规承诺 / 禁用词", "客服说了不允许的承诺或词语（保证提分、包过、最低价……）。",
         (Param("words", "words", "词语（每行一个）"), _NEGATION)),
    Kind("rude", "服务禁语", "客服说了不礼貌的话。", (Param("words", "words", "词语（每行一个）"), _NEGATION)),
    Kind("required", "必说用语", "开场问候或结束语：客服开头或结尾的几句话里必须出现其中一个。",
         (Param("position", "choice", "位置",
                choices=(("start", "开场（客服最先说的话）"), ("end", "结束（客服最后说的话）"))),
          Param("phrases", "words", "用语（每行一个，出现任一即可）"),
          Param("turns", "int", "检查的客服发言条数", 1, 5))),
    Kind("first_response", "首次响应超时", "人工接入后，客服第一次回复超过规定秒数。",
         (Param("seconds", "int", "时限（秒）", 5, 86400), _BUSINESS)),
    Kind("reply_time", "回复超时", "访客说话后，客服下一次回复超过规定秒数（每次都检查）。",
         (Param("seconds", "int", "时限（秒）", 5, 86400), _BUSINESS)),
    Kind("complaint", "访客投诉 / 负面情绪", "访客表达投诉或不满（按词表判断，否定句不算）。",
         (Param("words", "words", "词语（每行一个）"), _NEGATION)),
    Kind("missed_contact", "未索要联系方式",
         "访客问了价格、试听、报名等，会话结束时客服既没有询问、访客也没有留下手机号或微信。",
         (Param("intent_words", "words", "意向词（每行一个）"),
          Param("ask_words", "words", "客服询问联系方式的词（每行一个）"))),
    Kind("price_mismatch", "报价与知识库不符", "客服报出的课程价格与知识库 / 课程目录中该课程的价格不一致。",
         (Param("min_amount", "int", "只检查不低于此金额（元）的报价", 0, 1000000),
          Param("tolerance", "int", "允许的差额（元）", 0, 100000),
          Param("aliases", "aliases", "课程别名（每行：课程名=别名1,别名2）",
                hint="客服常用简称时填写，如：小学数学思维提高班=思维班,数学思维课"))),
)}


def _rule(key: str, kind: str, name: str, severity: str, points: int, **params: Any) -> dict[str, Any]:
    return {"key": key, "kind": kind, "name": name, "severity": severity, "points": points, "enabled": True,
            "params": params}


# The set every org starts with (and “恢复默认”): words chosen to be unambiguous in a training school's chats —
# e.g. no bare “滚” (滚动) or “不知道” (不知道您方便吗), which would raise false alarms.
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    _rule("promise", "forbidden", "违规承诺", "severe", 20, negation=True, words=[
        "保证提分", "保证提高", "保证考上", "包过", "保过", "稳过", "必过", "包录取", "保录取", "最低价", "全网最低",
        "100%通过", "百分百通过", "百分之百通过", "100%提分", "考不过全额退款", "无效退款"]),
    _rule("rude", "rude", "服务禁语", "severe", 20, negation=False, words=[
        "你有病", "神经病", "白痴", "笨蛋", "蠢货", "滚开", "滚蛋", "闭嘴", "爱报不报", "爱买不买", "烦不烦",
        "听不懂吗", "关我什么事", "你懂不懂", "废话"]),
    _rule("greeting", "required", "开场问候", "minor", 5, position="start", turns=1, phrases=[
        "您好", "你好", "欢迎", "很高兴为您服务"]),
    _rule("closing", "required", "结束语", "minor", 5, position="end", turns=2, phrases=[
        "再见", "祝您", "祝孩子", "感谢", "谢谢", "还有其他问题", "还有什么问题", "随时联系", "随时找我", "欢迎再来"]),
    _rule("first_response", "first_response", "首次响应超时", "major", 10, seconds=60, business_hours=True),
    _rule("reply_time", "reply_time", "回复超时", "minor", 5, seconds=180, business_hours=True),
    _rule("complaint", "complaint", "访客投诉 / 负面情绪", "major", 5, negation=True, words=[
        "投诉", "举报", "太差", "很差", "差劲", "垃圾", "骗子", "骗人", "骗钱", "被骗", "退钱", "坑人", "坑钱",
        "不满意", "很失望", "太失望", "态度差", "态度不好", "生气", "12315", "曝光你们", "消协", "忽悠", "欺骗",
        "太慢了"]),
    _rule("missed_contact", "missed_contact", "未索要联系方式", "major", 10, intent_words=[
        "多少钱", "价格", "学费", "费用", "收费", "报名", "试听", "体验课", "优惠", "怎么报", "有名额"], ask_words=[
        "手机", "电话", "微信", "联系方式", "号码", "vx", "加您", "加你", "留个", "留一下"]),
    _rule("price", "price_mismatch", "报价与知识库不符", "severe", 20, min_amount=100, tolerance=0, aliases={}),
)


def default_rules() -> list[dict[str, Any]]:
    return copy.deepcopy(list(DEFAULT_RULES))


def new_rule(kind: str, key: str) -> dict[str, Any]:
    """A fresh rule of ``kind`` with the default set's parameters for that kind (or empty ones)."""
    if kind not in KINDS:
        raise RuleError("bad_kind", "请选择规则类型", "kind")
    template = next((r for r in DEFAULT_RULES if r["kind"] == kind), None)
    rule = copy.deepcopy(template) if template else _rule(key, kind, KINDS[kind].label, "minor", 5)
    rule["key"] = key
    return rule


_KEY = re.compile(r"^[a-z0-9_]{1,32}$")


def _words(raw: Any, field: str) -> list[str]:
    items = raw.splitlines() if isinstance(raw, str) else list(raw or [])
    out: list[str] = []
    for item in items:
        word = str(item).strip()
        if not word:
            continue
        if len(word) > MAX_WORD_CHARS:
            raise RuleError("word_too_long", f"每个词不能超过 {MAX_WORD_CHARS} 个字：{word[:40]}", field)
        if word not in out:
            out.append(word)
    if not out:
        raise RuleError("no_words", "至少填写一个词", field)
    if len(out) > MAX_WORDS:
        raise RuleError("too_many_words", f"最多 {MAX_WORDS} 个词", field)
    return out


def _int(raw: Any, spec: Param, field: str) -> int:
    text = str(raw).strip() if raw is not None else ""
    if isinstance(raw, bool) or not re.fullmatch(r"-?\d{1,9}", text):
        raise RuleError("bad_number", "请填写整数", field)
    value = int(text)
    if not spec.minimum <= value <= spec.maximum:
        raise RuleError("out_of_range", f"须在 {spec.minimum}–{spec.maximum} 之间", field)
    return value


def _aliases(raw: Any, field: str) -> dict[str, list[str]]:
    lines = ([f"{k}={','.join(v)}" for k, v in raw.items()] if isinstance(raw, dict)
             else str(raw or "").splitlines())
    out: dict[str, list[str]] = {}
    for line in lines:
        if not line.strip():
            continue
        course, sep, names = line.partition("=")
        course = course.strip()
        aliases = [a.strip() for a in re.split(r"[,，、]", names) if a.strip()]
        if not sep or not course or not aliases:
            raise RuleError("bad_alias", f"格式应为“课程名=别名1,别名2”：{line.strip()[:40]}", field)
        if any(len(a) < 2 or len(a) > MAX_WORD_CHARS for a in [course, *aliases]):
            raise RuleError("bad_alias", f"课程名和别名须为 2–{MAX_WORD_CHARS} 个字：{line.strip()[:40]}", field)
        out.setdefault(course, [])
        out[course] += [a for a in aliases if a not in out[course]]
    if len(out) > MAX_WORDS:
        raise RuleError("too_many_words", f"最多 {MAX_WORDS} 行", field)
    return out


def clean_params(kind: str, raw: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The parameters of a ``kind`` rule from ``raw`` (form strings or stored values), checked. ``prefix`` names
    the form fields in errors (``<rule key>.<param>``)."""
    spec = KINDS.get(kind)
    if spec is None:
        raise RuleError("bad_kind", "未知的规则类型", f"{prefix}kind")
    params: dict[str, Any] = {}
    for p in spec.params:
        field = f"{prefix}{p.name}"
        value = raw.get(p.name)
        if p.type == "words":
            params[p.name] = _words(value, field)
        elif p.type == "int":
            params[p.name] = _int(value, p, field)
        elif p.type == "bool":
            params[p.name] = value in (True, "1", "on", "true", "yes")
        elif p.type == "choice":
            if value not in dict(p.choices):
                raise RuleError("bad_choice", "请选择一项", field)
            params[p.name] = value
        else:
            params[p.name] = _aliases(value, field)
    return params


def clean_rule(raw: dict[str, Any]) -> dict[str, Any]:
    """One rule as stored, from form strings or stored values; raises :class:`RuleError` naming the field as
    ``<key>.<field>`` so the editor shows the message beside it."""
    key = str(raw.get("key", ""))
    if not _KEY.match(key):
        raise RuleError("bad_key", "规则标识不合法", "key")
    prefix = f"{key}."
    kind = str(raw.get("kind", ""))
    name = str(raw.get("name", "")).strip()
    if not name or len(name) > MAX_NAME:
        raise RuleError("bad_name", f"名称不能为空，且不超过 {MAX_NAME} 个字", f"{prefix}name")
    severity = str(raw.get("severity", ""))
    if severity not in SEVERITIES:
        raise RuleError("bad_severity", "请选择严重程度", f"{prefix}severity")
    points = _int(raw.get("points"), Param("points", "int", "", 0, 100), f"{prefix}points")
    params = clean_params(kind, raw.get("params") or {}, prefix)
    enabled = raw.get("enabled") in (True, "1", "on", "true", "yes")
    return {"key": key, "kind": kind, "name": name, "severity": severity, "points": points, "enabled": enabled,
            "params": params}


def clean_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(rules) > MAX_RULES:
        raise RuleError("too_many_rules", f"最多 {MAX_RULES} 条规则", "form")
    cleaned = [clean_rule(r) for r in rules]
    keys = [r["key"] for r in cleaned]
    if len(set(keys)) != len(keys):
        raise RuleError("duplicate_key", "规则标识重复", "form")
    return cleaned


def next_key(rules: list[dict[str, Any]], kind: str) -> str:
    taken = {r["key"] for r in rules}
    n = 1
    while f"{kind}_{n}" in taken:
        n += 1
    return f"{kind}_{n}"


def param_text(param: Param, value: Any) -> str:
    """A stored parameter as the editor's field shows it."""
    if param.type == "words":
        return "\n".join(value or [])
    if param.type == "aliases":
        return "\n".join(f"{k}={','.join(v)}" for k, v in (value or {}).items())
    if param.type == "bool":
        return "1" if value else ""
    return "" if value is None else str(value)
