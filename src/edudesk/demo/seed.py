"""The demo institution: a K12 tutoring and arts school in Hangzhou with agents, courses, campuses, bot rules
and a few conversations in every state, so that ``edudesk demo`` shows a working desk at once."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from edudesk.audit.service import Actor
from edudesk.auth import service as auth_service
from edudesk.bot import scripts
from edudesk.bot import service as bot_service
from edudesk.bot.flows.templates import DEMO_CUSTOM_FIELDS, EXAM_PREP_FLOW, K12_FLOW
from edudesk.catalog import service as catalog_service
from edudesk.channels.base import InboundMessage
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.demo.history import seed_history
from edudesk.demo.human_service import seed_human_service
from edudesk.demo.kb import DEMO_KB
from edudesk.inbound import service as inbound_service
from edudesk.kb import categories as kb_categories
from edudesk.kb import service as kb_service
from edudesk.kb.schemas import EntryInput
from edudesk.leads import service as leads_service
from edudesk.localtime import LOCAL_TZ
from edudesk.orgs import service as orgs_service
from edudesk.routing import service as routing_service
from edudesk.trials import service as trials_service
from edudesk.visitors import service as visitors_service

DEMO_SLUG = "qimingxing"
DEMO_NAME = "启明星教育（演示）"
LOGINS = (
    ("admin", "qimingxing-admin", "admin", "陈校长"),
    ("zhuguan", "qimingxing-lead", "supervisor", "周主管"),
    ("wang", "qimingxing-wang", "agent", "王老师"),
    ("li", "qimingxing-li", "agent", "李老师"),
)
GROUPS = (
    ("小学数学", "小学 1–6 年级数学思维与同步提高", (("wang", 5), ("zhuguan", 3))),
    ("少儿英语", "3–12 岁少儿英语、剑桥英语考级", (("li", 4), ("zhuguan", 2))),
)
COURSES = (
    ("小学数学思维提高班", "数学", "一年级–六年级", "¥3,600 / 期（16 课时）", "小班 8 人，每周一次，90 分钟。"),
    ("初中数学同步培优", "数学", "初一–初三", "¥4,800 / 期（20 课时）", "紧跟校内进度，每周两次。"),
    ("少儿英语启蒙", "英语", "4–6 岁", "¥2,980 / 期（24 课时）", "外教 + 中教双师，绘本与自然拼读。"),
    ("剑桥少儿英语 KET/PET", "英语", "三年级–初二", "¥5,200 / 期（24 课时）", "备考剑桥英语，含 2 次模考。"),
    ("少儿美术创意课", "美术", "4–10 岁", "¥2,400 / 期（16 课时）", "素描、水彩与手工，学期末办作品展。"),
)
CAMPUSES = (
    ("西湖文化广场校区", "杭州", "西湖区", "杭州市西湖区文三路 88 号 3 楼", "0571-8888 1234", "周二至周日 9:00–20:30"),
    ("滨江星光校区", "杭州", "滨江区", "杭州市滨江区江南大道 1688 号 2 楼", "0571-8888 5678", "周二至周日 9:00–20:30"),
)
# Keyword rules win over the FAQ: the demo keeps one, for the one announcement that must never be paraphrased.
RULES = (
    ("暑期招生", ("暑期招生", "暑假报名"),
     "2027 暑期班火热报名中：7 月 6 日开课，前 50 名立减 500 元！回复“试听”预约免费体验课。"),
)
# Pinned in the widget's 热门问题, in this order.
HOT = ("各个课程的学费是多少？", "可以免费试听吗？", "你们的校区在哪里？", "什么时候上课？")


@dataclass(frozen=True)
class DemoInfo:
    org_slug: str
    org_name: str
    public_key: str
    logins: tuple[tuple[str, str, str], ...]


def seed(session: Session) -> DemoInfo:
    """Creates the demo institution once; later runs just report it."""
    logins = tuple((u, p, r) for u, p, r, _ in LOGINS)
    try:
        org = orgs_service.get_by_slug(session, DEMO_SLUG)
        return DemoInfo(org.slug, org.name, org.public_key, logins)
    except LookupError:
        pass
    org = orgs_service.create_org(session, slug=DEMO_SLUG, name=DEMO_NAME)
    actor = Actor(org.id, label="demo")
    users = {}
    for username, password, role, name in LOGINS:
        users[username] = auth_service.create_user(session, actor, username=username, password=password,
                                                   display_name=name, role=role)
    groups = {}
    for group_name, description, members in GROUPS:
        group = routing_service.create_group(session, actor, group_name, description)
        groups[group_name] = group
        for username, level in members:
            routing_service.add_member(session, actor, group.id, users[username].id, level)
    courses = [catalog_service.add_course(session, actor, name=name, subject=subject, grades=grades,
                                          price_text=price, description=description)
               for name, subject, grades, price, description in COURSES]
    campuses = []
    for name, city, district, address, phone, hours in CAMPUSES:
        campuses.append(catalog_service.add_campus(session, actor, name=name, city=city, district=district,
                                                   address=address, phone=phone, hours=hours))
    _seed_trial_sessions(session, actor, courses, campuses)
    bot_service.get_settings(session, org.id).welcome_text = (
        "您好，欢迎来到启明星教育！我是智能助手小星，课程价格、上课时间、校区地址、免费试听都可以问我；"
        "需要课程顾问时回复“转人工”。"
    )
    for label, keywords, reply in RULES:
        bot_service.save_rule(session, actor, keywords="\n".join(keywords), reply=reply, label=label)
    _seed_knowledge_base(session, actor)
    _seed_flows(session, actor)
    seed_human_service(session, actor, groups, {name: user.id for name, user in users.items()})
    _seed_visitors(session, actor, courses)
    session.flush()
    _sample_conversations(session, org.id, users)
    seed_history(session, org.id, [users["wang"].id, users["li"].id], [g.id for g in groups.values()],
                 [c.id for c in courses])
    return DemoInfo(org.slug, org.name, org.public_key, logins)


# (URL pattern, index into COURSES) of the demo site's course pages.
COURSE_PAGES = (("/courses/math-primary", 0), ("/courses/math-junior", 1), ("/courses/english-kids", 2),
                ("/courses/ket-pet", 3), ("/courses/art", 4))


def _seed_visitors(session: Session, actor: Actor, courses: list[Any]) -> None:
    """The default classification rules, the demo site's course pages and one 千人千面 rule for the exam-prep ad."""
    visitors_service.seed_defaults(session, actor.org_id)
    for pattern, index in COURSE_PAGES:
        visitors_service.add_pattern(session, actor, pattern=pattern, course_id=courses[index].id, course_name="")
    visitors_service.save_personal_rule(session, actor, None, visitors_service.PersonalInput(
        name="考证推广落地页", priority=10, campaign="exam-prep",
        welcome="您好！欢迎了解 2027 考证冲刺班，报考条件、考试时间、通过率都可以问我。",
        hot="考试时间是什么时候？\n报考条件有哪些？\n可以免费试听吗？", guess="考证班多少钱？\n有没有周末班？"))


def _seed_knowledge_base(session: Session, actor: Actor) -> None:
    known = kb_categories.known_paths(session, actor.org_id)
    for path, question, similar, answer in DEMO_KB:
        category_id = kb_categories.ensure_path(session, actor.org_id, path.split("/"), known)
        hot = question in HOT
        kb_service.create_entry(session, actor, EntryInput(
            question=question, similar=list(similar), answer=answer, category_id=category_id,
            hot_pinned=hot, hot_position=HOT.index(question) if hot else 0,
            buttons=[{"label": "预约免费试听", "payload": "可以免费试听吗？"}] if path.startswith("课程") else []))


def _seed_trial_sessions(session: Session, actor: Actor, courses: list[Any], campuses: list[Any]) -> None:
    """Free trial classes on the next two weekends (10:00 and 14:00 Hangzhou time), so the script can book one."""
    today = dt.datetime.now(LOCAL_TZ).date()
    saturday = today + dt.timedelta(days=(5 - today.weekday()) % 7 or 7)
    slots = [(saturday, 10, 0), (saturday, 14, 1), (saturday + dt.timedelta(days=1), 10, 2),
             (saturday + dt.timedelta(days=7), 10, 0), (saturday + dt.timedelta(days=8), 14, 3)]
    for day, hour, course_index in slots:
        starts = dt.datetime.combine(day, dt.time(hour), LOCAL_TZ).astimezone(dt.UTC)
        trials_service.create_session(session, actor, trials_service.SessionInput(
            course_id=courses[course_index].id, campus_id=campuses[course_index % len(campuses)].id,
            starts_at=starts, capacity=6, duration_minutes=60, teacher=("王老师", "李老师")[course_index % 2]))


def _seed_flows(session: Session, actor: Actor) -> None:
    """The K12 trial-class script runs; the exam-prep one (for a vocational school) ships disabled as a template."""
    for key, label, kind, options in DEMO_CUSTOM_FIELDS:
        leads_service.add_custom_field(session, actor.org_id, key, label, kind, options)
    scripts.save_flow(session, actor, json.dumps(K12_FLOW, ensure_ascii=False))
    scripts.save_flow(session, actor, json.dumps({**EXAM_PREP_FLOW, "enabled": False}, ensure_ascii=False))


def _say(session: Session, org_id: int, visitor: str, text: str, n: int, page: str) -> None:
    inbound_service.receive(
        session,
        InboundMessage(org_id=org_id, channel="web", external_user_id=visitor, client_message_id=f"{visitor}-{n}",
                       text=text, page_url=page, page_title="启明星教育"),
        agents_online=True,
    )


def _sample_conversations(session: Session, org_id: int, users: dict) -> None:  # type: ignore[type-arg]
    home = "https://www.qimingxing.example/"
    # 1. A parent asked about prices and a trial with the bot, then asked for a human: waiting in the queue.
    for i, text in enumerate(("你好，孩子三年级，数学有点跟不上", "价格多少", "可以先试听吗", "转人工")):
        _say(session, org_id, "demo-visitor-zhang", text, i, home + "math")
    zhang = contacts_service.find_by_identity(session, org_id, "web", "demo-visitor-zhang")
    if zhang:
        contacts_service.update_details(session, zhang, name="张妈妈")
    # 2. A conversation served by 王老师, resolved and rated 5 stars.
    for i, text in enumerate(("滨江校区在哪里", "人工客服")):
        _say(session, org_id, "demo-visitor-liu", text, i, home + "campus")
    liu = contacts_service.find_by_identity(session, org_id, "web", "demo-visitor-liu")
    assert liu is not None
    contacts_service.update_details(session, liu, name="刘先生", phone="13800138000")
    conv = conversations_service.current_for_contact(session, org_id, liu.id)
    assert conv is not None
    wang = users["wang"]
    conversations_service.accept(session, wang, conv.id)
    conversations_service.send_agent_message(
        session, wang, conv.id, "刘先生您好，滨江星光校区在江南大道 1688 号 2 楼，地铁 1 号线滨和路站 B 口步行 5 分钟。"
    )
    _say(session, org_id, "demo-visitor-liu", "好的，谢谢老师", 2, home + "campus")
    conversations_service.resolve(session, wang, conv.id, close_after_seconds=1800)
    conversations_service.rate(session, org_id, liu.id, 5, "回复很快，很专业")
    # 3. A visitor still chatting with the bot about English classes.
    for i, text in enumerate(("孩子5岁，有英语启蒙课吗", "上课时间是什么时候")):
        _say(session, org_id, "demo-visitor-chen", text, i, home + "english")
