"""The FastAPI application factory: settings, database, bus, hub, routers, templates and lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from typing import Any, cast

import anyio
import httpx
import redis
import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket, WebSocketState

from edudesk import heapfreeze, jobs, switching
from edudesk import routers as routers_module
from edudesk.analytics import digest_jobs as analytics_digest_jobs
from edudesk.analytics import digest_settings as analytics_digest_settings
from edudesk.analytics import jobs as analytics_jobs
from edudesk.analytics import marks as analytics_marks
from edudesk.analytics import service as analytics_service
from edudesk.apischema import replace_default_validation_error
from edudesk.auth.deps import Forbidden, LoginRequired
from edudesk.bot import service as bot_service
from edudesk.channels.base import ChannelRegistry, ChannelServices
from edudesk.context import AppContext
from edudesk.conversations import service as conversations_service
from edudesk.db import DATABASE_UNAVAILABLE, Database, NotFoundError
from edudesk.errors import DomainError
from edudesk.events import RedisEventBus, make_bus
from edudesk.foreground import FOREGROUND
from edudesk.i18n import Catalogues, LocaleMiddleware
from edudesk.inboxes import service as inboxes_service
from edudesk.internal_errors import InternalErrorMiddleware
from edudesk.kb import quality as kb_quality
from edudesk.llm import setup as llm_setup
from edudesk.llm.assist import wiring as llm_assist
from edudesk.logsetup import configure_logging
from edudesk.nlp import embedding
from edudesk.outbound import direct as outbound_direct
from edudesk.outbound import service as outbound_service
from edudesk.privacy import jobs as privacy_jobs
from edudesk.privacy import service as privacy_service
from edudesk.qc import hooks as qc_hooks
from edudesk.qc import sampling as qc_sampling
from edudesk.ratelimit import RateLimited, make_limiter
from edudesk.realtime import Hub, Presence
from edudesk.routing import handover
from edudesk.routing import presence as routing_presence
from edudesk.routing import runner as routing_runner
from edudesk.security import (
    BodyLimitMiddleware,
    SecurityHeadersMiddleware,
    StaffSessionMiddleware,
    WidgetCorsMiddleware,
)
from edudesk.settings import Settings
from edudesk.shortcuts import ShortcutMiddleware
from edudesk.stalls import StallMonitor
from edudesk.textguard import reject_unstorable_text
from edudesk.tickets import timers as tickets_timers
from edudesk.tls import client_context
from edudesk.visitors import runtime as visitors_runtime
from edudesk.visitors import service as visitors_service
from edudesk.visitors import writer as visitors_writer
from edudesk.voice import admin_wiring as voice_admin_wiring
from edudesk.voice import wiring as voice_wiring
from edudesk.voice.campaigns import jobs as voice_campaign_jobs
from edudesk.voice.live import LiveCalls
from edudesk.web import (
    STATIC_DIR,
    allowed_methods,
    browser_navigation,
    domain_error_response,
    error_response,
    make_templates,
    page,
    wants_json,
)
from edudesk.webhooks import delivery as webhooks_delivery
from edudesk.webhooks import service as webhooks_service
from edudesk.webhooks.urls import UrlPolicy
from edudesk.wsframes import CLOSE_TRY_AGAIN_LATER

log = structlog.get_logger(__name__)
# Routes that take a file: their bodies may be as large as EDUDESK_MAX_UPLOAD_BYTES / EDUDESK_MAX_IMPORT_BYTES.
UPLOAD_PATHS = ("/api/v1/widget/attachments", "/admin/kb/import", "/admin/llm/documents",
                *voice_admin_wiring.UPLOAD_PATHS)
# Landing-page forms post from institutions' pages too (leadforms.public): the same CORS answers.
WIDGET_API_PREFIXES = ("/api/v1/widget/", "/api/v1/forms/")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if wants_json(request):
            return error_response(401, "login_required", "请先登录")
        if request.headers.get("hx-request") == "true":
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        if wants_json(request):
            return error_response(403, "forbidden", "没有权限执行此操作")
        return page(request, "error.html", status_code=403, title="没有权限", message="您的角色无权访问此页面。")

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> Response:
        if wants_json(request):
            return error_response(404, "not_found", "记录不存在")
        return page(request, "error.html", status_code=404, title="找不到", message="记录不存在或已被删除。")

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        return domain_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "form")]
        message = f"参数不合法：{first.get('msg', '')}"
        if (not wants_json(request) and request.method != "GET") or browser_navigation(request):
            return page(request, "error.html", status_code=422, title="输入有误", message=message)
        code = "invalid_text" if first.get("type") == "unstorable_text" else "invalid_request"
        return error_response(422, code, message, ".".join(loc) or None)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, exc: Exception) -> Response:
        # A number or text the database cannot hold that a form parsed by hand let through (SQLite raises
        # OverflowError for an integer past 2^63, PostgreSQL a DataError): the input is at fault, not the server.
        log.warning("database_refused_input", path=request.url.path, error=type(exc).__name__)
        message = "参数不合法：数值或文本超出可保存的范围"
        if (not wants_json(request) and request.method != "GET") or browser_navigation(request):
            return page(request, "error.html", status_code=422, title="输入有误", message=message)
        return error_response(422, "invalid_request", message)

    @app.exception_handler(RateLimited)
    async def _rate_limited(request: Request, exc: RateLimited) -> Response:
        resp = error_response(429, "rate_limited", exc.message)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "http_error")
        if exc.status_code == 404 and browser_navigation(request):
            return page(request, "error.html", status_code=404, title="找不到", message="这个页面不存在。")
        response = error_response(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # Allow must list every method of the URL, not those of one route (RFC 9110)
            response.headers["allow"] = ", ".join(allowed_methods(request))
        return response


DATABASE_RETRY_AFTER_SECONDS = 5


def install_database_error_handler(app: FastAPI) -> None:
    """503 ``database_unavailable`` (a page for a person in a browser) instead of a 500 and a traceback page.

    The pool drops the broken connection when the error surfaces, so the next request gets a fresh one: edudesk
    recovers by itself once the database is back (docs/faults.md)."""

    async def _unavailable(request: HTTPConnection, exc: Exception) -> Response | None:
        log.error("database_unavailable", path=request.url.path, error=f"{type(exc).__name__}: {exc}"[:300])
        if request.scope["type"] == "websocket":
            # A socket gets a close it recovers from: 1013 "try again later"; the widget reconnects with backoff
            # and resends what was not acknowledged. Accepted first, so that the code reaches the client.
            websocket = cast(WebSocket, request)
            with contextlib.suppress(Exception):
                if websocket.application_state == WebSocketState.CONNECTING:
                    await websocket.accept()
                if websocket.application_state == WebSocketState.CONNECTED:
                    await websocket.close(code=CLOSE_TRY_AGAIN_LATER, reason="database unavailable")
            return None
        assert isinstance(request, Request)
        headers = {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
        if browser_navigation(request):
            resp: Response = page(request, "error.html", status_code=503, title="服务暂时不可用",
                                  message="数据库暂时无法连接，请稍后刷新重试。")
            resp.headers.update(headers)
            return resp
        resp = error_response(503, "database_unavailable", "数据库暂时无法连接，请稍后重试")
        resp.headers.update(headers)
        return resp

    for cls in DATABASE_UNAVAILABLE:
        app.add_exception_handler(cls, _unavailable)  # type: ignore[arg-type]  # one handler for HTTP and sockets


# Lead sources that arrive without a chat channel (landing-page forms, the API, an import).
NON_CHAT_SOURCES = {"form": "表单", "import": "导入", "manual": "手动录入"}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = (settings or Settings()).with_secret()
    configure_logging(settings.log_level, settings.log_json)
    if settings.freeze_heap:  # a serving process's memory settings (heapfreeze.py); tests build hundreds of apps
        heapfreeze.limit_malloc_arenas(2)
        switching.set_gil_switch_interval(settings.gil_switch_interval_ms)
    db = Database(settings.database_url, pool_size=settings.pool_size, max_overflow=settings.database_max_overflow)
    bus = make_bus(settings.redis_url, settings.redis_namespace)
    bus.attach(db.sessionmaker)
    hub = Hub(Presence(settings.redis_url, settings.instance_id, settings.redis_namespace))
    bus.subscribe(hub.on_event)
    if isinstance(bus, RedisEventBus):
        bus.on_resubscribed(hub.resync)
    job_registry = jobs.JobRegistry()
    job_registry.register(conversations_service.CLOSE_RESOLVED_JOB, conversations_service.close_resolved_job)
    job_registry.register(tickets_timers.SLA_CHECK_JOB, tickets_timers.sla_check_job)
    job_registry.register(tickets_timers.AUTO_CLOSE_JOB, tickets_timers.auto_close_job)
    job_registry.register(handover.QUEUE_TIMEOUT_JOB, handover.queue_timeout_job)
    job_registry.register(webhooks_service.DELIVER_JOB, webhooks_delivery.Deliverer(
        webhooks_service.secret_box(settings.secret_key), UrlPolicy(allow_private=settings.webhooks_allow_private)))
    privacy = privacy_service.make_registry(settings.upload_dir, settings.privacy_purge_batch)
    privacy_jobs.register(job_registry, privacy)
    visitors_service.register_jobs(job_registry)
    kb_quality.register_jobs(job_registry)
    # The e-mailed summary (issue 15) reads the same numbers as the dashboards' pages.
    report_mail = analytics_digest_jobs.ReportMail(analytics_digest_settings.secret_box(settings.secret_key),
                                                   settings.base_url, dashboards=analytics_service.dashboard)
    report_mail.register(job_registry)
    # Quality inspection (docs/qc.md): every conversation closed through this factory's sessions gets its
    # inspection job in the closing transaction; the areas below never import qc.
    qc_hooks.attach(db.sessionmaker)
    qc_hooks.register(job_registry)
    analytics_jobs.register(job_registry)
    voice_admin_wiring.register(job_registry, privacy, settings)
    voice_campaign_jobs.register(job_registry)
    # Every transaction that changes what a dashboard counts marks its day for the roll-up jobs (analytics.marks).
    analytics_marks.attach(db.sessionmaker)
    channels = ChannelRegistry()
    channels.load_entry_points()
    channels.services = make_channel_services(settings)
    deliverer = outbound_service.Deliverer(channels, inboxes_service.secret_box(settings.secret_key),
                                           settings.upload_dir)
    job_registry.register(outbound_service.DELIVER_JOB, deliverer)
    direct = None
    if settings.delivers_on_commit:
        direct = outbound_direct.Direct(db, deliverer, threads=settings.deliver_on_commit_threads)
        direct.attach(db.sessionmaker)
    wakeup = jobs.Wakeup()
    wakeup.attach(db.sessionmaker)
    catalogues = Catalogues()
    bots = bot_service.make_runtime(db)
    llm = llm_setup.install(settings, job_registry)  # off for every org until it configures an endpoint
    bus.subscribe(bots.on_event)
    # Who is on the site now (docs/visitors.md): fed by page views on the bus and by widget sockets.
    live = visitors_runtime.make_live(settings, db)
    bus.subscribe(live.on_event)
    dispatcher = routing_runner.Dispatcher(db)
    bus.subscribe(dispatcher.on_event)
    agent_sync = routing_runner.AgentPresenceSync(db)
    hub.agent_listener = agent_sync
    limiter = make_limiter(settings)
    trail = visitors_runtime.Trail(db, visitors_writer.BeaconWriter(
        db, max_rows=settings.trail_batch_rows, interval=settings.trail_flush_seconds,
        capacity=settings.trail_queue_capacity))
    templates = make_templates(catalogues)
    # Channel names for the console, lead lists and reports: every registered adapter's, plus the lead sources
    # that are not chat channels.
    templates.env.globals["channel_labels"] = {**channels.labels(), **NON_CHAT_SOURCES}
    templates.env.globals["channel_badges"] = channels.badges()
    llm_assist.install(db.sessionmaker, job_registry, templates, llm)  # 服务小结 on resolve, assist buttons
    ctx = AppContext(settings=settings, db=db, bus=bus, hub=hub, jobs=job_registry, channels=channels,
                     templates=templates, catalogues=catalogues, bots=bots, limiter=limiter, llm=llm)
    # Adapters with background work of their own (微信客服 pulls its messages in a job) register its handlers.
    for kind in channels.kinds:
        register_jobs = getattr(channels.get(kind), "register_jobs", None)
        if register_jobs is not None:
            register_jobs(job_registry, ctx)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub.bind_loop(asyncio.get_running_loop())
        wakeup.bind_loop(asyncio.get_running_loop())
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        await bus.start()
        # The embedding model and the jieba dictionary load before the first visitor, not during their question;
        # the model's token table is memory-mapped from the data directory, shared by every process (nlp/embedding).
        embedding.map_shared_table_in(settings.data_dir / "cache")
        await anyio.to_thread.run_sync(functools.partial(bot_service.warm_up, name_model=settings.name_model))
        tasks = [asyncio.create_task(_presence_heartbeat(hub, agent_sync)), asyncio.create_task(dispatcher.run())]
        stall_monitor.start()  # GC pauses and event-loop lag on /metrics (docs/performance.md, "Stalls")
        live.start()
        trail.start()
        if settings.voice_media:  # the media plane (docs/voice.md, "Media plane and telephony")
            app.state.voice_plane = voice_wiring.make_plane(settings, db, app.state.voice_live, bots=bots)
            await app.state.voice_plane.start()
        if settings.freeze_heap:
            # What is loaded by now (language models, dictionaries, the user-agent rules) lives as long as the
            # process. Moved out of the collector's reach, it no longer makes every full collection walk millions
            # of objects with the GIL held — a stall of ~200 ms on every request in flight (docs/performance.md).
            # Open sockets' objects are frozen the same way as they age (heapfreeze.py).
            heapfreeze.settle()
            freezer = heapfreeze.HeapFreezer(settings.heap_freeze_seconds,
                                             max(settings.heap_freeze_seconds, settings.heap_settle_minutes * 60))
            tasks.append(asyncio.create_task(freezer.run()))
        if settings.jobs_in_process:
            await anyio.to_thread.run_sync(start_job_chains, db, report_mail)
            # Several loops, each claiming a few jobs: a reply's delivery waits on the provider's API (network), so
            # one loop sending one message after another caps a channel at one round trip's worth per second.
            background = job_registry.background_kinds
            for n in range(settings.job_loops):
                worker = jobs.Worker(db, job_registry, worker_id=f"serve-{settings.instance_id}-{n}",
                                     lease_seconds=settings.job_lease_seconds, excluded_kinds=background)
                tasks.append(asyncio.create_task(jobs.run_in_process(worker, settings.worker_poll_seconds, wakeup)))
            # The jobs nobody waits for: one at a time, each once no visitor has been answered for a moment.
            worker = jobs.Worker(db, job_registry, worker_id=f"serve-{settings.instance_id}-bg",
                                 lease_seconds=settings.job_lease_seconds, kinds=background)
            tasks.append(asyncio.create_task(jobs.run_in_process(
                worker, settings.worker_poll_seconds, wakeup, per_claim=1, before_claim=FOREGROUND.wait_for_pause)))
        log.info("edudesk_started", database=db.dialect, redis=bool(settings.redis_url),
                 jobs_in_process=settings.jobs_in_process)
        try:
            yield
        finally:
            await stall_monitor.stop()
            dispatcher.stop()
            if app.state.voice_plane is not None:
                await app.state.voice_plane.stop()
            await anyio.to_thread.run_sync(live.stop)
            live.registry.close()
            await anyio.to_thread.run_sync(trail.stop)  # the page views still queued are stored
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await bus.stop()
            if direct is not None:
                await anyio.to_thread.run_sync(direct.close)
            hub.presence.close()
            limiter.close()
            close_channel_services(channels.services)
            llm.close()
            db.dispose()

    # Every route, present and future, refuses text no database can store before it runs (see textguard).
    app = FastAPI(title="edudesk", version="0.1.0", lifespan=lifespan, docs_url="/api/docs",
                  openapi_url="/api/openapi.json", redoc_url=None, dependencies=[Depends(reject_unstorable_text)])
    app.state.ctx = ctx
    app.state.privacy = privacy
    app.state.live = live
    app.state.trail = trail
    app.state.voice_live, app.state.voice_plane = LiveCalls(), None
    app.state.report_mail = report_mail
    app.state.deliver_on_commit = direct
    app.state.phone_audit = privacy_service.PhoneAccessAudit(settings.phone_audit_window_seconds)
    # The dashboards' numbers (analytics/source.py); tests may put a fake source here.
    app.state.dashboards = analytics_service
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        return replace_default_validation_error(default_openapi())

    app.openapi = openapi  # type: ignore[method-assign]
    install_error_handlers(app)
    install_database_error_handler(app)
    # Innermost: a route's unexpected exception becomes a logged 500 that still gets the session, locale and
    # security headers of the middlewares below; the outermost copy (after CORS) catches the middlewares' own.
    app.add_middleware(InternalErrorMiddleware)
    app.add_middleware(StaffSessionMiddleware, secret_key=settings.secret_key, session_cookie="edudesk_session",
                       max_age=settings.session_max_age_seconds, same_site="lax", https_only=settings.secure_cookies)
    app.add_middleware(LocaleMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes,
                       upload_max_bytes=settings.max_upload_body_bytes, upload_paths=UPLOAD_PATHS)
    # The widget API is called from institutions' own sites (without cookies); answers name only allowed origins.
    app.add_middleware(WidgetCorsMiddleware, prefixes=WIDGET_API_PREFIXES)
    app.add_middleware(SecurityHeadersMiddleware, hsts_seconds=settings.hsts_seconds,
                       always_secure_cookies=settings.secure_cookies)
    app.add_middleware(InternalErrorMiddleware)
    # Outermost: the channels' hottest endpoints (the widget's beacon) through the middlewares above, less those
    # each says it does not need, and the app's exception handlers, without routing (edudesk/shortcuts.py).
    app.add_middleware(ShortcutMiddleware, stack=app.user_middleware, handlers=app.exception_handlers, shortcuts=[
        s for kind in channels.kinds for s in getattr(channels.get(kind), "shortcuts", list)()])
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Channels' routes first: routes are matched in order, one by one, and the widget's are the hottest (a beacon
    # per page view of every visitor; docs/performance.md). No channel path overlaps an area's.
    for kind in channels.kinds:
        make_router = getattr(channels.get(kind), "router", None)
        if make_router is not None:
            app.include_router(make_router())
    for router in routers_module.area_routers():
        app.include_router(router)

    metrics = CollectorRegistry()
    stall_monitor = StallMonitor(metrics)
    Gauge("edudesk_ws_connections", "open WebSocket connections", registry=metrics).set_function(
        lambda: hub.connection_count)
    # The visitor trail's writer (docs/visitors.md): what it accepted, stored, dropped, and in how many batches.
    for name, what in (("accepted", "page views queued"), ("written", "page views stored"),
                       ("duplicates", "repeated page views skipped"), ("dropped", "page views dropped (queue full)"),
                       ("batches", "trail batches committed"), ("failed_batches", "trail batches that failed")):
        Gauge(f"edudesk_trail_{name}", what, registry=metrics).set_function(
            functools.partial(getattr, trail.writer.stats, name))

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/console", status_code=303)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        with db.session() as session:
            session.connection().exec_driver_sql("SELECT 1")
        return {"ok": True, "database": db.dialect, "connections": hub.connection_count}

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return PlainTextResponse(generate_latest(metrics), media_type=CONTENT_TYPE_LATEST)

    return app


def start_job_chains(db: Database, report_mail: analytics_digest_jobs.ReportMail) -> None:
    """Starts every self-rescheduling job chain that has no run waiting: wherever jobs run (a serving process with
    in-process jobs, or `edudesk worker`), so a new chain is added in one place. Idempotent."""
    privacy_jobs.ensure_scheduled(db)
    report_mail.ensure_scheduled(db)
    qc_sampling.ensure_scheduled(db)
    analytics_jobs.ensure_scheduled(db)
    voice_admin_wiring.ensure_scheduled(db)
    voice_campaign_jobs.ensure_scheduled(db)


async def _presence_heartbeat(hub: Hub, agents: routing_runner.AgentPresenceSync) -> None:
    while True:
        await asyncio.sleep(routing_presence.HEARTBEAT_SECONDS)
        with contextlib.suppress(Exception):
            await anyio.to_thread.run_sync(hub.presence.heartbeat)
        connected = {org_id: set(users) for org_id, users in hub.presence.local.items() if users}
        try:
            await anyio.to_thread.run_sync(agents.heartbeat, connected)
        except Exception:
            log.exception("agent_heartbeat_failed")


def make_channel_services(settings: Settings) -> ChannelServices:
    """One pooled HTTP client for every call to a channel provider (keep-alive to api.weixin.qq.com saves a TLS
    handshake per message), and Redis for the access tokens every instance shares."""
    timeout = httpx.Timeout(settings.channel_http_timeout_seconds)
    # trust_env=False: an HTTP(S)_PROXY of the server's environment must not carry channel traffic elsewhere.
    http = httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False, verify=client_context(),
                        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20))
    client = redis.Redis.from_url(settings.redis_url) if settings.redis_url else None
    return ChannelServices(settings=settings, http=http, redis=client, upload_dir=settings.upload_dir)


def close_channel_services(services: ChannelServices | None) -> None:
    if services is None:
        return
    with contextlib.suppress(Exception):
        services.http.close()
    for extra in list(services.extras.values()):  # adapters' own pools (the WeChat API's kept-alive connections)
        if callable(getattr(extra, "close", None)):
            with contextlib.suppress(Exception):
                extra.close()
    if services.redis is not None:
        with contextlib.suppress(Exception):
            services.redis.close()


def app_from_env() -> FastAPI:
    """Entry point for ``uvicorn --factory edudesk.app:app_from_env`` (used by ``edudesk serve --workers N``)."""
    return create_app(Settings())
