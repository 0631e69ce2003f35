"""How parents type, folded into how a knowledge base is written: a slang, dialect and abbreviation lexicon.

A question typed on a phone says "咋收费", "几多钱", "有木有停车位", "娃几岁能学", "tyk 怎么约" where the knowledge
base says "怎么收费", "多少钱", "有没有停车位", "孩子几岁能学", "体验课怎么约". The sentence encoder was trained on
written Chinese and BM25 needs the same characters, so both miss what any person reads at once. This module
rewrites such forms into the written word before matching.

It is applied to the visitor's question **and** to every knowledge-base text (lexical terms and the classifier's
features), so the two meet in one vocabulary whichever side uses the colloquial form. It only ever replaces a
form by the word it stands for (or drops a greeting or filler that carries no question); it never adds a topic,
so a question about something the knowledge base does not cover stays as far from it as before (tests/nlp/
test_colloquial.py checks this on off-topic questions).

What is in it, and why only this:

- **Dialect and net slang with one reading in a question** (咋 → 怎么, 啥 → 什么, 木有 → 没有, 娃 → 孩子, Cantonese
  冇 / 几多 / 边度 …). Forms that are also ordinary words elsewhere (系, 表, 造, 滴) are left out: a wrong rewrite
  costs more than a missed one, and the pinyin layer and the embedding catch many of the rest.
- **Abbreviations parents use for this trade** (tyk 体验课, sf 收费, xf 学费, bm 报名 …), matched as whole Latin
  tokens only, so "sf" inside "sfx" or a WeChat ID is untouched. Initials the lexicon does not hold are resolved
  against the knowledge base's own words by ``pinyin``.
- **Greetings and fillers** (你好, 请问, 想问一下, 亲, 哈哈哈, 嗯嗯): they are no part of the question, and BM25
  counts words the knowledge base never uses against the match. A message of nothing else is left as it is.
- **Clause-final particles of the south** (伐, 不啦, 咩 → 吗).

Domain synonyms (补课 / 补习, 培训 / 辅导) are deliberately absent: in one knowledge base they name different
entries, and telling them apart is the per-index classifier's job.

One compiled alternation, longest form first, one pass: a rewrite never feeds another rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

__all__ = ["CONCEPTS", "CONCEPT_INDEX", "LEXICON", "concept_clauses", "concepts", "rewrite"]

# (canonical form, the colloquial forms it stands for). Every form is a literal; Latin forms match whole tokens.
# A form that contains a longer canonical form (贵不 in 贵不贵) lists that form too, so the longer one wins.
LEXICON: tuple[tuple[str, tuple[str, ...]], ...] = (
    # how / what / where / when
    ("怎么", ("咋个", "咋子", "咋", "怎个", "肿么", "怎莫", "怎末", "怎们", "点样", "怎滴")),
    ("怎么样", ("咋样", "咋地", "怎么样子")),
    ("什么", ("啥子", "啥", "神马", "什麽", "甚么", "撒子", "乜嘢")),
    ("什么时候", ("啥时候", "啥时", "几时", "几时候")),
    ("哪里", ("哪儿", "哪旮旯", "哪嘎达", "哪噶", "边度", "边处", "哪块", "哪哈")),
    ("在哪里", ("搁哪", "喺边", "喺边度", "在哪儿", "在哪块", "在哪哈")),
    ("没有", ("木有", "米有", "没得", "冇", "么得", "么有", "没有得", "莫得")),
    ("有没有", ("有木有", "有米有", "有没得", "有冇", "有么有", "有莫得", "有无")),
    ("是不是", ("系唔系", "是伐")),
    ("知道", ("晓得", "知到")),
    ("这样", ("酱紫", "这样子", "介样")),
    ("这个", ("介个",)),
    ("喜欢", ("稀饭",)),
    ("非常", ("灰常", "超级", "巨")),
    ("厉害", ("腻害",)),
    ("朋友", ("盆友", "朋油")),
    ("同学", ("童鞋",)),
    ("一下", ("一哈", "一下下")),
    ("可以", ("可不可以", "能不能", "能否", "可否")),
    ("多少钱一", ("多钱一",)),
    ("贵不贵", ("贵不贵", "贵不", "贵么", "贵伐", "贵唔贵")),
    ("孩子", ("娃娃", "娃儿", "娃", "崽崽", "孩纸", "小孩子", "小孩", "小娃", "细路", "伢", "小朋友", "宝宝")),
    ("两个", ("俩",)),
    ("三个", ("仨",)),
    ("周末", ("礼拜六礼拜天", "礼拜六日", "星期六日", "周六日", "周六周日", "双休日", "双休")),
    ("周六", ("礼拜六", "星期六")),
    ("周日", ("礼拜天", "礼拜日", "星期天", "星期日")),
    ("周一", ("礼拜一", "星期一")),
    ("周二", ("礼拜二", "星期二")),
    ("周三", ("礼拜三", "星期三")),
    ("周四", ("礼拜四", "星期四")),
    ("周五", ("礼拜五", "星期五")),
    ("了", ("咗",)),
    ("吗", ("伐", "不啦", "咩", "嘛", "麽", "么")),
    ("多少", ("多小",)),
    # the trade's own abbreviations (Latin forms match whole tokens only)
    ("体验课", ("tyk",)),
    ("试听课", ("stk", "st课")),
    ("收费", ("sf",)),
    ("学费", ("xf",)),
    ("报名", ("bm",)),
    ("退费", ("tf",)),
    ("上课", ("sk",)),
    ("网课", ("wk",)),
    ("优惠", ("yh",)),
    ("发票", ("fp",)),
    ("地址", ("dz",)),
    ("微信", ("vx", "v信", "wx", "薇信", "威信")),
    ("老师", ("老湿", "老丝")),
    ("花呗", ("huabei",)),
    ("多少钱", ("duoshaoqian", "几多钱", "几钱", "好多钱", "多钱", "多少米", "多少银子", "多少块", "几块钱",
             "多少money", "多小钱", "how much", "how much is", "how much for")),
    # English words parents mix in, as the trade says them in Chinese (whole words only)
    ("价格", ("价钱", "价位", "jg", "price", "prices", "cost", "fee", "fees", "tuition")),
    ("试听", ("trial", "trial class", "try", "demo class")),
    ("停车", ("parking", "park")),
    ("线上", ("online",)),
    ("优惠", ("discount", "discounts", "promotion", "coupon")),
    ("退费", ("refund", "money back")),
    ("地址", ("address", "location", "where are you")),
    ("在哪", ("where",)),
    ("课表", ("schedule", "timetable")),
    ("时间", ("time", "when")),
    ("报名", ("sign up", "register", "enroll", "enrol", "apply")),
    ("发票", ("invoice", "receipt", "fapiao")),
    ("分期", ("installment", "instalment", "installments")),
    ("孩子", ("kid", "kids", "child", "children")),
    ("英语", ("english",)),
    ("数学", ("math", "maths")),
    ("美术", ("art", "drawing", "painting")),
    ("一对一", ("1v1", "1对1", "one on one", "1 on 1", "one-on-one", "private class")),
    ("直播", ("live",)),
    ("录播", ("recorded", "recording")),
    ("兄弟姐妹", ("siblings", "sibling", "brother", "sister")),
    ("岁", ("year old", "years old", "yo")),
    ("周末", ("weekend", "weekends")),
    ("课", ("class", "classes", "course", "courses", "lesson", "lessons")),
    ("老师", ("teacher", "teachers", "tutor")),
    ("", ("你好呀", "你好啊", "你好", "您好", "哈喽", "嗨", "hello", "hi", "在吗", "在不在", "在么", "亲亲", "亲",
         "请问下", "请问一下", "请问", "问一下", "问下", "想问问", "想问一下", "想问下", "想问", "咨询一下",
         "咨询下", "我想咨询", "打扰一下", "打扰了", "麻烦问下", "麻烦问一下", "老师好", "哈哈哈哈", "哈哈哈",
         "哈哈", "呵呵", "嘿嘿", "嗯嗯", "嗯", "呃", "哦哦", "谢谢", "谢啦", "多谢", "感谢")),
)

# Guards for forms that are also part of ordinary words, as (characters that may not precede, that may not
# follow); "^" in the first: only at the start of a clause. The question particles 么 / 嘛 / 伐 / 咩 count only at
# the end of a clause and not in 什么 / 干嘛 / 步伐; 亲 is a greeting, not 父亲 or 亲子.
_GUARDS: dict[str, tuple[str, str]] = {
    "么": ("什怎这那多要干甚为没", "\\w"), "麽": ("什怎这那多要干甚为", "\\w"), "嘛": ("干要啥什做", "\\w"),
    "伐": ("步讨砍征杀", "\\w"), "咩": ("", "\\w"), "不啦": ("", "\\w"),
    "亲": ("^", "子戚人爱自友情切身"), "亲亲": ("^", ""), "嗨": ("^", "翻皮"), "hi": ("^", ""), "hello": ("^", ""),
    "巨": ("艰", "大型人额资头款著星"), "超级": ("", "市"),
    "宝宝": ("", "巴"), "多小": ("", "\\w"), "多钱": ("很好许更太", ""), "咋": ("", "舌呼"), "俩": ("伎", ""),
}

_LATIN = re.compile(r"[a-z]")


def _pattern_of(form: str) -> str:
    escaped = re.escape(form)
    if _LATIN.match(form):  # whole Latin tokens: not inside "sfx", "wx_abc", "abc123"
        return rf"(?<![a-z0-9_]){escaped}(?![a-z0-9_])"
    before, after = _GUARDS.get(form, ("", ""))
    if before == "^":
        escaped = rf"(?<!\w){escaped}"
    elif before:
        escaped = rf"(?<![{before}]){escaped}"
    if after:
        escaped = rf"{escaped}(?![{after}])"
    return escaped


def _alternation(forms: Iterable[str], pattern_of: Callable[[str], str] = _pattern_of) -> str:
    """One regex for all ``forms``, the longest first where several match at one place.

    Written out as a plain alternation Python's ``re`` tries every form at every position of the text (the 47,733
    questions of a 50,000-question KB took 2 s a pass). Here the forms are grouped by their first character behind
    a look-ahead for it, and the whole behind a look-ahead for any first character, which ``re`` turns into a fast
    scan: positions that start no form cost one set lookup, and at the others only the forms starting there are
    tried, still longest first, guards and all. Same matches as the plain alternation (checked on 190,000 texts),
    five times faster (issue 17, item 4)."""
    ordered = sorted(set(forms), key=lambda f: (-len(f), f))
    groups: dict[str, list[str]] = {}
    for form in ordered:
        groups.setdefault(form[0], []).append(form)
    firsts = "".join(re.escape(first) for first in sorted(groups))
    branches = "|".join(f"(?={re.escape(first)})(?:{'|'.join(pattern_of(f) for f in fs)})"
                        for first, fs in sorted(groups.items()))
    return f"(?=[{firsts}])(?:{branches})"


_CANONICAL: dict[str, str] = {form: canonical for canonical, forms in LEXICON for form in forms}
_PATTERN = re.compile(_alternation(_CANONICAL))
_WORDS_ONLY = re.compile(_alternation(form for form, canonical in _CANONICAL.items() if canonical))


def _replace(match: re.Match[str]) -> str:
    return _CANONICAL[match.group(0)]


# Education synonyms: words that name one thing a parent asks about. Unlike the lexicon they do not replace the
# words (费用 and 多少钱 stay themselves); a text that uses any of them also gets the concept as one more lexical
# term, "§price", in the knowledge base and in the query alike. BM25 and the per-index classifier then see that
# "二建学费多少" and the entry "收费标准 / 培训费用是多少 / 各班型价格如何" share a concept even where they share no
# word, and the classifier learns how much that concept tells this knowledge base's entries apart.
CONCEPTS: dict[str, tuple[str, ...]] = {
    "price": ("多少钱", "收费", "学费", "价格", "费用", "价目", "定价", "报价", "价钱", "什么价", "啥价", "贵不贵",
              "贵吗", "便宜吗", "花多少", "要多少", "交多少", "培训费", "课时费", "一期多少", "老生价"),
    "refund": ("退费", "退钱", "退款", "退课", "退学费", "能退", "可以退", "怎么退", "退吗"),
    "instalment": ("分期", "花呗", "信用卡", "分批", "分几次", "按月付", "分次"),
    "discount": ("优惠", "折扣", "打折", "团购", "减免", "立减", "便宜点", "活动", "老生价", "老学员价", "折吗"),
    "trial": ("试听", "体验课", "试课", "试上", "试学", "先听", "先上一节", "体验一下", "公开课"),
    "place": ("地址", "在哪", "位置", "地铁", "怎么去", "怎么走", "定位", "路线", "附近", "多远", "远不远",
              "近吗"),
    "parking": ("停车", "车位", "停哪", "开车"),
    "schedule": ("什么时候", "几点", "时间", "开课", "开班", "课表", "周末", "晚上", "几号", "哪天", "周几", "几月",
                 "上几次", "一周几", "每周"),
    "signup": ("报名", "报班", "报读", "缴费", "交费", "怎么报", "报课"),
    "invoice": ("发票", "收据", "抬头", "报销", "开票"),
    "teacher": ("老师", "师资", "教师", "外教", "讲师", "名师", "教龄"),
    "size": ("几个人", "多少人", "小班", "人数", "一对一", "大班", "几个学生", "多少学生"),
    "online": ("网课", "线上", "直播", "录播", "在线", "回放", "网上上课", "远程"),
    "leave": ("请假", "补课", "缺课", "调课", "落下的课"),
    "material": ("教材", "资料", "讲义", "课本", "纸质书", "书本"),
    "certificate": ("证书", "拿证", "结业证"),
    "age": ("几岁", "多大", "年龄", "岁的", "周岁"),
}

CONCEPT_INDEX: dict[str, int] = {"§" + name: i for i, name in enumerate(CONCEPTS)}
_CONCEPT_OF: dict[str, list[str]] = {}
for _name, _words in CONCEPTS.items():
    for _word in _words:
        _CONCEPT_OF.setdefault(_word, []).append("§" + _name)
_CONCEPT_PATTERN = re.compile(_alternation(_CONCEPT_OF, re.escape))


def concepts(text: str) -> list[str]:
    """The concept terms (``"§price"`` …) of a rewritten text, each once, in a stable order."""
    found = {c for word in _CONCEPT_PATTERN.findall(text) for c in _CONCEPT_OF[word]}
    return sorted(found)


def concept_clauses(text: str) -> dict[str, int]:
    """The concept terms of a rewritten, normalised text, each with the first clause (0, 1, …; clauses are what
    whitespace separates, punctuation having become spaces) that names it.

    >>> concept_clauses("地址在哪 有停车位吗")
    {'§place': 0, '§parking': 1}
    """
    found: dict[str, int] = {}
    for clause, part in enumerate(text.split()):
        for word in _CONCEPT_PATTERN.findall(part):
            for concept in _CONCEPT_OF[word]:
                found.setdefault(concept, clause)
    return found


def rewrite(text: str, fillers: bool = True) -> str:
    """``text`` (already normalised, lower case) with colloquial forms replaced by the written word.

    Greetings and fillers are dropped (with ``fillers``) unless nothing else is left; spaces left by a dropped
    form are collapsed.

    >>> rewrite("你好 请问tyk咋约")
    '体验课怎么约'
    """
    if not text:
        return text
    out = (_PATTERN if fillers else _WORDS_ONLY).sub(_replace, text)
    if out == text:
        return text
    out = " ".join(out.split())
    return out if out.strip() else text
