"""Several questions in one message, against the demo knowledge base with the real matcher (``bot.multi``): each
part answered confidently gets its answer in one reply, near misses get "您是不是想问", the rest one line, and a
single question written with a comma is still answered as one. Plan details use a stub matcher."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from edudesk.bot import multi
from edudesk.bot.engine import BotDecision, BotTurn, Button
from edudesk.bot.faq import COMPLAINT_TEXT, SUGGEST_INTRO, AnswerCard, FaqBot
from edudesk.bot.rules import DEFAULT_HANDOFF_KEYWORDS, Rule
from edudesk.bot.sensitive import SensitiveFilter
from edudesk.bot.splitter import MAX_CHARS
from edudesk.channels import choices
from edudesk.demo.kb import DEMO_KB
from edudesk.nlp.documents import FaqDocument
from edudesk.nlp.embedding import shared_embedder
from edudesk.nlp.matcher import FaqIndex, MatcherConfig

ID = {question: i for i, (_, question, _, _) in enumerate(DEMO_KB, 1)}
CAMPUS, PARKING = ID["你们的校区在哪里？"], ID["有停车位吗？"]
PRICE, DISCOUNT, TRIAL = ID["各个课程的学费是多少？"], ID["有没有优惠活动？"], ID["可以免费试听吗？"]
REFUND, TEACHERS = ID["报名后可以退费吗？"], ID["老师的资质怎么样？"]
CLASS_SIZE, INVOICE = ID["一个班有多少学生？"], ID["可以开发票吗？"]
# The demo has no related questions or buttons; two entries get some here, to see them on a reply of several.
EXTRA: dict[int, dict[str, tuple[str, ...]]] = {
    CAMPUS: {"related": ("有停车位吗？", "可以转班或者换老师吗？"), "images": ("/static/map.png",)},
    PARKING: {"related": ("你们的校区在哪里？", "孩子上课安全吗？")},
}


def _card(i: int, category: str, question: str, answer: str) -> AnswerCard:
    extra = EXTRA.get(i, {})
    return AnswerCard(i, question, answer, category, images=extra.get("images", ()), related=extra.get("related", ()))


CARDS = {i: _card(i, c, q, a) for i, (c, q, _, a) in enumerate(DEMO_KB, 1)}


@pytest.fixture(scope="module")
def demo() -> FaqBot:
    documents = [FaqDocument(i, q, s, c) for i, (c, q, s, _) in enumerate(DEMO_KB, 1)]
    index = FaqIndex.build(documents, shared_embedder(), MatcherConfig())
    return FaqBot(matcher=index, cards=CARDS, rules=(Rule(("暑假",), "暑假班 7 月 6 日开课，名额有限～"),),
                  handoff_keywords=DEFAULT_HANDOFF_KEYWORDS, fallback_text="抱歉，这个问题我还没学会。")


def ask(bot: FaqBot, text: str) -> BotDecision:
    return bot.respond(BotTurn(org_id=1, conversation_id=1, text=text))


def answered(decision: BotDecision) -> list[int]:
    return [decision.entry_id, *(e for e, _ in decision.more_answers)] if decision.entry_id is not None else []


@pytest.mark.parametrize(("message", "entries"), [
    ("校区在哪里，停车方便吗", [CAMPUS, PARKING]),
    ("校区在哪里停车方便吗", [CAMPUS, PARKING]),  # run-on, no punctuation
    ("学费多少，有没有优惠", [PRICE, DISCOUNT]),
    ("学费多少钱还有能试听吗", [PRICE, TRIAL]),
    ("学费多少😊停车方便吗", [PRICE, PARKING]),
    ("您好，请问一下，校区在哪里，停车方便吗？谢谢", [CAMPUS, PARKING]),
    ("老师怎么样 班级多少人 可以开发票吗", [TEACHERS, CLASS_SIZE, INVOICE]),
])
def test_each_question_is_answered_in_one_reply(demo: FaqBot, message: str, entries: list[int]) -> None:
    decision = ask(demo, message)
    assert answered(decision) == entries
    assert decision.understood and not decision.handoff and decision.miss_reason is None and not decision.part_misses
    (reply,) = decision.replies
    for entry in entries:  # each answer under its standard question, in the visitor's order
        assert f"【{CARDS[entry].question}】\n{CARDS[entry].answer}" in reply.text
    positions = [reply.text.index(CARDS[e].question) for e in entries]
    assert positions == sorted(positions)
    assert reply.extra["kind"] == "answer" and reply.extra["feedback"] is True
    assert reply.extra["kb_entry_id"] == entries[0]
    assert [a["kb_entry_id"] for a in reply.extra["answers"]] == entries
    assert decision.category == CARDS[entries[0]].category
    assert [c for _, c in decision.more_answers] == [CARDS[e].category for e in entries[1:]]


def test_related_questions_and_images_of_every_answer(demo: FaqBot) -> None:
    (reply,) = ask(demo, "校区在哪里，停车方便吗").replies
    # Each answered entry's related questions, without the ones answered right here.
    assert [b.label for b in reply.buttons] == ["可以转班或者换老师吗？", "孩子上课安全吗？"]
    assert reply.extra["images"] == ["/static/map.png"]
    assert reply.extra["answers"] == [{"kb_entry_id": CAMPUS, "asked": "校区在哪里"},
                                      {"kb_entry_id": PARKING, "asked": "停车方便吗"}]


@pytest.mark.parametrize("message", [
    "报名后可以退费吗，上了几节课还能退吗",  # two parts, one entry
    "可以退费吗？能退钱吗",
    "我家孩子三年级，数学跟不上，有没有适合的班",  # one question with commas
    "在哪里上课，具体地址是什么",
    "有网课吗，线上怎么上",
    "你好，请问学费多少",
])
def test_a_single_question_is_answered_as_one(demo: FaqBot, message: str) -> None:
    decision = ask(demo, message)
    assert len(answered(decision)) == 1 and not decision.part_misses
    (reply,) = decision.replies
    assert not reply.text.startswith("【") and "answers" not in reply.extra
    assert reply.text == CARDS[answered(decision)[0]].answer


def test_the_same_entry_twice_is_answered_once(demo: FaqBot) -> None:
    decision = ask(demo, "可以退费吗？能退钱吗？学费多少")
    assert answered(decision) == [REFUND, PRICE]
    assert decision.replies[0].text.count(CARDS[REFUND].answer) == 1


def test_a_part_nothing_matches_gets_one_line_and_is_a_miss(demo: FaqBot) -> None:
    decision = ask(demo, "你们食堂伙食怎么样，学费多少")
    assert answered(decision) == [PRICE] and decision.understood and decision.miss_reason is None
    assert decision.part_misses == (("你们食堂伙食怎么样", "unanswered"),)
    (reply,) = decision.replies
    assert reply.text == (f"【{CARDS[PRICE].question}】\n{CARDS[PRICE].answer}\n\n"
                          "“你们食堂伙食怎么样”我暂时答不上来，可以点“转人工”问问老师～")
    assert reply.buttons == (Button("转人工", "转人工"),)


def test_a_near_miss_part_gets_did_you_mean_for_itself_only(demo: FaqBot) -> None:
    decision = ask(demo, "校区在哪里，停车方便吗？那英语呢")
    assert answered(decision) == [CAMPUS, PARKING]
    assert decision.part_misses == (("那英语呢", "suggested"),)
    (reply,) = decision.replies
    assert reply.text.endswith("\n\n关于“那英语呢”，您是不是想问：")
    labels = [b.label for b in reply.buttons]
    human = labels.index("转人工")  # after the suggestions, before the answers' related questions
    assert 1 <= human <= 3 and "几岁可以开始学英语？" in labels[:human]
    assert set(labels[human + 1:]) <= {"可以转班或者换老师吗？", "孩子上课安全吗？"}
    assert not {CARDS[CAMPUS].question, CARDS[PARKING].question} & set(labels)  # answered above: not suggested
    assert len(labels) <= multi.MAX_BUTTONS


def test_at_most_three_answers_and_a_line_for_the_rest(demo: FaqBot) -> None:
    decision = ask(demo, "学费多少？停车方便吗？老师怎么样？班级多少人？能开发票吗？")
    assert answered(decision) == [PRICE, PARKING, TEACHERS]
    (reply,) = decision.replies
    assert reply.text.endswith(multi.MORE_TEXT) and reply.text.count("【") == 3
    assert not decision.part_misses  # not looked at is not a miss of the knowledge base


def test_a_long_message_is_one_question(demo: FaqBot) -> None:
    essay = "老师您好，" + "我家孩子今年上三年级了，数学一直跟不上，" * 12 + "学费多少？停车方便吗？"
    assert len(essay) > MAX_CHARS
    decision = ask(demo, essay)
    assert len(answered(decision)) <= 1 and "【" not in "".join(r.text for r in decision.replies)


def test_a_keyword_rule_answers_its_part(demo: FaqBot) -> None:
    decision = ask(demo, "校区在哪里？暑假什么时候开课")
    (reply,) = decision.replies
    assert answered(decision) == [CAMPUS]
    assert reply.text.endswith("【暑假什么时候开课】\n暑假班 7 月 6 日开课，名额有限～")
    assert reply.extra["kb_entry_id"] == CAMPUS


@pytest.mark.parametrize(("message", "reason"), [("学费多少，转人工", "visitor_request"),
                                                 ("学费多少？停车呢？我要投诉", "complaint")])
def test_a_human_or_a_complaint_anywhere_wins(demo: FaqBot, message: str, reason: str) -> None:
    decision = ask(demo, message)
    assert decision.handoff and decision.handoff_reason == reason and decision.entry_id is None
    assert [r.text for r in decision.replies] == ([COMPLAINT_TEXT] if reason == "complaint" else [])


def test_without_any_confident_part_the_whole_message_gets_did_you_mean() -> None:
    bot, matcher = stub({"甲吗": ("suggest", (1, 2)), "乙吗": ("fallback", ()), "甲吗？乙吗？": ("suggest", (3, 1))})
    decision = ask(bot, "甲吗？乙吗？")
    assert decision.miss_reason == "suggested" and not decision.part_misses  # logged once, as the whole message
    assert decision.replies[0].text == SUGGEST_INTRO
    assert [b.payload for b in decision.replies[0].buttons] == ["q3", "q1", "转人工"]
    assert matcher.queries == ["甲吗", "乙吗", "甲吗？乙吗？"]


def test_the_reply_is_filtered_like_every_bot_text() -> None:
    cards = {1: AnswerCard(1, "学费多少？", "每期 3600 元。"), 2: AnswerCard(2, "停车呢？", "这个傻逼停车场免费。")}
    matcher = DictMatcher({"学费多少": ("answer", (1,)), "停车呢": ("answer", (2,))})
    bot = FaqBot(matcher=matcher, cards=cards, rules=(), handoff_keywords=(), fallback_text="?",
                 sensitive=SensitiveFilter())
    reply = ask(bot, "学费多少？停车呢").replies[0]
    assert "傻逼" not in reply.text and "这个**停车场免费。" in reply.text


# --- the plan, with a matcher that answers from a table -----------------------------------------------------------

@dataclass
class Cand:
    entry_id: int
    question: str
    score: float = 0.9
    lexical: float = 0.5
    semantic: float = 0.5


@dataclass
class Result:
    band: str
    candidates: list[Cand] = field(default_factory=list)


class DictMatcher:
    def __init__(self, table: dict[str, tuple[str, tuple[int, ...]]]) -> None:
        self.table = table
        self.queries: list[str] = []

    def match(self, query: str, k: int = 3) -> Result:
        self.queries.append(query)
        band, ids = self.table.get(query, ("fallback", ()))
        return Result(band, [Cand(i, f"q{i}") for i in ids][:k])

    def suggest_for(self, context: str, k: int = 3) -> list[Cand]:
        return []


STUB_CARDS = {i: AnswerCard(i, f"q{i}", f"a{i}", f"c{i}", buttons=(Button(f"b{i}", f"b{i}"),),
                            related=(f"r{i}a", f"r{i}b", f"r{i}c")) for i in range(1, 8)}


def stub(table: dict[str, tuple[str, tuple[int, ...]]]) -> tuple[FaqBot, DictMatcher]:
    matcher = DictMatcher(table)
    return FaqBot(matcher=matcher, cards=STUB_CARDS, rules=(), handoff_keywords=(), fallback_text="?"), matcher


def test_a_run_on_cut_stands_only_when_both_sides_are_answered_differently() -> None:
    bot, _ = stub({"在哪里": ("answer", (1,)), "报名能停车吗": ("fallback", ()),
                   "在哪里报名能停车吗": ("answer", (2,))})
    assert answered(ask(bot, "在哪里报名能停车吗")) == [2]  # rejoined and matched whole
    bot, _ = stub({"校区在哪里": ("answer", (1,)), "停车方便吗": ("answer", (2,))})
    assert answered(ask(bot, "校区在哪里停车方便吗")) == [1, 2]
    bot, _ = stub({"校区在哪里": ("answer", (1,)), "停车方便吗": ("answer", (1,)),
                   "校区在哪里停车方便吗": ("answer", (1,))})
    assert answered(ask(bot, "校区在哪里停车方便吗")) == [1]


def test_one_answer_and_a_confident_whole_message_is_a_single_question() -> None:
    table = {"老师怎么样": ("answer", (1,)), "有没有经验丰富的": ("suggest", (4, 5)),
             "老师怎么样，有没有经验丰富的": ("answer", (1,))}
    bot, matcher = stub(table)
    decision = ask(bot, "老师怎么样，有没有经验丰富的")
    assert answered(decision) == [1] and decision.replies[0].text == "a1" and not decision.part_misses
    assert matcher.queries.count("老师怎么样，有没有经验丰富的") == 1  # the whole message is matched once
    table["老师怎么样，有没有经验丰富的"] = ("suggest", (1, 4))
    decision = ask(stub(table)[0], "老师怎么样，有没有经验丰富的")
    assert answered(decision) == [1] and decision.part_misses == (("有没有经验丰富的", "suggested"),)


def test_buttons_suggestions_first_then_a_human_then_each_answers_own_and_related() -> None:
    bot, _ = stub({"甲吗": ("answer", (1,)), "乙吗": ("answer", (2,)), "丙吗": ("suggest", (3, 1, 4))})
    (reply,) = ask(bot, "甲吗？乙吗？丙吗？").replies
    assert [b.payload for b in reply.buttons] == ["q3", "q4", "转人工", "b1", "r1a", "r1b"]
    assert reply.text.endswith("关于“丙吗”，您是不是想问：")


def test_near_misses_closest_to_an_answer_above_are_the_same_question() -> None:
    bot, _ = stub({"甲吗": ("answer", (1,)), "乙吗": ("answer", (2,)), "丙吗": ("suggest", (2, 3))})
    decision = ask(bot, "甲吗？乙吗？丙吗？")
    assert answered(decision) == [1, 2] and not decision.part_misses and "您是不是想问" not in decision.replies[0].text


def test_rule_answers_alone_are_not_votable() -> None:
    bot = FaqBot(matcher=None, cards={}, rules=(Rule(("暑假",), "暑假班见课表"), Rule(("发票",), "可以开发票")),
                 handoff_keywords=(), fallback_text="?")
    decision = ask(bot, "暑假什么时候开课？能开发票吗？")
    (reply,) = decision.replies
    assert reply.extra == {"kind": "rule"} and decision.entry_id is None and decision.matched == "暑假"
    assert reply.text == "【暑假什么时候开课】\n暑假班见课表\n\n【能开发票吗】\n可以开发票"


def test_a_clicked_standard_question_of_two_clauses_is_not_split() -> None:
    cards = {**STUB_CARDS, 9: AnswerCard(9, "学费多少，能分期吗？", "a9")}
    matcher = DictMatcher({"学费多少": ("answer", (1,)), "能分期吗": ("answer", (2,))})
    bot = FaqBot(matcher=matcher, cards=cards, rules=(), handoff_keywords=(), fallback_text="?")
    assert answered(ask(bot, "学费多少，能分期吗？")) == [9] and matcher.queries == []
    assert answered(ask(bot, "学费多少，能分期吗，停车呢")) == [1, 2]


def test_on_text_channels_the_choices_are_the_only_numbers() -> None:
    bot, _ = stub({"甲吗": ("answer", (1,)), "乙吗": ("answer", (2,)), "丙吗": ("fallback", ())})
    (reply,) = ask(bot, "甲吗？乙吗？丙吗？").replies
    shown = choices.render(reply.text, [b.as_dict() for b in reply.buttons])
    assert shown.startswith("【q1】\na1\n\n【q2】\na2\n\n“丙吗”我暂时答不上来")
    assert shown.splitlines()[-len(reply.buttons) - 1:] == [
        choices.PROMPT, "1. 转人工", "2. b1", "3. r1a", "4. r1b", "5. r1c", "6. b2"]
    assert choices.pick("1", [b.as_dict() for b in reply.buttons]) == {"label": "转人工", "payload": "转人工"}


def test_long_answers_after_the_first_are_offered_as_buttons() -> None:
    long = "很长的回答。" * 60  # 360 characters: two do not fit in one reply
    cards = {i: AnswerCard(i, f"q{i}", f"{i}{long}", f"c{i}", related=(f"r{i}",)) for i in (1, 2, 3)}
    matcher = DictMatcher({"甲吗": ("answer", (1,)), "乙吗": ("answer", (2,)), "丙吗": ("fallback", ())})
    bot = FaqBot(matcher=matcher, cards=cards, rules=(), handoff_keywords=(), fallback_text="?")
    decision = ask(bot, "甲吗？乙吗？丙吗？")
    (reply,) = decision.replies
    assert answered(decision) == [1]  # the second answer is not counted as given: it is a button to click
    assert reply.text.startswith(f"【q1】\n1{long}") and f"2{long}" not in reply.text
    assert "“q2”的回答比较长，点下面的问题就能看到～" in reply.text
    assert [b.payload for b in reply.buttons] == ["q2", "转人工", "r1"]
    assert [a["kb_entry_id"] for a in reply.extra["answers"]] == [1]
    assert decision.part_misses == (("丙吗", "unanswered"),)
    assert len(reply.text.encode()) < 2048
    # A first answer is given whole, however long (as it would be alone).
    alone = ask(bot, "甲吗？丙吗？").replies[0].text
    assert alone.startswith(f"【q1】\n1{long}")


def test_small_talk_parts_are_neither_answered_nor_missed() -> None:
    bot, matcher = stub({"学费多少": ("answer", (1,)), "停车呢": ("answer", (2,))})
    decision = ask(bot, "学费多少？停车呢？谢谢")
    assert answered(decision) == [1, 2] and not decision.part_misses and "谢谢" not in matcher.queries
