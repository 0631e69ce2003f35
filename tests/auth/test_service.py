"""Users, roles, passwords, login throttling and the audit trail of every change, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from pwdlib import PasswordHash
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.auth import service as auth_service
from edudesk.auth.models import LoginAttempt, Role, User
from edudesk.auth.service import AuthError
from edudesk.db import Database, NotFoundError, utcnow
from edudesk.orgs import service as orgs_service
from edudesk.ratelimit import Rate
from tests.conftest import PASSWORD, TwoOrgs, clean

IP = "203.0.113.7"


def admin_actor(orgs: TwoOrgs, org: str = "a") -> Actor:
    fx = getattr(orgs, org)
    return Actor(fx.id, fx.users["admin"].id, "admin", IP)


def user_count(session: Session, org_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(User).where(User.org_id == org_id)) or 0)


def attempts(session: Session, key: str) -> int:
    return int(session.scalar(select(func.count()).select_from(LoginAttempt).where(LoginAttempt.key == key)) or 0)


def actions_for(session: Session, org_id: int, target_id: int) -> list[str]:
    """Audit actions on one user, oldest first."""
    return [e.action for e in reversed(audit_service.recent(session, org_id)) if e.target_id == str(target_id)]


# --- creating users ---------------------------------------------------------------------------------------------

INVALID = [
    # (username, password, display_name, role, code, field)
    ("a", PASSWORD, "名", "agent", "bad_username", "username"),
    ("has space", PASSWORD, "名", "agent", "bad_username", "username"),
    ("王老师", PASSWORD, "名", "agent", "bad_username", "username"),
    ("x" * 65, PASSWORD, "名", "agent", "bad_username", "username"),
    ("", PASSWORD, "名", "agent", "bad_username", "username"),
    ("bob;drop", PASSWORD, "名", "agent", "bad_username", "username"),
    ("bob", "short7!", "名", "agent", "weak_password", "password"),
    ("bob", "", "名", "agent", "weak_password", "password"),
    ("bob", "p" * 257, "名", "agent", "bad_password", "password"),
    ("bob", PASSWORD, "   ", "agent", "bad_display_name", "display_name"),
    ("bob", PASSWORD, "名" * 101, "agent", "bad_display_name", "display_name"),
    ("bob", PASSWORD, "名", "root", "bad_role", "role"),
    ("bob", PASSWORD, "名", "", "bad_role", "role"),
]


def test_create_user_refuses_bad_input_and_stores_nothing(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        before = user_count(session, orgs.a.id)
        for username, password, display_name, role, code, field in INVALID:
            with pytest.raises(AuthError) as info:
                auth_service.create_user(session, admin_actor(orgs), username=username, password=password,
                                         display_name=display_name, role=role)
            assert (info.value.code, info.value.field) == (code, field), (username, password[:10], role)
            assert info.value.message  # a human-readable Chinese message for the form / CLI
        session.commit()
    with database.session() as session:
        assert user_count(session, orgs.a.id) == before
        assert session.scalars(select(User).where(User.username == "bob")).first() is None


def test_create_user_accepts_boundaries_and_strips(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        user = auth_service.create_user(session, admin_actor(orgs), username="  li.ming@x-y_z  ",
                                        password="8charsok", display_name="  李明  ", role=Role.supervisor)
        auth_service.create_user(session, admin_actor(orgs), username="ab", password="p" * 256,
                                 display_name="名" * 100, role="agent")
        session.commit()
        uid = user.id
    with database.session() as session:
        stored = session.get(User, uid)
        assert stored is not None
        assert (stored.username, stored.display_name, stored.role) == ("li.ming@x-y_z", "李明", Role.supervisor)
        assert stored.is_active and stored.session_epoch == 0 and stored.org_id == orgs.a.id


def test_duplicate_username_refused_in_same_org_allowed_in_other(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        auth_service.create_user(session, admin_actor(orgs), username="teacher", password=PASSWORD,
                                 display_name="张老师")
        session.commit()
        for name in ("teacher", "  teacher "):
            with pytest.raises(AuthError) as info:
                auth_service.create_user(session, admin_actor(orgs), username=name, password=PASSWORD,
                                         display_name="另一个张老师")
            assert (info.value.code, info.value.field) == ("duplicate_username", "username")
        other = auth_service.create_user(session, admin_actor(orgs, "b"), username="teacher", password=PASSWORD,
                                         display_name="贝塔的张老师")
        session.commit()
        assert other.org_id == orgs.b.id
    with database.session() as session:
        rows = session.execute(select(User.org_id, User.display_name).where(User.username == "teacher")).all()
        assert sorted(rows) == sorted([(orgs.a.id, "张老师"), (orgs.b.id, "贝塔的张老师")])


def test_password_is_stored_as_argon2_hash(database: Database, orgs: TwoOrgs) -> None:
    secret = "大熊猫-bamboo-2024"
    with database.session() as session:
        user = auth_service.create_user(session, admin_actor(orgs), username="hash", password=secret,
                                        display_name="哈希")
        twin = auth_service.create_user(session, admin_actor(orgs), username="hash2", password=secret,
                                        display_name="哈希二")
        session.commit()
        ids = (user.id, twin.id)
    with database.session() as session:
        hashes = [session.get(User, i).password_hash for i in ids]  # type: ignore[union-attr]
    for stored in hashes:
        assert stored.startswith("$argon2id$")
        assert secret not in stored and "bamboo" not in stored
    assert hashes[0] != hashes[1], "equal passwords must get different salts"


def test_production_hasher_is_argon2id(sqlite_url: str, real_hasher: PasswordHash) -> None:
    """With the production hasher (SQLite only, no ``orgs``: production-cost hashes are slow on purpose)."""
    db = Database(sqlite_url)
    clean(db)
    try:
        with db.session() as session:
            org = orgs_service.create_org(session, slug="hashing", name="哈希学校")
            user = auth_service.create_user(session, Actor(org.id, label="test"), username="hash",
                                            password="大熊猫-bamboo-2024", display_name="哈希")
            session.commit()
            stored = user.password_hash
        assert stored.startswith("$argon2id$") and "bamboo" not in stored
        params = dict(p.split("=") for p in stored.split("$")[3].split(","))
        assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2, params  # at least OWASP's minimum
        assert real_hasher.verify("大熊猫-bamboo-2024", stored)
        assert not real_hasher.verify("大熊猫-bamboo-2025", stored)
    finally:
        db.dispose()


def test_create_user_writes_audit_entry(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        user = auth_service.create_user(session, admin_actor(orgs), username="newbie", password=PASSWORD,
                                        display_name="新人", role="supervisor")
        session.commit()
        entry = audit_service.recent(session, orgs.a.id, limit=1)[0]
        assert (entry.action, entry.target_type, entry.target_id) == ("user.create", "user", str(user.id))
        assert entry.detail == {"username": "newbie", "role": "supervisor"}
        assert (entry.actor_user_id, entry.actor_label, entry.ip) == (orgs.a.users["admin"].id, "admin", IP)
        # The other org's log does not see it.
        assert all(e.target_id != str(user.id) or e.action != "user.create"
                   for e in audit_service.recent(session, orgs.b.id))


# --- authenticating -----------------------------------------------------------------------------------------------

def test_authenticate_right_and_wrong_password(database: Database, orgs: TwoOrgs) -> None:
    a = orgs.a
    with database.session() as session:
        assert auth_service.authenticate(session, a.id, a.slug, "agent", "wrong-password", IP) is None
        assert auth_service.authenticate(session, a.id, a.slug, "nobody", PASSWORD, IP) is None
        # Right password, wrong org: the user of org b does not exist in org a's namespace and vice versa.
        assert auth_service.authenticate(session, orgs.b.id, orgs.b.slug, "agent", "wrong-password", IP) is None
        session.commit()
    with database.session() as session:
        assert attempts(session, "user:alpha:agent") == 1
        assert attempts(session, "user:alpha:nobody") == 1
        assert attempts(session, "user:beta:agent") == 1
        assert attempts(session, f"ip:{IP}") == 3
        user = auth_service.authenticate(session, a.id, a.slug, " agent ", PASSWORD, IP)
        assert user is not None and user.id == a.users["agent"].id
        session.commit()
    with database.session() as session:
        stored = session.get(User, a.users["agent"].id)
        assert stored is not None and stored.last_login_at is not None
        assert utcnow() - stored.last_login_at < dt.timedelta(minutes=1)
        # A success clears that account's failures (not the address's, nor other accounts').
        assert attempts(session, "user:alpha:agent") == 0
        assert attempts(session, "user:alpha:nobody") == 1
        assert attempts(session, "user:beta:agent") == 1
        login = audit_service.recent(session, a.id, limit=1)[0]
        assert (login.action, login.target_id, login.actor_user_id, login.ip) == (
            "user.login", str(stored.id), stored.id, IP)


def _rules(limit: int) -> tuple[Rate, Rate]:
    """The default shape of EDUDESK_RATE_LOGIN_FAILURES_*: ``limit`` per account, five times that per address."""
    return Rate(limit, 15 * 60), Rate(limit * 5, 15 * 60)


def test_login_blocked_after_limit(database: Database, orgs: TwoOrgs) -> None:
    a, limit = orgs.a, 3
    with database.session() as session:
        for i in range(limit):
            assert not auth_service.login_blocked(session, a.slug, "agent", IP, *_rules(limit)), f"blocked after {i}"
            # Throttling normalises the username as the lookup does: "AGENT" and " agent " count for "agent".
            name = ("AGENT", " agent ", "agent")[i]
            assert auth_service.authenticate(session, a.id, a.slug, name, f"guess-{i}-xxxx", IP) is None
            session.commit()
        assert auth_service.login_blocked(session, a.slug, "agent", IP, *_rules(limit))
        assert auth_service.login_blocked(session, a.slug, "Agent", None, *_rules(limit))
        assert auth_service.login_blocked(session, a.slug, "  agent", None, *_rules(limit))
        # Other accounts, and the same username in another org, are not blocked by these failures.
        assert not auth_service.login_blocked(session, a.slug, "agent2", None, *_rules(limit))
        assert not auth_service.login_blocked(session, orgs.b.slug, "agent", None, *_rules(limit))
        # The address has five times the room of one account (shared office NAT).
        assert not auth_service.login_blocked(session, a.slug, "agent2", IP, *_rules(limit))


def test_address_blocked_after_five_times_the_limit(database: Database, orgs: TwoOrgs) -> None:
    a, limit = orgs.a, 2
    with database.session() as session:
        for i in range(limit * 5):
            session.add(LoginAttempt(key=f"ip:{IP}"))
            if i < limit * 5 - 1:
                session.flush()
                assert not auth_service.login_blocked(session, a.slug, "fresh", IP, *_rules(limit))
        session.commit()
        assert auth_service.login_blocked(session, a.slug, "fresh", IP, *_rules(limit))
        assert not auth_service.login_blocked(session, a.slug, "fresh", "198.51.100.1", *_rules(limit))


def test_old_failures_do_not_count(database: Database, orgs: TwoOrgs) -> None:
    long_ago = utcnow() - dt.timedelta(minutes=16)
    with database.session() as session:
        for _ in range(10):
            session.add(LoginAttempt(key="user:alpha:agent", at=long_ago))
        session.commit()
        assert not auth_service.login_blocked(session, "alpha", "agent", None, *_rules(3))
        for _ in range(3):
            session.add(LoginAttempt(key="user:alpha:agent"))
        session.commit()
        assert auth_service.login_blocked(session, "alpha", "agent", None, *_rules(3))


def test_disabled_user_cannot_authenticate(database: Database, orgs: TwoOrgs) -> None:
    a = orgs.a
    with database.session() as session:
        agent = auth_service.get_user(session, a.id, a.users["agent"].id)
        auth_service.set_active(session, admin_actor(orgs), agent, False)
        session.commit()
        assert auth_service.authenticate(session, a.id, a.slug, "agent", PASSWORD, IP) is None
        session.commit()
        assert attempts(session, "user:alpha:agent") == 1
        auth_service.set_active(session, admin_actor(orgs), agent, True)
        session.commit()
        assert auth_service.authenticate(session, a.id, a.slug, "agent", PASSWORD, IP) is not None


# --- changing users -----------------------------------------------------------------------------------------------

def test_changes_bump_session_epoch_and_are_audited(database: Database, orgs: TwoOrgs) -> None:
    a = orgs.a
    actor = admin_actor(orgs)
    uid = a.users["agent"].id
    with database.session() as session:
        user = auth_service.get_user(session, a.id, uid)
        epochs = [user.session_epoch]
        auth_service.set_active(session, actor, user, False)
        epochs.append(user.session_epoch)
        auth_service.set_active(session, actor, user, True)
        epochs.append(user.session_epoch)
        auth_service.set_role(session, actor, user, "supervisor")
        epochs.append(user.session_epoch)
        auth_service.set_password(session, actor, user, "a-brand-new-password")
        epochs.append(user.session_epoch)
        session.commit()
    assert epochs == [0, 1, 2, 3, 4]
    with database.session() as session:
        stored = session.get(User, uid)
        assert stored is not None
        assert (stored.session_epoch, stored.role, stored.is_active) == (4, Role.supervisor, True)
        assert actions_for(session, a.id, uid) == [
            "user.create", "user.disable", "user.enable", "user.role", "user.password"]
        entries = [e for e in audit_service.recent(session, a.id) if e.target_id == str(uid)]
        for e in entries[:4]:  # the four changes, newest first; the creation was by the fixture
            assert (e.actor_user_id, e.actor_label, e.ip, e.target_type) == (actor.user_id, "admin", IP, "user")
        assert entries[1].detail == {"role": "supervisor"}
        # The new password works, the old one no longer does.
        assert auth_service.authenticate(session, a.id, a.slug, "agent", PASSWORD, IP) is None
        assert auth_service.authenticate(session, a.id, a.slug, "agent", "a-brand-new-password", IP) is not None


def test_refused_changes_leave_user_and_log_untouched(database: Database, orgs: TwoOrgs) -> None:
    a = orgs.a
    actor = admin_actor(orgs)
    admin_id, agent_id = a.users["admin"].id, a.users["agent"].id
    with database.session() as session:
        log_before = len(audit_service.recent(session, a.id, limit=1000))
        me = auth_service.get_user(session, a.id, admin_id)
        agent = auth_service.get_user(session, a.id, agent_id)
        with pytest.raises(AuthError) as info:
            auth_service.set_active(session, actor, me, False)
        assert info.value.code == "self_disable"
        for role in ("supervisor", "agent"):
            with pytest.raises(AuthError) as info:
                auth_service.set_role(session, actor, me, role)
            assert info.value.code == "self_demote"
        with pytest.raises(AuthError) as info:
            auth_service.set_role(session, actor, agent, "superuser")
        assert info.value.code == "bad_role"
        with pytest.raises(AuthError) as info:
            auth_service.set_password(session, actor, agent, "short")
        assert (info.value.code, info.value.field) == ("weak_password", "password")
        # An admin of another org cannot touch this org's users even when handed the row.
        with pytest.raises(AuthError):
            auth_service.set_active(session, admin_actor(orgs, "b"), agent, False)
        session.commit()
    with database.session() as session:
        me = session.get(User, admin_id)
        agent = session.get(User, agent_id)
        assert me is not None and agent is not None
        assert (me.is_active, me.role, me.session_epoch) == (True, Role.admin, 0)
        assert (agent.is_active, agent.role, agent.session_epoch) == (True, Role.agent, 0)
        assert auth_service.authenticate(session, a.id, a.slug, "agent", PASSWORD, None) is not None
        session.rollback()
        assert len(audit_service.recent(session, a.id, limit=1000)) == log_before
        assert not session.scalars(select(AuditEntry).where(AuditEntry.org_id == orgs.b.id,
                                                            AuditEntry.target_id == str(agent_id))).all()


def test_admin_may_keep_own_admin_role(database: Database, orgs: TwoOrgs) -> None:
    """Setting one's own role to admin again is not a demotion."""
    with database.session() as session:
        me = auth_service.get_user(session, orgs.a.id, orgs.a.users["admin"].id)
        auth_service.set_role(session, admin_actor(orgs), me, "admin")
        session.commit()
        assert me.role == Role.admin


def test_get_user_is_scoped_to_org(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        with pytest.raises(NotFoundError):
            auth_service.get_user(session, orgs.a.id, orgs.b.users["agent"].id)
        assert auth_service.find_user(session, orgs.a.id, "agent").org_id == orgs.a.id  # type: ignore[union-attr]
        assert [u.username for u in auth_service.list_users(session, orgs.b.id)] == [
            "admin", "supervisor", "agent", "agent2"]
