from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped


class SkillGroup(OrgScoped, Base):
    """A team that serves one kind of question (小学数学, 少儿英语, 职业考试, 售后 …)."""

    __tablename__ = "skill_groups"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_skill_groups_org_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(300), default="")


class SkillGroupMember(OrgScoped, Base):
    __tablename__ = "skill_group_members"
    __table_args__ = (UniqueConstraint("group_id", "user_id", name="uq_skill_group_members_group_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("skill_groups.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # 1 (new) … 5 (senior): VIP contacts go to higher levels first once routing rules exist.
    level: Mapped[int] = mapped_column(Integer, default=1)
