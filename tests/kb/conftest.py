"""Knowledge-base fixtures: a small Chinese tutoring school's FAQ, written for these tests."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.db import Database
from edudesk.kb import categories as kb_categories
from edudesk.kb import service as kb_service
from edudesk.kb.models import KbEntry
from edudesk.kb.schemas import EntryInput
from tests.conftest import TwoOrgs

# (category path, question, similar questions, answer)
SCHOOL_FAQ: list[tuple[str, str, list[str], str]] = [
    ("课程/价格", "一对一辅导怎么收费？", ["一对一多少钱", "一对一价格", "一对一课时费"],
     "小学一对一 200 元/课时，初中 240 元/课时，高中 280 元/课时，20 课时起报。"),
    ("课程/试听", "可以免费试听吗？", ["有试听课吗", "试听要钱吗", "能先试听一节吗"],
     "每个孩子都可以免费试听一节 45 分钟的体验课，留下孩子的年级和方便的时间即可预约。"),
    ("校区", "你们有哪些校区？", ["校区在哪里", "地址在哪"],
     "海淀中关村校区：中关村大街 27 号 3 层；朝阳望京校区：望京 SOHO T2 5 层。"),
    ("课程/上课时间", "周末几点上课？", ["周末上课时间", "周六有课吗"],
     "周六、周日 9:00–12:00 和 14:00–17:00 各两个班，寒暑假另行排课。"),
    ("报名/退费", "报名后可以退费吗？", ["怎么退费", "不想上了能退钱吗"],
     "开课前全额退款；已上课的按实际课时扣除后退还剩余学费，7 个工作日内原路退回。"),
    ("师资", "老师都是什么背景？", ["老师资质", "老师有证吗"],
     "主讲老师都持有教师资格证，平均教龄 8 年，八成毕业于师范院校。"),
]


# The knowledge-base file: a few rows of an arts and English school, in the import format.
HEADER = ["question", "similar_questions", "answer", "category"]
INJECTION = "=cmd|' /C calc'!A0"
ROWS = [
    ["钢琴课一节多少钱？", "钢琴课价格|钢琴怎么收费", "钢琴一对一 300 元/节（45 分钟），10 节起报。", "艺术/钢琴"],
    ["少儿英语几岁可以学？", "几岁能学英语|英语最小几岁", "4 岁以上就可以来上启蒙班，先免费测评。", "英语"],
    ["寒假班什么时候报名？", "", "12 月 1 日开放报名，老学员提前一周。", "课程/寒假"],
]


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8", header: list[str] | None = HEADER) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def stored(database: Database, org_id: int) -> dict[str, tuple[str, list[str], str]]:
    """question → (answer, similar questions, category path) of the live entries."""
    with database.session() as session:
        paths = kb_categories.category_paths(session, org_id)
        return {e.question: (e.answer, kb_service.similar_of(session, org_id, e.id),
                             paths.get(e.category_id, "") if e.category_id else "")
                for e in session.scalars(select(KbEntry).where(KbEntry.org_id == org_id,
                                                               KbEntry.deleted_at.is_(None)))}


@dataclass
class SchoolKb:
    org_id: int
    entries: dict[str, int] = field(default_factory=dict)  # question → id
    categories: dict[str, int] = field(default_factory=dict)  # path → id


def actor(org_id: int, label: str = "test") -> Actor:
    return Actor(org_id, label=label)


def seed_school(database: Database, org_id: int) -> SchoolKb:
    kb = SchoolKb(org_id)
    with database.session() as session:
        known = kb_categories.known_paths(session, org_id)
        for path, question, similar, answer in SCHOOL_FAQ:
            category_id = kb_categories.ensure_path(session, org_id, path.split("/"), known)
            entry = kb_service.create_entry(session, actor(org_id), EntryInput(
                question=question, answer=answer, similar=similar, category_id=category_id))
            kb.entries[question] = entry.id
        kb.categories = {"/".join(k): v for k, v in known.items()}
        session.commit()
    return kb


@pytest.fixture
def school(database: Database, orgs: TwoOrgs) -> SchoolKb:
    """Org A's knowledge base; org B starts empty."""
    return seed_school(database, orgs.a.id)
