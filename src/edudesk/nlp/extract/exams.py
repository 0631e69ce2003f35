"""Vocational and adult exam preparation: the exam a visitor prepares for, under its canonical name.

Adults preparing for a certificate write the exam the way everyone around them says it: ``一建`` for 一级建造师,
``教资`` for 教师资格证, ``注会``/``CPA`` for 注册会计师, ``国考``/``省考``/``行测`` for 公务员, ``法考``/``司考`` for
法律职业资格. The label is the exam's canonical name (docs/decisions.md, "Exam subjects"), so an institution can group
its leads by what they prepare for. A level is kept when the visitor gives it (一级建造师 / 二级建造师 are different
courses); a bare ``建造师`` stays 建造师.

Short forms collide with everyday words (``统一建设`` holds 一建, ``个人资料`` holds 人资, ``完成考试`` holds 成考,
``关注会员`` holds 注会), so each risky synonym carries the characters that, just before or just after it, mean it is
part of another word (``EXCLUDE_BEFORE`` / ``EXCLUDE_AFTER``).
"""

from __future__ import annotations

__all__ = ["EXAMS", "EXCLUDE_AFTER", "EXCLUDE_BEFORE"]

EXAMS: dict[str, tuple[str, ...]] = {
    "一级建造师": ("一建", "一级建造师", "一级建造", "一级建筑师"),
    "二级建造师": ("二建", "二级建造师", "二级建造"),
    "建造师": ("建造师",),
    "教师资格证": ("教资", "教师资格证", "教师资格", "教师证", "教资证"),
    "教师招聘": ("教师招聘", "教招", "特岗教师"),
    "初级会计": ("初级会计", "初级会计师", "初会", "会计初级"),
    "中级会计": ("中级会计", "中级会计师", "会计中级"),
    "注册会计师": ("注册会计师", "注会", "cpa"),
    "考研": ("考研", "研究生考试", "研究生入学考试", "mba", "mpa", "mpacc"),
    "公务员": ("公务员", "国考", "省考", "考公", "公考", "行测", "申论", "选调生"),
    "事业单位": ("事业单位", "事业编", "职测"),
    "法律职业资格": ("法考", "司考", "司法考试", "法律职业资格"),
    "雅思": ("雅思", "ielts"),
    "托福": ("托福", "toefl"),
    "消防工程师": ("消防工程师", "一级消防", "二级消防", "注册消防"),
    "人力资源管理师": ("人力资源管理师", "人力资源", "人资", "hr证"),
    "计算机二级": ("计算机二级", "计算机等级考试", "二级office", "二级ms office"),
    "专升本": ("专升本", "专插本", "专转本"),
    "成人高考": ("成人高考", "成考", "高起专", "高起本"),
    "自学考试": ("自考", "自学考试"),
    "造价工程师": ("造价工程师", "一级造价", "二级造价"),
    "监理工程师": ("监理工程师",),
    "执业药师": ("执业药师",),
    "护士资格证": ("护士资格", "护资"),
    "心理咨询师": ("心理咨询师",),
    "经济师": ("经济师", "中级经济师", "初级经济师"),
    "税务师": ("税务师",),
    "证券从业": ("证券从业",),
    "基金从业": ("基金从业",),
    "银行从业": ("银行从业",),
    "普通话": ("普通话考试", "普通话等级", "普通话测试"),
}

# Characters just before a synonym that make it part of another word.
EXCLUDE_BEFORE: dict[str, tuple[str, ...]] = {
    "一建": ("统", "唯", "第", "单", "逐", "每", "进"),
    "二建": ("第",),
    "人资": ("个", "投", "融", "工"),
    "成考": ("完", "达", "变", "促", "形", "组", "构", "养", "换", "当"),
    "注会": ("关", "备", "标", "批"),
    "初会": ("最",),
    "考公": ("参",),
    "省考": ("反", "自"),
    "教资": ("助",),
    "司考": ("公",),
    "自考": ("独", "各", "亲"),
    "公考": ("办",),
}
# Characters just after a synonym that make it part of another word.
EXCLUDE_AFTER: dict[str, tuple[str, ...]] = {
    "成考": ("试", "核", "察", "虑", "验", "题", "量"),
    "考公": ("园", "司", "交", "开", "平", "正"),
    "公考": ("察", "核"),
    "自考": ("虑", "核", "察"),
    "初会": ("面", "晤"),
    "教资": ("助", "金"),
}
