"""Properties of field extraction for any text a visitor (or a broken client) can send.

For every text — emoji, full-width forms, traditional characters, lone surrogates, NUL and control characters, very
long and mixed-script input — ``extract`` never raises, returns the documented types, is deterministic, and a phone
it returns is a valid Chinese mobile (11 digits) or landline (``0571-88881234``) whose digits stand in the text at
the evidence span. Metamorphic properties: a phone in unrelated Chinese text is still found, full-width digits give
the same phone as ASCII ones, and prices, order numbers, dates and QQ numbers are not phones.

Speed on long adversarial input is measured by ``benchmarks/extract_adversarial.py`` (no timing assertion here);
here we only check that the input extraction looks at is bounded (``MAX_CHARS``). Bugs these properties found have
plain regression tests at the end of the file.
"""

from __future__ import annotations

import datetime as dt
import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edudesk.nlp.extract import MAX_CHARS, Extraction, extract
from edudesk.nlp.extract.common import fold
from edudesk.nlp.extract.names import MAX_NAME_CHARS
from edudesk.nlp.extract.phones import find_phones
from edudesk.nlp.extract.subjects import SUBJECTS
from tests.hypothesis_settings import examples

MOBILE = re.compile(r"1[0-9]{10}")
LANDLINE = re.compile(r"0[0-9]{2,3}-[0-9]{7,8}")
GRADES = {"小班", "中班", "大班", "一年级", "二年级", "三年级", "四年级", "五年级", "六年级", "初一", "初二", "初三",
          "高一", "高二", "高三"}
FIELD_NAMES = {"phone", "wechat", "name", "child_name", "other_name", "age", "grade", "subject", "province", "city",
               "district"}
CN_DIGITS = str.maketrans("零〇一二三四五六七八九幺洞", "0012345678910")

# Pieces that trigger every rule (cues, numerals, lexicon words) and pieces that break naive code (NUL, surrogates,
# controls, joiners, emoji, full-width and traditional forms), glued together in any order.
FRAGMENTS = [
    "微信", "微信号", "vx", "VX:", "加我", "电话", "手机", "我叫", "我是", "我姓", "姓", "王", "李", "欧阳", "妈妈",
    "先生", "老师", "孩子叫", "女儿是", "岁", "半", "周岁", "年级", "初", "高", "中", "小班", "大班", "幼儿园",
    "杭州", "西湖区", "北京市", "朝阳区", "路", "号", "138", "0013", "8000", "1", "0", "+86", "0086", "86", "-",
    " ", ".", "(", ")", "（0571）", "0571", "88881234", "一三八", "零", "幺", "洞", "十二", "两", "QQ", "订单号", "¥",
    "元", "價格", "數學", "學", "廣州", "臺北", "😀", "👨\u200d👩\u200d👧", "\x00", "\x07", "\x1b", "\x7f", "\ud800",
    "\udfff", "\u200b", "\ufeff", "\u202e", "１３８", "　", "ｖｘ", "Ａ", "abc_123", "wx_id-2024", "李小明", "·",
    "Mary", "vs", "数学", "KET", "钢琴", "c++", "٣", "𝟏", "\r\n", "\t", "？", "～", "!!", "é", "ß", "İ",
]
ANY_CHAR = st.characters(codec=None, exclude_categories=())  # every code point, lone surrogates included
SURROGATE = st.characters(codec=None, categories=["Cs"])
texts = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(ANY_CHAR, max_size=6), SURROGATE),
                 max_size=40).map("".join)


def _check_shape(text: str, result: Extraction) -> None:
    """The documented types and invariants of one result."""
    assert isinstance(result, Extraction)
    for name in ("phone", "phone_e164", "wechat", "name", "child_name", "grade", "subject", "province", "city",
                 "district", "address"):
        assert getattr(result, name) is None or isinstance(getattr(result, name), str), name
    assert result.age is None or (type(result.age) is int and 1 <= result.age <= 80)
    assert result.grade is None or result.grade in GRADES
    assert all(s in SUBJECTS for s in result.subjects)
    assert result.subject == (result.subjects[0] if result.subjects else None)
    assert result.phone == (result.phones[0] if result.phones else None)
    assert (result.phone is None) == (result.phone_e164 is None)
    for phone in result.phones:
        assert MOBILE.fullmatch(phone) or LANDLINE.fullmatch(phone), phone
    if result.phone is not None:
        number = phonenumbers.parse(result.phone_e164 or "", None)
        assert phonenumbers.is_valid_number(number)
        assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == result.phone_e164
        # The digits stand in the text at the evidence span (after folding full-width and Chinese numeral digits),
        # possibly behind a country prefix (86 / 0086).
        span = result.span("phone")
        assert span is not None
        written = "".join(c for c in fold(text)[span.start:span.end].translate(CN_DIGITS) if c in "0123456789")
        wanted = result.phone.replace("-", "")
        assert written.endswith(wanted) and written[: len(written) - len(wanted)] in ("", "86", "0086")
    if result.wechat is not None:
        assert 6 <= len(result.wechat) <= 20 and result.wechat.isascii() and result.wechat.isprintable()
    for name in result.person_names:
        assert 1 <= len(name) <= MAX_NAME_CHARS and name.isprintable(), name
    for span in result.spans:
        assert span.field in FIELD_NAMES
        assert 0 <= span.start <= span.end <= len(text)
    assert all(isinstance(v, str | int) for v in result.as_fields().values())


@settings(max_examples=examples(200))
@given(texts)
def test_any_text_gives_well_formed_fields_rules_only(text: str) -> None:
    result = extract(text, use_model=False)
    _check_shape(text, result)
    assert extract(text, use_model=False) == result  # deterministic


@settings(max_examples=examples(60))
@given(texts)
def test_any_text_gives_well_formed_fields_with_the_model(text: str) -> None:
    result = extract(text)
    _check_shape(text, result)
    assert extract(text) == result


@settings(max_examples=examples(120))
@given(st.text(ANY_CHAR, max_size=80))
def test_any_code_points(text: str) -> None:
    _check_shape(text, extract(text, use_model=False))


@settings(max_examples=examples(10))
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=4).map("".join), st.integers(500, 5000),
       st.sampled_from(["", "我叫王小明电话13800138000", "孩子三年级"]))
def test_long_repetitive_input_is_bounded(unit: str, times: int, tail: str) -> None:
    """Extraction looks at the first ``MAX_CHARS`` characters only, so a huge message costs what a long one does."""
    text = unit * times + tail
    result = extract(text)
    _check_shape(text, result)
    if len(text) > MAX_CHARS:
        assert result == extract(text[:MAX_CHARS])


# ---- metamorphic: phones ------------------------------------------------------------------------------------------

_PREFIXES = ["130", "131", "133", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159", "166",
             "176", "177", "180", "181", "185", "186", "187", "188", "189", "198", "199"]
mobiles = st.builds(lambda p, rest: p + rest, st.sampled_from(_PREFIXES),
                    st.text("0123456789", min_size=8, max_size=8)).filter(
    lambda m: phonenumbers.is_valid_number(phonenumbers.parse(m, "CN")))
# Everyday Chinese that is neither a digit (一二三… are digits in a phone) nor a cue that vetoes a number
# (订单号, QQ, 价格, ¥…) nor a unit after a price (元, 块, 万).
_PLAIN = ("您好请问周末有没有适合孩子的课程想了解下时间地点方便回个我等你们消息谢谢啊呢吧的是在这里那好吗家长"
          "学生上午下午晚上")
plain_chinese = st.text(_PLAIN, max_size=12)


def _spaced(mobile: str, style: int) -> str:
    return [mobile, f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}", f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}",
            f"+86 {mobile}", f"0086{mobile}", f"86-{mobile}"][style]


@settings(max_examples=examples(150))
@given(mobiles, st.integers(0, 5), plain_chinese, plain_chinese)
def test_a_phone_in_chinese_text_is_found(mobile: str, style: int, before: str, after: str) -> None:
    result = extract(before + _spaced(mobile, style) + after, use_model=False)
    assert result.phone == mobile
    assert result.phone_e164 == "+86" + mobile


@settings(max_examples=examples(100))
@given(mobiles, st.integers(0, 5), plain_chinese, plain_chinese)
def test_full_width_digits_give_the_same_phone(mobile: str, style: int, before: str, after: str) -> None:
    ascii_text = before + _spaced(mobile, style) + after
    wide = ascii_text.translate({cp: cp + 0xFEE0 for cp in range(0x21, 0x7F)})
    assert extract(wide, use_model=False).phones == extract(ascii_text, use_model=False).phones
    assert extract(wide, use_model=False).phone == mobile


@settings(max_examples=examples(100))
@given(mobiles, st.sampled_from(["订单号", "订单号：", "单号 ", "QQ", "qq号", "QQ：", "扣扣", "验证码", "¥", "￥",
                                 "价格", "学费", "快递单号", "会员号#"]), plain_chinese)
def test_a_number_after_a_non_phone_cue_is_not_a_phone(digits: str, cue: str, before: str) -> None:
    assert extract(before + cue + digits, use_model=False).phone is None


@settings(max_examples=examples(100))
@given(st.integers(1, 10**11), st.sampled_from(["元", "块", "万", "rmb", "人民币", "/节", "每期"]), plain_chinese)
def test_a_price_is_not_a_phone(amount: int, unit: str, before: str) -> None:
    assert extract(f"{before}{amount}{unit}", use_model=False).phone is None


@settings(max_examples=examples(100))
@given(st.dates(dt.date(1950, 1, 1), dt.date(2099, 12, 31)), st.sampled_from([
    "{y}-{m:02d}-{d:02d}", "{y}{m:02d}{d:02d}", "{y}年{m}月{d}日", "{y}.{m:02d}.{d:02d}", "{y}/{m}/{d} 10:30",
    "{y}{m:02d}{d:02d}1030"]), plain_chinese)
def test_a_date_is_not_a_phone(date: dt.date, form: str, before: str) -> None:
    y, m, d = date.year, date.month, date.day
    assert extract(before + form.format(y=y, m=m, d=d) + "试听", use_model=False).phone is None


@settings(max_examples=examples(100))
@given(st.text("0123456789", min_size=12, max_size=20), plain_chinese)
def test_long_digit_runs_are_not_phones(digits: str, before: str) -> None:
    """Order numbers, ID cards and bank cards are longer than any phone: no phone is cut out of them."""
    assert extract(before + digits + "。", use_model=False).phone is None or digits.startswith(("0086", "86"))


# ---- regressions found by the properties --------------------------------------------------------------------------


def test_non_ascii_decimal_digits_are_not_read_as_phone_digits() -> None:
    """Arabic-Indic digits are decimal digits to ``\\d`` and to libphonenumber; the phone came back with them in
    its value ("1٣٨…"), not as the 11 ASCII digits the lead card and the de-duplication expect."""
    assert extract("电话1٣٨٠٠١٣٨٠٠٠").phone is None
    assert find_phones("١٣٨٠٠١٣٨٠٠٠") == []
    assert extract("电话13800138000 ٣").phone == "13800138000"


@pytest.mark.parametrize("text", ["\ud800", "孩子\udfff三年级", "\x00我叫王小明\x00", "\ufeff杭州\u202e西湖区"])
def test_lone_surrogates_and_controls(text: str) -> None:
    _check_shape(text, extract(text))


def test_huge_message_is_cut_to_the_bound() -> None:
    assert extract("王" * (MAX_CHARS * 3) + "我叫李小明").name is None
    assert extract("孩子三年级" + "。" * MAX_CHARS + "我叫李小明").grade == "三年级"


def test_the_model_does_not_make_a_name_of_a_run_of_surnames() -> None:
    """The NER model tagged 500 repeated 王 as one person; that became the lead's name."""
    assert extract("王" * 600).person_names == ()
    assert extract("王" * 600, use_model=False).person_names == ()


def test_the_model_does_not_make_a_name_of_control_characters() -> None:
    assert extract("\x1fH微信").person_names == ()
