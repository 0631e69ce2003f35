"""The ``edudesk`` command: orgs and users on SQLite and PostgreSQL, the one-line error contract, the demo seed.

Most cases run in-process through typer's CliRunner (stdout and stderr are captured apart); a few run the installed
``edudesk`` script as a real process to pin down the exit-code and stderr contract end to end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from edudesk import cli
from edudesk.audit import service as audit_service
from edudesk.auth import service as auth_service
from edudesk.auth.models import Role, User
from edudesk.conversations.models import Conversation
from edudesk.db import Database
from edudesk.demo import seed as demo
from edudesk.orgs import service as orgs_service
from edudesk.orgs.models import Org
from tests.conftest import PASSWORD

EDUDESK = Path(sys.executable).parent / "edudesk"
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/x"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args))


def ok(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, (args, result.stdout, result.stderr, result.exception)
    assert result.stderr == ""
    return result.stdout


def assert_one_line_error(stderr: str, exit_code: int, fragment: str) -> None:
    assert exit_code != 0
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr, got {stderr!r}"
    assert lines[0].startswith("edudesk: "), lines[0]
    assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in stderr


def users_of(database: Database, slug: str) -> dict[str, User]:
    with database.session() as session:
        org = orgs_service.get_by_slug(session, slug)
        return {u.username: u for u in auth_service.list_users(session, org.id)}


def test_org_and_user_lifecycle(database: Database, db_url: str) -> None:
    db = ("--database-url", db_url)
    assert "数据库已是最新结构" in ok("migrate", *db)  # already migrated: a no-op
    assert "已创建机构 alpha" in ok("org", "create", "alpha", "阿尔法教育", *db)
    assert "已创建机构 beta" in ok("org", "create", "  BETA ", "贝塔培训", *db)
    listing = ok("org", "list", *db)
    assert "alpha" in listing and "阿尔法教育" in listing and "beta" in listing

    assert "已创建 bob（supervisor）" in ok("user", "create", "bob", "--org", "alpha", "--name", "鲍勃",
                                          "--role", "supervisor", "--password", PASSWORD, *db)
    ok("user", "create", "carol", "--org", "alpha", "--name", "卡罗", "--password", PASSWORD, *db)
    ok("user", "create", "bob", "--org", "beta", "--name", "贝塔的鲍勃", "--password", PASSWORD, *db)
    alpha = users_of(database, "alpha")
    assert sorted(alpha) == ["bob", "carol"]
    assert (alpha["bob"].role, alpha["carol"].role) == (Role.supervisor, Role.agent)  # agent is the default
    assert alpha["bob"].password_hash.startswith("$argon2id$") and PASSWORD not in alpha["bob"].password_hash
    assert list(users_of(database, "beta")) == ["bob"]

    listing = ok("user", "list", "--org", "alpha", *db)
    bob_row = next(line for line in listing.splitlines() if "bob" in line)
    assert "鲍勃" in bob_row and "supervisor" in bob_row and "启用" in bob_row
    assert "贝塔的鲍勃" not in listing

    assert "已停用 bob" in ok("user", "disable", "bob", "--org", "alpha", *db)
    alpha = users_of(database, "alpha")
    assert alpha["bob"].is_active is False and alpha["bob"].session_epoch == 1
    assert users_of(database, "beta")["bob"].is_active is True  # the same name in the other org is untouched
    bob_row = next(line for line in ok("user", "list", "--org", "alpha", *db).splitlines() if "bob" in line)
    assert "停用" in bob_row
    with database.session() as session:
        org = orgs_service.get_by_slug(session, "alpha")
        entries = audit_service.recent(session, org.id)
        assert [(e.action, e.actor_label) for e in entries] == [
            ("user.disable", "cli"), ("user.create", "cli"), ("user.create", "cli")]
        user = auth_service.authenticate(session, org.id, org.slug, "carol", PASSWORD, None)
        assert user is not None and user.username == "carol"


ERRORS = [
    (("user", "create", "bob", "--org", "nope", "--name", "鲍勃", "--password", PASSWORD), "找不到机构 nope"),
    (("user", "create", "agent", "--org", "alpha", "--name", "又一个", "--password", PASSWORD), "用户名 agent 已存在"),
    (("user", "create", "bob", "--org", "alpha", "--name", "鲍勃", "--password", "short"), "密码至少 8 位"),
    (("user", "create", "bob", "--org", "alpha", "--name", "鲍勃", "--role", "boss", "--password", PASSWORD),
     "角色只能是"),
    (("user", "create", "bad name", "--org", "alpha", "--name", "鲍勃", "--password", PASSWORD), "用户名需为"),
    (("user", "create", "bob", "--org", "alpha", "--name", " ", "--password", PASSWORD), "显示名称不能为空"),
    (("user", "list", "--org", "nope"), "找不到机构 nope"),
    (("user", "disable", "ghost", "--org", "alpha"), "机构 alpha 下没有用户 ghost"),
    (("user", "disable", "agent", "--org", "nope"), "找不到机构 nope"),
    (("org", "create", "Bad Slug!", "坏标识"), "机构标识只能包含"),
    (("org", "create", "a", "太短"), "机构标识只能包含"),
    (("org", "create", "alpha", "重复"), "机构标识 alpha 已存在"),
    (("org", "create", "gamma", "  "), "机构名称不能为空"),
]


def test_errors_are_one_line_and_change_nothing(database: Database, db_url: str) -> None:
    db = ("--database-url", db_url)
    ok("org", "create", "alpha", "阿尔法教育", *db)
    ok("user", "create", "agent", "--org", "alpha", "--name", "王老师", "--password", PASSWORD, *db)
    for args, fragment in ERRORS:
        result = run(*args, *db)
        assert_one_line_error(result.stderr, result.exit_code, fragment)
        assert result.stdout == "", args
    with database.session() as session:
        assert list(session.scalars(select(Org.slug))) == ["alpha"]
        assert list(session.scalars(select(User.username))) == ["agent"]
        assert session.scalars(select(User)).one().is_active


def test_unreachable_database_is_one_line() -> None:
    for args in (("org", "list"), ("user", "list", "--org", "alpha"), ("org", "create", "alpha", "阿尔法")):
        result = run(*args, "--database-url", UNREACHABLE)
        assert_one_line_error(result.stderr, result.exit_code, "无法连接或读写数据库")


@pytest.mark.parametrize("url", ["mysql://u@h/x", "sqlite://", "not a url"])
def test_unsupported_database_url_is_one_line(url: str) -> None:
    result = run("org", "list", "--database-url", url)
    assert_one_line_error(result.stderr, result.exit_code, "配置有误（database_url）")


def test_migrate_creates_a_fresh_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "does" / "not" / "exist" / "edudesk.db"
    url = f"sqlite:///{path}"
    result = run("org", "list", "--database-url", url)  # not migrated yet: a clear error, not a traceback
    assert_one_line_error(result.stderr, result.exit_code, "无法连接或读写数据库")
    ok("migrate", "--database-url", url)
    assert path.exists()
    ok("org", "create", "fresh", "新学校", "--database-url", url)
    ok("user", "create", "admin", "--org", "fresh", "--name", "校长", "--role", "admin", "--password", PASSWORD,
       "--database-url", url)
    assert "admin" in ok("user", "list", "--org", "fresh", "--database-url", url)
    ok("migrate", "--database-url", url)  # again: idempotent, data kept
    db = Database(url)
    try:
        assert users_of(db, "fresh")["admin"].role == Role.admin
    finally:
        db.dispose()


def test_installed_command_contract(tmp_path: Path, sqlite_url: str) -> None:
    """The real ``edudesk`` process: exit codes and a single stderr line, run side by side to save time."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDUDESK_")}
    cases = {
        "unreachable": (["org", "list", "--database-url", UNREACHABLE], "无法连接或读写数据库"),
        "unknown org": (["user", "create", "bob", "--org", "nope", "--name", "鲍勃", "--password", PASSWORD,
                         "--database-url", sqlite_url], "找不到机构 nope"),
    }
    procs = {name: subprocess.Popen([str(EDUDESK), *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
             for name, (args, _) in cases.items()}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=60)
        assert_one_line_error(stderr, proc.returncode, cases[name][1])
        assert stdout == "", name


def test_demo_seeds_once_and_prints_working_logins(tmp_path: Path) -> None:
    out = ok("demo", "--no-serve", "--data-dir", str(tmp_path))
    assert demo.DEMO_NAME in out and demo.DEMO_SLUG in out
    db_url = f"sqlite:///{tmp_path / 'edudesk-demo.db'}"
    db = Database(db_url)
    try:
        with db.session() as session:
            org = orgs_service.get_by_slug(session, demo.DEMO_SLUG)
            n_users = len(auth_service.list_users(session, org.id))
            n_convs = session.scalar(select(func.count()).select_from(Conversation))
            assert n_users == len(demo.LOGINS)
            assert n_convs and n_convs >= 3
        # Every login is printed; the admin's works (one production-cost Argon2 check is enough to prove it).
        for username, password, role, _ in demo.LOGINS:
            line = next(line for line in out.splitlines() if f"用户名 {username} " in line)
            assert password in line and role in line
        username, password, role, _ = demo.LOGINS[0]
        with db.session() as session:
            user = auth_service.authenticate(session, org.id, org.slug, username, password, None)
            assert user is not None and user.role == Role(role) == Role.admin
        assert (tmp_path / "secret_key").exists()
        secret = (tmp_path / "secret_key").read_text()

        again = ok("demo", "--no-serve", "--data-dir", str(tmp_path))
        assert demo.DEMO_SLUG in again and "qimingxing-admin" in again
        with db.session() as session:
            assert session.scalar(select(func.count()).select_from(Org)) == 1
            assert len(auth_service.list_users(session, org.id)) == n_users
            assert session.scalar(select(func.count()).select_from(Conversation)) == n_convs
        assert (tmp_path / "secret_key").read_text() == secret  # sessions survive a restart
    finally:
        db.dispose()


@pytest.mark.parametrize("args", [("user",), ("org",), ()])
def test_groups_without_command_show_help(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert "Usage" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
