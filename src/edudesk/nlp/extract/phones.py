"""Phone numbers in visitor messages: mainland mobiles and landlines, validated with ``phonenumbers``.

Visitors write numbers every way an IME allows: ``138 0013 8000``, ``138-0013-8000``, ``+86 138…``, ``0086…``,
full-width digits (folded before we get here) and, now and then, Chinese numeral digits (``一三八零零一三八零零零``).
A candidate is a run of digits with single separators (space, dash, dot, parentheses); the digits of the run
(country prefix removed) must form a number that libphonenumber's metadata says is a valid CN mobile or fixed
line. Anything else with many digits (prices, dates, order numbers, ID cards, bank cards) fails that test
because of its length or prefix, or because it touches more digits. Some do look like a mobile (an 11-digit QQ
number, an order number starting with 1), so a cue just before the number (``QQ``, ``订单号``, ``验证码``…)
vetoes it.

Values: a mobile as its 11-digit national number; a landline as written but canonical, ``0571-88881234``
(area code, one dash, local number), the architecture's predictions format. ``Phone.e164`` is there for callers
that want to dial or de-duplicate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

__all__ = ["Phone", "find_phones"]

_CN_DIGITS = str.maketrans("零〇一二三四五六七八九幺洞", "0012345678910")
_CN_RUN = re.compile(r"[零〇一二三四五六七八九幺洞]{7,}")
# Optional country prefix, then digits with at most one separator between digit groups.
_CANDIDATE = re.compile(
    r"(?<![\d.])(?:(?:\+|00)\s?86[\s-]?|(?<!\d)86[\s-])?"
    r"(?:\(0[0-9]{2,3}\)\s?|（0[0-9]{2,3}）\s?)?[0-9](?:[\s.\-—]?[0-9]){5,14}(?![\d])"
)
# Cues that make the following number something else than a phone (looked for just before it).
_VETO = re.compile(
    r"(?:qq|扣扣|企鹅|订单|单号|编号|流水|身份证|证件|卡号|银行卡|账号|帐号|验证码|校验码|学号|准考证|快递|运单|"
    r"工号|会员号|合同号|发票|金额|价格|价钱|学费|¥|￥)[号码是为:：\s#]*$",
    re.IGNORECASE,
)
_PRICE_AFTER = re.compile(r"^\s*(?:元|块|万|rmb|人民币|/|每)", re.IGNORECASE)
# Only ASCII digits make a number: ``\d`` and libphonenumber also read Arabic-Indic and other decimal digits, which
# would come back inside the value ("1٣٨…") instead of the 11 ASCII digits the lead card stores. Full-width digits
# are folded to ASCII before we get here.
_ASCII_DIGITS = frozenset("0123456789")
_MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


@dataclass(frozen=True)
class Phone:
    value: str  # 11-digit mobile, or landline "0571-88881234"
    e164: str
    mobile: bool
    start: int
    end: int


def _digits_to_arabic(text: str) -> str:
    """Chinese-numeral digit runs → Arabic digits, one character for one (offsets unchanged)."""
    return _CN_RUN.sub(lambda m: m.group(0).translate(_CN_DIGITS), text)


def _classify(digits: str) -> tuple[str, str, bool] | None:
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) in (12, 13):
        digits = digits[2:]
    if (len(digits) == 11 and digits[0] == "1") or (digits[0] == "0" and 10 <= len(digits) <= 12):
        national = digits
    else:
        return None
    try:
        number = phonenumbers.parse(national, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    kind = phonenumbers.number_type(number)
    if national[0] == "1":
        return (national, e164, True) if kind in _MOBILE_TYPES else None
    if kind != PhoneNumberType.FIXED_LINE:
        return None
    area = phonenumbers.length_of_geographical_area_code(number)
    if not area:
        return None
    return f"{national[: area + 1]}-{national[area + 1:]}", e164, False


def find_phones(text: str) -> list[Phone]:
    """Every valid CN phone number in ``text`` (already folded to half-width), in order of appearance."""
    if sum(c.isdigit() for c in text) < 7 and not _CN_RUN.search(text):
        return []
    scan = _digits_to_arabic(text)
    found: list[Phone] = []
    for match in _CANDIDATE.finditer(scan):
        start, end = match.span()
        if _VETO.search(scan[max(0, start - 8):start]) or _PRICE_AFTER.match(scan[end:end + 4]):
            continue
        digits = "".join(c for c in match.group(0) if c in _ASCII_DIGITS)
        result = _classify(digits)
        if result is None:
            continue
        value, e164, mobile = result
        found.append(Phone(value, e164, mobile, start, end))
    return found
