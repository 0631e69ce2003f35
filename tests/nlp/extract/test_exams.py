"""Exam preparation under canonical exam names, the everyday words that hide a short form, and an org's own
catalogue as a lexicon (docs/decisions.md, "Exam subjects")."""

from __future__ import annotations

import pytest

from edudesk.nlp.extract import extract, lexicon


@pytest.mark.parametrize(("text", "subject"), [
    ("一建今年还来得及吗", "一级建造师"), ("二建市政", "二级建造师"), ("建造师有周末班吗", "建造师"),
    ("一级建造师", "一级建造师"),
    ("教资面试", "教师资格证"), ("想考个教师资格证", "教师资格证"), ("教招笔试", "教师招聘"),
    ("初级会计报名", "初级会计"), ("初会", "初级会计"), ("中级会计师", "中级会计"),
    ("CPA六科", "注册会计师"), ("cpa税法", "注册会计师"), ("注会审计", "注册会计师"),
    ("考研英语一", "考研"), ("考研数学", "考研"), ("MBA提前面试", "考研"),
    ("国考", "公务员"), ("今年省考", "公务员"), ("考公", "公务员"), ("行测资料分析", "公务员"), ("申论", "公务员"),
    ("事业编", "事业单位"), ("事业单位面试", "事业单位"),
    ("法考主观题", "法律职业资格"), ("司法考试", "法律职业资格"),
    ("雅思6.5", "雅思"), ("IELTS", "雅思"), ("托福口语", "托福"), ("TOEFL", "托福"),
    ("一级消防工程师", "消防工程师"), ("二级消防", "消防工程师"),
    ("人力资源管理师三级", "人力资源管理师"), ("人力资源的证", "人力资源管理师"),
    ("计算机二级office", "计算机二级"), ("专升本英语", "专升本"), ("成考高起专", "成人高考"),
    ("成人高考", "成人高考"), ("自考本科", "自学考试"),
])
def test_exam(text: str, subject: str) -> None:
    assert extract(text).subject == subject


def test_exam_and_school_subject_keep_their_order() -> None:
    assert extract("考研数学一和数学二").subjects == ("考研", "数学")
    assert extract("一建二建能同时报吗").subjects == ("一级建造师", "二级建造师")


@pytest.mark.parametrize("text", [
    "统一建设的教学楼", "唯一建议就是早点报名", "第一建筑公司", "完成考试以后拿证", "个人资料怎么改", "关注会员有优惠",
    "备注会议时间", "英语四六级", "我想学会计", "计算机好难", "cpanel 登录不了",
])
def test_not_an_exam(text: str) -> None:
    assert extract(text).subject not in {"一级建造师", "二级建造师", "成人高考", "人力资源管理师", "注册会计师",
                                         "初级会计", "中级会计", "计算机二级"}


@pytest.mark.parametrize(("text", "subject"), [("明天早会谁主持", None), ("小米的扫地机器人好用吗", None),
                                              ("少儿主持", "口才"), ("乐高机器人", "机器人")])
def test_everyday_uses_of_school_subjects(text: str, subject: str | None) -> None:
    assert extract(text).subject == subject


def test_an_orgs_catalogue_adds_its_terms() -> None:
    lex = lexicon([("茶艺入门班", "茶艺"), ("尤克里里弹唱课", ""), ("少儿英语精品班", "少儿英语"), ("班", "")])
    assert extract("茶艺有周末班吗", lexicon=lex).subject == "茶艺"
    assert extract("茶艺入门班还有名额吗", lexicon=lex).subject == "茶艺"
    assert extract("尤克里里弹唱", lexicon=lex).subject == "尤克里里弹唱课"
    # A term the built-in lexicon knows keeps the built-in label; generic words add nothing.
    assert extract("少儿英语", lexicon=lex).subject == "英语"
    assert extract("这个班怎么样", lexicon=lex).subject is None
    assert extract("茶艺有周末班吗").subject is None  # without the org's lexicon


def test_a_catalogue_lexicon_is_compiled_once_per_catalogue() -> None:
    courses = [("茶艺入门班", "茶艺")]
    assert lexicon(courses) is lexicon(list(courses))
    assert lexicon(courses) is not lexicon([("花艺", "花艺")])


def test_hostile_catalogue_terms_are_literal() -> None:
    lex = lexicon([("(.*)+", "坏"), ("a|b", "坏"), ("x" * 500, "长")])
    assert extract("abc 想学钢琴", lexicon=lex).subjects == ("钢琴",)


def test_catalogue_terms_longest_first_and_latin_words_whole() -> None:
    lex = lexicon([("钢琴陪练", ""), ("Art", "美学"), ("茶艺", "茶艺"), ("茶艺师考证班", "茶艺师")])
    assert extract("钢琴陪练一节多少钱", lexicon=lex).subject == "钢琴陪练"  # longer than the built-in 钢琴
    assert extract("想学ART和钢琴", lexicon=lex).subjects == ("美学", "钢琴")
    assert extract("birthday party", lexicon=lex).subjects == ()
    assert extract("茶艺师考证班在哪上", lexicon=lex).subject == "茶艺师"
    assert extract("先学茶艺再说", lexicon=lex).subject == "茶艺"


def test_a_large_catalogue_finds_each_course() -> None:
    lex = lexicon([(f"课程{i}号精品班", f"科目{i}") for i in range(500)])
    assert extract("课程123号精品班还有名额吗", lexicon=lex).subject == "科目123"
    assert extract("课程7号还有吗", lexicon=lex).subject == "科目7"  # the name without its generic tail (精品班)
