"""Field extraction from one visitor message: phone, WeChat, names, age, grade, subject, place.

``extract(text)`` runs on every visitor message (bot engine, "opportunistic field extraction" → lead card), so it is
rules first, each a compiled regex or a dictionary lookup, and the bundled NER model only as a backup for names
(see :mod:`.names`). Every value comes with its evidence (``Extraction.spans``: field, value, offsets into the
original text, rule or model) so the lead card can show where it came from.

Per-field rules and decisions live in the modules: :mod:`.phones`, :mod:`.wechat`, :mod:`.names`, :mod:`.numbers`
(age), :mod:`.grades`, :mod:`.subjects` (with :mod:`.exams`), :mod:`.places`. An org's own course catalogue comes in
as a :class:`Lexicon` (``lexicon(courses)``), built by the caller once per org bot version, so this package never
reads the database. ``Extraction.as_fields()`` is the flat form written by
``edudesk eval extract --predictions`` and stored on a lead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edudesk.nlp.extract.common import Span, fold
from edudesk.nlp.extract.grades import find_grade
from edudesk.nlp.extract.names import find_names, ner_available
from edudesk.nlp.extract.numbers import find_age
from edudesk.nlp.extract.phones import find_phones
from edudesk.nlp.extract.places import find_place
from edudesk.nlp.extract.subjects import Lexicon, find_subjects, lexicon
from edudesk.nlp.extract.wechat import find_wechat

__all__ = ["FIELDS", "MAX_CHARS", "Extraction", "Lexicon", "Span", "extract", "lexicon", "ner_available"]

# Extraction looks at this many characters of a message at most. Visitor messages are capped below it (2,000 by
# default), so it only bounds the cost of other callers' text: every rule is linear, but a 100,000-character text
# would still cost a few hundred milliseconds (benchmarks/extract_adversarial.py).
MAX_CHARS = 4000

# The flat fields, in lead-card order; ``as_fields`` and the evaluation use these names.
FIELDS = ("phone", "wechat", "name", "child_name", "age", "grade", "subject", "province", "city", "district",
          "address")


@dataclass(frozen=True)
class Extraction:
    """What one message says about the visitor; ``None`` (or empty) when the message does not say it."""

    phone: str | None = None  # 11-digit mobile, or landline "0571-88881234"
    phone_e164: str | None = None  # "+8613800138000", for dialling and de-duplication
    wechat: str | None = None  # WeChat ID, or the 11-digit mobile given as the WeChat ID
    name: str | None = None  # the visitor as written: "李小明", "王" (我姓王), "王妈妈", "李老师"
    child_name: str | None = None  # "孩子叫刘一一" → "刘一一"
    age: int | None = None  # whole years as stated
    grade: str | None = None  # 小班…大班, 一年级…六年级, 初一…初三, 高一…高三
    subject: str | None = None  # the first subject mentioned
    subjects: tuple[str, ...] = ()  # every subject mentioned, in order
    province: str | None = None  # official names: "浙江省"
    city: str | None = None  # "杭州市"; municipalities: "北京市"
    district: str | None = None  # "西湖区"
    address: str | None = None  # the location phrase as written: "杭州西湖区文三路"
    phones: tuple[str, ...] = ()  # every phone number, in order (``phone`` is the first)
    other_names: tuple[str, ...] = ()  # further people the NER model found (e.g. a teacher the visitor mentions)
    spans: tuple[Span, ...] = field(default=(), repr=False)

    def span(self, name: str) -> Span | None:
        """The evidence for field ``name``, or ``None``."""
        return next((s for s in self.spans if s.field == name), None)

    def as_fields(self) -> dict[str, str | int]:
        """The non-empty flat fields (``FIELDS``), e.g. ``{"phone": "13800138000", "grade": "三年级"}``."""
        values = {name: getattr(self, name) for name in FIELDS}
        return {name: value for name, value in values.items() if value is not None}

    @property
    def person_names(self) -> tuple[str, ...]:
        """Every person named in the message: visitor, child, then others."""
        names = [n for n in (self.name, self.child_name) if n]
        return tuple(dict.fromkeys([*names, *self.other_names]))


def extract(text: str, *, use_model: bool = True, lexicon: Lexicon | None = None) -> Extraction:
    """Extract every field from one visitor message (its first ``MAX_CHARS`` characters); ``use_model=False`` skips
    the NER backup (rules only); ``lexicon`` adds the org's catalogue terms to the subject synonyms."""
    text = text[:MAX_CHARS]
    if not text or not text.strip():
        return Extraction()
    folded = fold(text)
    spans: list[Span] = []
    phones = find_phones(folded)
    for p in phones[:1]:
        spans.append(Span("phone", p.value, p.start, p.end))
    wechat = find_wechat(folded, [(p.value, p.start, p.end) for p in phones if p.mobile])
    if wechat:
        spans.append(Span("wechat", wechat.value, wechat.start, wechat.end))
    subjects = find_subjects(folded, lexicon)
    taken = [(s.start, s.end) for s in subjects]
    if wechat and wechat.cue:
        taken.append(wechat.cue)
    names = find_names(folded, use_model=use_model, taken=taken, contact_given=bool(phones or wechat))
    if names.name and names.name_span:
        spans.append(Span("name", names.name, *names.name_span, source="ner" if names.from_model else "rule"))
    if names.child_name and names.child_span:
        spans.append(Span("child_name", names.child_name, *names.child_span))
    for other, start, end in names.others:
        spans.append(Span("other_name", other, start, end, source="ner"))
    age = find_age(folded)
    if age:
        spans.append(Span("age", age.value, age.start, age.end))
    grade = find_grade(folded)
    if grade:
        spans.append(Span("grade", grade.value, grade.start, grade.end))
    spans.extend(Span("subject", s.value, s.start, s.end) for s in subjects)
    place = find_place(folded)
    if place:
        spans.extend(Span(f, v, start, end) for f, v, start, end in place.spans)
    return Extraction(
        phone=phones[0].value if phones else None,
        phone_e164=phones[0].e164 if phones else None,
        wechat=wechat.value if wechat else None,
        name=names.name,
        child_name=names.child_name,
        age=age.value if age else None,
        grade=grade.value if grade else None,
        subject=subjects[0].value if subjects else None,
        subjects=tuple(s.value for s in subjects),
        province=place.province if place else None,
        city=place.city if place else None,
        district=place.district if place else None,
        address=place.address if place else None,
        phones=tuple(dict.fromkeys(p.value for p in phones)),
        other_names=tuple(n for n, _, _ in names.others),
        spans=tuple(spans),
    )
