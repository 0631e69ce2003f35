"""The ``edudesk`` command: serve, worker, migrate, demo, org, user, bench.

Every failure is one line on stderr and a non-zero exit; tracebacks are for bugs, not for bad input.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from edudesk import bench as bench_mod
from edudesk import jobs, migrate
from edudesk.app import create_app, start_job_chains
from edudesk.audit.service import Actor
from edudesk.auth import service as auth_service
from edudesk.cli_support import clean_errors, database, fail, settings_from_env
from edudesk.db import Database
from edudesk.demo import seed as demo_seed
from edudesk.evaluation.cli import eval_app, register_faq
from edudesk.kb.cli import kb_app
from edudesk.llm.assist import evalcli as llm_evalcli
from edudesk.logsetup import configure_logging
from edudesk.orgs import service as orgs_service
from edudesk.orgs.models import Org
from edudesk.privacy import service as privacy_service
from edudesk.privacy.cli import privacy_app
from edudesk.privacy.service import PrivacyRegistry
from edudesk.qc import hooks as qc_hooks
from edudesk.settings import Settings
from edudesk.voice import admin_wiring as voice_admin_wiring

app = typer.Typer(help="edudesk：教育培训机构的智能客服与线索转化系统", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
user_app = typer.Typer(help="管理坐席账号", no_args_is_help=True)
org_app = typer.Typer(help="管理机构", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(org_app, name="org")
app.add_typer(kb_app, name="kb")
register_faq(eval_app, llm_evalcli.faq_pass)  # `eval faq --llm`: the grounded pass lives in edudesk.llm
llm_evalcli.register(eval_app)
app.add_typer(eval_app, name="eval")


def privacy_registry(settings: Settings) -> PrivacyRegistry:
    """The privacy registry as the app builds it: the built-in purgers and the holders of the areas above privacy."""
    registry = privacy_service.make_registry(settings.upload_dir, settings.privacy_purge_batch)
    voice_admin_wiring.register_privacy(registry)
    return registry


app.add_typer(privacy_app, name="privacy", context_settings={"obj": {"privacy_registry": privacy_registry}})
out = Console()


DbOption = Annotated[str | None, typer.Option("--database-url", help="覆盖 EDUDESK_DATABASE_URL")]


@app.command("migrate")
@clean_errors
def migrate_cmd(database_url: DbOption = None) -> None:
    """把数据库升级到最新结构（Alembic）。"""
    settings = settings_from_env(database_url)
    _ensure_sqlite_dir(settings)
    migrate.upgrade(settings.database_url)
    out.print("数据库已是最新结构")


def _ensure_sqlite_dir(settings: Settings) -> None:
    if settings.is_sqlite and ":memory:" not in settings.database_url:
        path = settings.database_url.split("///", 1)[-1]
        Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


@app.command()
@clean_errors
def serve(
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="进程数（需要 PostgreSQL + Redis 才能大于 1）", min=1, max=64)] = 1,
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate", help="启动前升级数据库")] = True,
    database_url: DbOption = None,
) -> None:
    """启动 Web 服务（访客组件、坐席工作台、管理后台、API）。"""
    settings = settings_from_env(database_url)
    if workers > 1 and (settings.is_sqlite or not settings.redis_url):
        fail("多进程需要 EDUDESK_DATABASE_URL 指向 PostgreSQL 并设置 EDUDESK_REDIS_URL")
    _ensure_sqlite_dir(settings)
    if migrate_first:
        migrate.upgrade(settings.database_url)
    settings = settings.with_secret()
    _run_server(settings, host, port, workers)


# uvicorn's socket options. permessage-deflate is off: chat frames are a few hundred bytes, and compressing each
# one cost the event loop about 40 % of its CPU under load (benchmarks/profile_server.py) for a few bytes saved.
# ws_max_size is EDUDESK_MAX_FRAME_BYTES (see server_options): uvicorn closes with 1009 before buffering more.
# ws is named rather than "auto" (which picks whatever is installed): the sans-I/O implementation keeps one protocol
# object and one receive queue per socket and no task of its own; uvicorn's legacy "websockets" one runs tasks per
# connection and is deprecated, and wsproto is not a dependency (docs/performance.md, "Per-socket memory, round 2").
SERVER_OPTIONS: dict[str, object] = {"log_level": "warning", "ws": "websockets-sansio",
                                     "ws_max_size": Settings.model_fields["max_frame_bytes"].default,
                                     "ws_per_message_deflate": False, "timeout_graceful_shutdown": 5}


def server_options(settings: Settings) -> dict[str, object]:
    """``SERVER_OPTIONS`` with this configuration's frame limit."""
    return {**SERVER_OPTIONS, "ws_max_size": settings.max_frame_bytes}


def _run_server(settings: Settings, host: str, port: int, workers: int) -> None:
    options = server_options(settings)
    # X-Forwarded-For / -Proto are believed only from the configured reverse proxies: they decide the address that
    # rate limits count and whether a request came over HTTPS (HSTS, Secure cookies). See docs/limits.md.
    proxy = {"proxy_headers": True, "forwarded_allow_ips": settings.trusted_proxies}
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, **proxy, **options)  # type: ignore[arg-type]
    else:
        # Each worker process builds its own app from the environment; pass the resolved secret along.
        os.environ["EDUDESK_SECRET_KEY"] = settings.secret_key
        os.environ["EDUDESK_DATABASE_URL"] = settings.database_url
        uvicorn.run("edudesk.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                    **proxy, **options)  # type: ignore[arg-type]


@app.command()
@clean_errors
def worker(
    once: Annotated[bool, typer.Option(help="只处理当前到期的任务后退出")] = False,
    database_url: DbOption = None,
) -> None:
    """处理后台任务（自动关闭会话等）；可以同时运行多个。"""
    settings = settings_from_env(database_url).with_secret()
    configure_logging(settings.log_level, settings.log_json)
    app_ = create_app(settings)
    ctx = app_.state.ctx
    w = jobs.Worker(ctx.db, ctx.jobs, worker_id=f"worker-{settings.instance_id}",
                    lease_seconds=settings.job_lease_seconds)
    start_job_chains(ctx.db, app_.state.report_mail)
    if once:
        n = w.run_pending(limit=1000)
        out.print(f"处理了 {n} 个任务")
        return
    stopping = {"flag": False}

    def _stop(*_: Any) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    w.run_forever(settings.worker_poll_seconds, stop=lambda: stopping["flag"])


@app.command()
@clean_errors
def voice(
    host: Annotated[str, typer.Option(help="媒体流 WebSocket 的监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口", min=1, max=65535)] = 8010,
    database_url: DbOption = None,
) -> None:
    """只运行语音媒体平面：领取排队的外呼、拨号、承载通话（运营商的媒体流连到这里）。"""
    settings = settings_from_env(database_url).model_copy(update={"voice_media": True, "run_jobs_in_process": False})
    _run_server(settings.with_secret(), host, port, 1)


@app.command()
@clean_errors
def demo(
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口", min=1, max=65535)] = 8000,
    data_dir: Annotated[Path, typer.Option(help="演示数据目录")] = Path("./demo-data"),
    reset: Annotated[bool, typer.Option(help="删除旧的演示数据库重新生成")] = False,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="只生成数据，不启动服务")] = False,
) -> None:
    """生成一个中文演示机构（SQLite），打印访问地址和账号，然后启动服务。"""
    data_dir = data_dir.resolve()
    db_path = data_dir / "edudesk-demo.db"
    if reset and db_path.exists():
        db_path.unlink()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(database_url=f"sqlite:///{db_path}", data_dir=data_dir,
                        base_url=f"http://{host}:{port}").with_secret()
    migrate.upgrade(settings.database_url)
    db = Database(settings.database_url)
    qc_hooks.attach(db.sessionmaker)  # the demo's closed conversation is inspected when the server starts
    try:
        with db.session() as session:
            info = demo_seed.seed(session)
            session.commit()
    finally:
        db.dispose()
    base = f"http://{host}:{port}"
    out.print(f"[bold]edudesk 演示已就绪：{info.org_name}[/bold]")
    out.print(f"  访客咨询页面（嵌入了聊天组件）：{base}/demo")
    out.print(f"  坐席工作台：{base}/console")
    out.print(f"  管理后台：{base}/admin（知识库：{base}/admin/kb）")
    out.print(f"  机构标识：{info.org_slug}")
    for username, password, role in info.logins:
        out.print(f"  登录 {role}：用户名 [bold]{username}[/bold]  密码 [bold]{password}[/bold]")
    if not no_serve:
        _run_server(settings, host, port, 1)


@org_app.command("create")
@clean_errors
def org_create(slug: str, name: str, database_url: DbOption = None) -> None:
    """新建机构。"""
    with database(database_url) as db, db.session() as session:
        org = orgs_service.create_org(session, slug=slug, name=name)
        session.commit()
        out.print(f"已创建机构 {org.slug}（组件公钥 {org.public_key}）")


@org_app.command("list")
@clean_errors
def org_list(database_url: DbOption = None) -> None:
    """列出机构。"""
    table = Table("标识", "名称", "组件公钥")
    with database(database_url) as db, db.session() as session:
        for org in session.scalars(select(Org).order_by(Org.id)):
            table.add_row(org.slug, org.name, org.public_key)
    out.print(table)


@user_app.command("create")
@clean_errors
def user_create(
    username: str,
    org: Annotated[str, typer.Option("--org", help="机构标识")],
    display_name: Annotated[str, typer.Option("--name", help="显示名称")],
    role: Annotated[str, typer.Option(help="admin / supervisor / agent")] = "agent",
    password: Annotated[str | None, typer.Option(help="不填则交互输入")] = None,
    database_url: DbOption = None,
) -> None:
    """新建坐席账号。"""
    if password is None:
        password = typer.prompt("密码", hide_input=True, confirmation_prompt=True)
    with database(database_url) as db, db.session() as session:
        org_row = orgs_service.get_by_slug(session, org)
        user = auth_service.create_user(session, Actor(org_row.id, label="cli"), username=username,
                                        password=password, display_name=display_name, role=role)
        session.commit()
        out.print(f"已创建 {user.username}（{user.role.value}）")


@user_app.command("list")
@clean_errors
def user_list(org: Annotated[str, typer.Option("--org", help="机构标识")], database_url: DbOption = None) -> None:
    """列出机构的坐席账号。"""
    table = Table("ID", "用户名", "名称", "角色", "状态")
    with database(database_url) as db, db.session() as session:
        org_row = orgs_service.get_by_slug(session, org)
        for u in auth_service.list_users(session, org_row.id):
            table.add_row(str(u.id), u.username, u.display_name, u.role.value, "启用" if u.is_active else "停用")
    out.print(table)


@user_app.command("disable")
@clean_errors
def user_disable(username: str, org: Annotated[str, typer.Option("--org", help="机构标识")],
                 database_url: DbOption = None) -> None:
    """停用账号（立即踢出已登录的会话）。"""
    with database(database_url) as db, db.session() as session:
        org_row = orgs_service.get_by_slug(session, org)
        user = auth_service.find_user(session, org_row.id, username)
        if user is None:
            fail(f"机构 {org} 下没有用户 {username}")
            return
        auth_service.set_active(session, Actor(org_row.id, label="cli"), user, False)
        session.commit()
        out.print(f"已停用 {username}")


@app.command()
@clean_errors
def bench(
    url: Annotated[str, typer.Option(help="被测服务地址（服务须已在运行）")] = "http://127.0.0.1:8000",
    org_key: Annotated[str, typer.Option("--org-key", help="机构的组件公钥 pk_…")] = "",
    visitors: Annotated[int, typer.Option(help="同时在线的访客连接数", min=1, max=100_000)] = 100,
    rate: Annotated[float, typer.Option(help="所有访客合计每秒发送的消息数", min=0)] = 10.0,
    duration: Annotated[float, typer.Option(help="全部连接建立后持续发送的秒数", min=0.1)] = 30.0,
    server_pid: Annotated[int | None, typer.Option("--server-pid", help="服务进程 PID，用于采样内存和 CPU")] = None,
    ramp: Annotated[float, typer.Option(help="每秒新建的连接数（逐步建连，避免压垮 accept）", min=1)] = 200.0,
    text: Annotated[list[str] | None, typer.Option(
        "--text", help="访客消息文本，可重复；默认几条问学费、试听、上课时间的问题")] = None,
    open_conversations: Annotated[bool, typer.Option(
        help="每位访客建连时先发一条消息开启会话（单独统计，不计入计时发送的速率和往返）")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="只输出一个 JSON 对象")] = False,
) -> None:
    """压测运行中的服务：N 个访客同时保持 WebSocket 连接，按给定速率提问，测量机器人回复往返、吞吐、错误和内存。"""
    if not org_key:
        fail("请用 --org-key 指定机构的组件公钥（edudesk org list 可查看）")
    cfg = bench_mod.BenchConfig(url=url, org_key=org_key, visitors=visitors, rate=rate, duration=duration,
                                server_pid=server_pid, ramp=ramp, texts=tuple(text or bench_mod.DEFAULT_TEXTS),
                                open_conversations=open_conversations)
    if not as_json:
        print(f"正在建立 {visitors} 个访客连接，然后以每秒 {rate} 条发送 {duration} 秒 …", file=sys.stderr)
    try:
        result = bench_mod.run(cfg)
    except bench_mod.BenchError as exc:
        fail(str(exc))
        return
    if as_json:
        print(bench_mod.to_json(result))
    else:
        out.print(bench_mod.render_table(result))


def main() -> None:
    app()

