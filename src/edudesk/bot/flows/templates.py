"""Starter bot scripts: a K12 tutoring school's trial-class invitation, a vocational exam-prep school's lead
capture and an off-hours script, written the way a good 课程顾问 talks to a parent or an adult learner. The flow
editor offers them as templates and the demo institution (``edudesk.demo``) runs them, so they live with the
flows, not with the demo: a product page must not depend on demo data.

They are plain dicts in the stored JSON format (what an admin would import), validated by :func:`demo_flows` so
a broken demo fails at start-up and in the tests rather than in front of a visitor. Time words are variables
(``{next_open}``, ``{reply_time}``: ``bot.flows.variables``), filled from the org's business hours when said, so
no text promises "明天一早" at 07:25 on a day the office opens at 08:00. The exam-prep flow asks for the
learner's education (学历), which is not a built-in lead-card field: ``DEMO_CUSTOM_FIELDS`` lists the card field
the demo org must define for it.
"""

from __future__ import annotations

from typing import Any

from edudesk.bot.flows.spec import BUILTIN_FIELD_TYPES, Flow, load_flow

__all__ = ["DEMO_CUSTOM_FIELDS", "DEMO_FIELD_KEYS", "EXAM_PREP_FLOW", "K12_FLOW", "OFF_HOURS_FLOW", "PHONE_CALL_FLOW",
           "demo_flows"]

EDUCATION_LEVELS = ["高中/中专", "大专", "本科", "硕士及以上"]
# (key, label, type, options) of the org's own lead-card fields the demo flows ask for.
DEMO_CUSTOM_FIELDS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("education", "学历", "single", tuple(EDUCATION_LEVELS)),
)
DEMO_FIELD_KEYS = (*BUILTIN_FIELD_TYPES, *(key for key, _, _, _ in DEMO_CUSTOM_FIELDS))

PRIMARY_GRADES = ["小班", "中班", "大班", "一年级", "二年级", "三年级", "四年级", "五年级", "六年级"]
SECONDARY_GRADES = ["初一", "初二", "初三", "高一", "高二", "高三"]

K12_FLOW: dict[str, Any] = {
    "schema_version": 1,
    "key": "k12_trial",
    "name": "K12 免费试听邀约",
    "version": 1,
    "description": "了解孩子年级和科目，留下称呼和手机号，邀约免费试听课。",
    "triggers": [
        {"kind": "keywords", "keywords": ["试听", "报名", "价格", "多少钱", "学费", "收费", "体验课"]},
        {"kind": "turns_without_contact", "turns": 3},
    ],
    "steps": [
        {"kind": "say", "id": "hello",
         "text": "您好，我是课程顾问小安～为了给孩子推荐合适的课程和老师，想先简单了解几个情况，一分钟就好。"},
        {"kind": "ask_field", "id": "grade", "field": "grade", "prompt": "请问孩子现在读几年级呀？",
         "reprompt": "麻烦告诉我孩子的年级，比如“三年级”“初二”就可以～"},
        {"kind": "branch", "id": "stage", "field": "grade",
         "cases": [{"in": SECONDARY_GRADES, "goto": "subject_secondary"}]},
        {"kind": "ask_buttons", "id": "subject_primary", "field": "subject", "skip_if_known": True,
         "question": "想先给孩子了解哪门课程呢？", "next": "name",
         "options": [{"label": "数学思维", "value": "数学"}, {"label": "英语", "value": "英语"},
                     {"label": "语文阅读写作", "value": "语文"}, {"label": "科学实验", "value": "科学"}]},
        {"kind": "ask_buttons", "id": "subject_secondary", "field": "subject", "skip_if_known": True,
         "question": "孩子目前最想提升哪一科呢？",
         "options": [{"label": "数学"}, {"label": "英语"}, {"label": "语文"}, {"label": "物理"}, {"label": "化学"}]},
        {"kind": "ask_field", "id": "name", "field": "name",
         "prompt": "好的～怎么称呼您呢？比如“王妈妈”“李先生”。",
         "reprompt": "怎么称呼您比较方便呢？告诉我您的姓就可以～", "max_retries": 1},
        {"kind": "ask_field", "id": "phone", "field": "phone", "alternatives": ["wechat"],
         "prompt": "方便留一个手机号吗？课程老师会根据孩子的情况做一份学习规划，并帮您安排免费试听课～",
         "reprompt": "这个号码好像不太对，麻烦再核对一下 11 位手机号～也可以直接留微信号。",
         "on_fail": "end",
         "on_fail_text": "没关系～您可以继续在这里问我课程和价格的问题，想预约试听时随时告诉我。"},
        {"kind": "offer_trial", "id": "trial", "booked": "thanks_booked", "declined": "thanks_later",
         "text": "感谢您的信任！我们每周末都有免费试听课，孩子可以先来体验一下老师的上课风格。"
                 "近期可以预约的时间如下："},
        {"kind": "end", "id": "thanks_booked",
         "text": "预约成功！课程老师{reply_time}会和您电话确认，上课前一天还会短信提醒您。期待和孩子见面～"},
        {"kind": "end", "id": "thanks_later",
         "text": "没关系～课程老师{reply_time}会联系您，先送上一份孩子这个年级的学习规划。有任何问题随时找我哦！"},
    ],
}

EXAM_PREP_FLOW: dict[str, Any] = {
    "schema_version": 1,
    "key": "exam_prep",
    "name": "职业考试报考咨询",
    "version": 1,
    "description": "了解报考科目和学历，留下手机号或微信，送免费试听课或备考资料包。",
    "triggers": [
        {"kind": "keywords", "keywords": ["报考", "备考", "一建", "二建", "建造师", "教资", "教师资格证", "会计",
                                          "公务员", "考公", "资料包"]},
        {"kind": "off_hours"},
    ],
    "steps": [
        {"kind": "ask_buttons", "id": "exam", "field": "subject", "next": "education",
         "question": "您好，欢迎咨询～请问您准备报考哪个考试呢？",
         "options": [{"label": "一级建造师", "value": "一建"}, {"label": "二级建造师", "value": "二建"},
                     {"label": "教师资格证", "value": "教资"},
                     {"label": "会计职称", "value": "会计", "goto": "accounting_level"},
                     {"label": "公务员", "value": "公务员"}]},
        {"kind": "ask_buttons", "id": "accounting_level", "field": "subject",
         "question": "会计考试分好几种，您打算考哪一个呢？",
         "options": [{"label": "初级会计"}, {"label": "中级会计"}, {"label": "注册会计师CPA", "value": "注会"}]},
        {"kind": "ask_field", "id": "education", "field": "education", "type": "single",
         "options": EDUCATION_LEVELS,
         "prompt": "您目前的最高学历是？不同考试对学历和专业有要求，老师可以先帮您核对报考条件～"},
        {"kind": "ask_field", "id": "contact", "field": "phone", "alternatives": ["wechat"],
         "prompt": "方便留一个手机号或微信吗？老师会把今年的报考条件、考试时间和备考规划发给您～",
         "reprompt": "麻烦留一个 11 位手机号，或者直接发微信号也可以～",
         "on_fail": "skip"},
        {"kind": "branch", "id": "has_contact", "next": "no_contact",
         "cases": [{"field": "phone", "exists": True, "goto": "gift"},
                   {"field": "wechat", "exists": True, "goto": "gift"}]},
        {"kind": "end", "id": "no_contact",
         "text": "好的，不留联系方式也没关系～您可以继续在这里问我报考条件、课程和费用，我随时都在。"},
        {"kind": "ask_buttons", "id": "gift", "question": "为了帮您更高效地备考，我们准备了两份福利，您更想要哪个？",
         "options": [{"label": "免费试听课", "goto": "trial"}, {"label": "备考资料包", "goto": "pack"}]},
        {"kind": "offer_trial", "id": "trial", "booked": "booked", "declined": "pack",
         "text": "好的！近期的免费直播试听课时间如下，选一个您方便的时间就可以～"},
        {"kind": "end", "id": "pack",
         "text": "资料包（历年真题 + 考试大纲 + 备考计划表）老师{reply_time}会发到您的手机或微信，请注意查收～"
                 "祝您备考顺利！"},
        {"kind": "end", "id": "booked",
         "text": "预约成功！开课前我们会短信提醒您，课后老师还会送您一份备考资料包。祝您一次通关！"},
    ],
}


OFF_HOURS_FLOW: dict[str, Any] = {
    "schema_version": 1,
    "key": "k12_off_hours",
    "name": "下班时间留资",
    "version": 1,
    "description": "老师下班后：记下称呼、年级和手机号，老师上班后第一时间回电（时间按营业时间说）。",
    "triggers": [{"kind": "off_hours"}],
    "steps": [
        {"kind": "say", "id": "hello",
         "text": "现在课程老师已经下班啦（{next_open}上班），我是智能助手小星，课程和价格的问题都可以先问我～"
                 "留个联系方式的话，老师上班后会第一时间联系您。"},
        {"kind": "ask_field", "id": "grade", "field": "grade", "prompt": "请问孩子现在读几年级呀？",
         "reprompt": "告诉我孩子的年级就可以，比如“三年级”“初一”～", "max_retries": 1},
        {"kind": "ask_field", "id": "name", "field": "name", "prompt": "怎么称呼您呢？比如“王妈妈”“李先生”。",
         "max_retries": 1},
        {"kind": "ask_field", "id": "phone", "field": "phone", "alternatives": ["wechat"],
         "prompt": "方便留一个手机号或微信吗？老师{reply_time}第一时间联系您～",
         "reprompt": "这个号码好像不太对，麻烦再核对一下 11 位手机号，或者直接留微信号～",
         "on_fail": "end", "on_fail_text": "没关系～您可以继续问我问题，老师{reply_time}也会在这里回复您。"},
        {"kind": "end", "id": "thanks",
         "text": "记下啦！老师{reply_time}会联系您，祝孩子学习进步～还有问题也可以继续问我。"},
    ],
}


# The call robot's script (voice.robot: started by its key when a call is answered, so it has no trigger). Said,
# not shown: short sentences, options spelled out in the question, no buttons. Its last line asks when to call
# back, and the robot books the callback from the answer ("明天下午三点"); a question in the middle (价格, 地址)
# is answered from the knowledge base and the script resumes, as in chat.
PHONE_CALL_FLOW: dict[str, Any] = {
    "schema_version": 1,
    "key": "phone_call",
    "name": "电话外呼：试听邀约",
    "version": 1,
    "description": "智能外呼用：确认孩子年级和意向，有兴趣的预约老师回电时间。",
    "triggers": [],
    "steps": [
        {"kind": "say", "id": "hello", "text": "您好，我是课程顾问小安。打扰您一分钟，想了解一下孩子的学习情况。"},
        {"kind": "ask_field", "id": "grade", "field": "grade", "prompt": "请问孩子现在读几年级？",
         "reprompt": "您说一下孩子的年级就行，比如三年级、初二。", "max_retries": 1, "on_fail": "skip"},
        {"kind": "ask_buttons", "id": "interest", "next": "bye",
         "question": "我们最近有免费的试听课。您有兴趣让孩子来体验一下吗？有兴趣的话说“有兴趣”就可以。",
         "reprompt": "有兴趣的话说“有兴趣”，不需要的话说“没兴趣”就可以。", "max_retries": 1, "on_fail": "skip",
         "options": [{"label": "有兴趣", "goto": "callback"}, {"label": "没兴趣", "goto": "bye"}]},
        {"kind": "end", "id": "callback",
         "text": "好的。我请课程老师给您回个电话，详细介绍课程和试听安排。您看什么时间方便接电话？"},
        {"kind": "end", "id": "bye", "text": "好的，不打扰您了，祝孩子学习进步，再见。"},
    ],
}


def demo_flows() -> list[Flow]:
    """The demo flows, validated against the demo org's lead-card fields (built-ins + ``DEMO_CUSTOM_FIELDS``)."""
    return [load_flow(data, field_keys=DEMO_FIELD_KEYS) for data in (K12_FLOW, EXAM_PREP_FLOW, OFF_HOURS_FLOW)]
