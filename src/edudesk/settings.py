"""Every knob of edudesk, read from ``EDUDESK_*`` environment variables.

Settings are built by the app factory and the CLI and passed down; nothing reads the environment at import time.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from edudesk.ratelimit import parse_rate

# Database connections beyond the worker threads: the dispatcher's sweep, presence heartbeats, in-process jobs.
POOL_EXTRA_CONNECTIONS = 5


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDUDESK_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./edudesk.db"
    redis_url: str | None = None
    # Prefix of every Redis key and channel, so several deployments (or test runs) can share one Redis.
    redis_namespace: str = "edudesk"
    # Signs sessions and visitor tokens. Unset: generated once and kept in ``data_dir/secret_key``.
    secret_key: str = ""
    data_dir: Path = Path("./data")
    base_url: str = "http://127.0.0.1:8000"
    default_locale: str = "zh"
    # A visitor message longer than this is refused, not truncated.
    max_message_chars: int = 2000
    max_upload_bytes: int = 5 * 1024 * 1024
    # Visitor messages allowed per rolling minute per visitor; a burst beyond this is refused with rate_limited.
    visitor_messages_per_minute: int = 60
    login_attempts_per_15min: int = 10
    session_max_age_seconds: int = 12 * 3600
    # After a conversation is resolved it is closed automatically if the visitor neither rates nor writes.
    close_resolved_after_seconds: int = 30 * 60
    secure_cookies: bool = False
    log_level: str = "INFO"
    log_json: bool = False
    instance_id: str = Field(default_factory=lambda: secrets.token_hex(4))
    worker_poll_seconds: float = 1.0
    # Threads that run blocking work (database sessions, sync routes) beside the event loop; anyio's default is 40.
    # More threads than database connections only queue for the pool while contending for the GIL.
    worker_threads: int = Field(default=40, ge=1, le=1000)
    # PostgreSQL connections kept open per process. Unset: one per worker thread plus a few for the background
    # loops, so a burst never closes and reopens connections (each reopening forks a PostgreSQL backend, and under
    # load that churn cost more CPU than the queries). Connections are opened only when needed; a process under
    # full load holds up to pool size + overflow, which PostgreSQL's max_connections must allow for every process.
    database_pool_size: int | None = Field(default=None, ge=1, le=1000)
    database_max_overflow: int = Field(default=10, ge=0, le=1000)
    # The LAC name tagger behind field extraction costs ~120 MB and ~1–2 ms on messages with a possible name; the
    # patterns (我姓王, 王妈妈, 叫我李老师 …) find how visitors introduce themselves without it. Off by default.
    name_model: bool = False
    # Lets webhook URLs point at loopback, private and link-local addresses (tests, or a receiver on the same LAN).
    # Off by default: an admin-entered URL must not make the server call its own internal network (SSRF).
    webhooks_allow_private: bool = False
    # Lets an org's large-model endpoint (docs/llm.md) and the document pages an admin enters be on loopback,
    # private and link-local addresses: an Ollama / vLLM server on the same machine or LAN, and the tests' fake.
    # Off by default, for the same reason as webhooks: the server calls what an admin typed (SSRF).
    llm_allow_private: bool = False
    # The largest document an admin may upload for grounded answers (PDF, DOCX, Markdown, text).
    llm_max_document_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    # Where the WeChat Official Account and WeCom APIs are (tests and the benchmark point them at a fake on
    # 127.0.0.1; a proxy in front of WeChat's API is the other use).
    wechat_api_base: str = "https://api.weixin.qq.com"
    wecom_api_base: str = "https://qyapi.weixin.qq.com"
    # Where WeChat draws a parametric QR code's picture (showqrcode?ticket=…): fetched by the admin page, whose
    # CSP loads no other origin's images.
    wechat_mp_base: str = "https://mp.weixin.qq.com"
    # Each call to a channel provider's API (connect, read) gives up after this long and is retried from the outbox.
    channel_http_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # In embedded (SQLite) mode the serve process runs jobs itself so that `edudesk demo` needs nothing else.
    run_jobs_in_process: bool | None = None
    # Privacy (docs/privacy.md). A staff member who saw a contact's full phone number in one place is audited once
    # per this window per (place, contacts): the console re-renders the lead card on every visitor message, and one
    # entry per refresh would bury the log without telling anyone more. Rows per retention batch: one transaction.
    phone_audit_window_seconds: int = Field(default=600, ge=0, le=86_400)
    privacy_purge_batch: int = Field(default=200, ge=1, le=10_000)
    # The visitor trail's writer (docs/visitors.md): page views are stored in batches of at most this many rows,
    # at least every this many seconds; beyond the queue's capacity page views are dropped (and counted).
    # gc.freeze() after the warm-up, then the survivors every heap_freeze_seconds and one full collection every
    # heap_settle_minutes (heapfreeze.py, docs/performance.md "Stalls"): off in tests, where one process builds
    # hundreds of apps.
    freeze_heap: bool = True
    # How often the serving process hands the GIL between threads (switching.py): shorter than CPython's 5 ms so a
    # thread holding the SQLite write gate, or the event loop, gets it back soon; 0 keeps the interpreter's own.
    gil_switch_interval_ms: float = Field(default=0.5, ge=0, le=100)
    heap_freeze_seconds: float = Field(default=5.0, gt=0, le=3600)
    heap_settle_minutes: float = Field(default=60.0, gt=0, le=24 * 60)
    trail_batch_rows: int = Field(default=500, ge=1, le=10_000)
    trail_flush_seconds: float = Field(default=0.5, gt=0, le=10)
    trail_queue_capacity: int = Field(default=50_000, ge=10, le=1_000_000)

    # Faults (docs/faults.md): a worker renews the lease of the jobs it holds every third of this; the jobs of a
    # worker killed mid-run are run again by another worker at most this long after its last renewal.
    job_lease_seconds: float = Field(default=60.0, ge=1.0, le=3600.0)
    # Job loops a server runs side by side when it runs jobs in process (each is one thread at a time).
    job_loops: int = Field(default=4, ge=1, le=64)
    # Channel replies (docs/channels.md, "The outbox"): the process that commits a message for a connected channel
    # sends it at once on one of `deliver_on_commit_threads` threads, the `channels.deliver` job kept as the safety
    # net. Unset: on where jobs run in process (SQLite by default); set it true on PostgreSQL web processes too.
    deliver_on_commit: bool | None = None
    deliver_on_commit_threads: int = Field(default=4, ge=1, le=64)

    # WebSocket frames (docs/protocol.md, "Limits"): the largest frame, in bytes, either socket reads. `edudesk serve`
    # hands it to uvicorn as ws_max_size, which closes the socket with 1009 before buffering a larger frame. A
    # message of EDUDESK_MAX_MESSAGE_CHARS characters fits with room to spare (2000 CJK characters ≈ 6 KB).
    max_frame_bytes: int = Field(default=16 * 1024, ge=4096, le=1024 * 1024)

    # ---- Voice speech engines (docs/voice.md, "Call robot and engines") ----
    # Recogniser: "none" (voice features say 未配置语音识别 and refuse), "scripted" (tests and the demo), "sherpa"
    # (sherpa-onnx streaming model from asr_model_dir, EDUDESK_ASR_MODEL_DIR), "http" (a cloud ASR at asr_url).
    voice_asr: str = "none"
    asr_model_dir: Path | None = None
    asr_url: str = ""
    # Synthesiser: "espeak" (espeak-ng, Mandarin), "prompts" (recorded WAVs in voice_prompt_dir, espeak for the
    # rest), "http" (a cloud TTS at tts_url). Recorded prompts in voice_prompt_dir are used first by every choice.
    voice_tts: str = "espeak"
    tts_url: str = ""
    voice_prompt_dir: Path | None = None

    # ---- Voice media plane (docs/voice.md, "Media plane and telephony") ----
    # Run the media plane in this server process (claims queued calls, dials, carries answered calls);
    # `edudesk voice` runs it alone.
    voice_media: bool = False
    # Where carriers open the media stream of the calls this process dials (default: base_url's /voice/media).
    voice_media_url: str = ""
    # Asterisk AudioSocket server "host:port" (empty: off), and the address Asterisk is told to connect to.
    voice_audiosocket_listen: str = ""
    voice_audiosocket_address: str = ""
    # The SIP user agent's UDP "host:port" (empty: off), and the address put in Contact / SDP (behind NAT).
    voice_sip_listen: str = ""
    voice_sip_address: str = ""
    # A process renews its calls' claims every third of this; a dead process's calls are ended after it.
    voice_lease_seconds: float = Field(default=30.0, ge=2.0, le=3600.0)
    voice_poll_seconds: float = Field(default=1.0, gt=0, le=60.0)
    voice_ring_timeout_seconds: int = Field(default=30, ge=5, le=300)

    # ---- Limits and security headers (docs/limits.md lists every limit with its default) ----
    # Request rates as "COUNT/PERIOD" (PERIOD: second, minute, hour, day, or e.g. 15minute); "0/minute" blocks.
    # Counted in Redis when EDUDESK_REDIS_URL is set (shared by every instance), else in this process's memory.
    rate_limits_enabled: bool = True
    rate_widget_session_per_ip: str = "120/minute"
    rate_widget_session_per_org: str = "6000/minute"
    # New visitor identities (a session call without a token): each one can become a contact, so they are scarcer.
    rate_widget_identity_per_ip: str = "60/hour"
    rate_widget_identity_per_org: str = "3000/hour"
    rate_message_per_ip: str = "120/minute"
    rate_message_per_org: str = "3000/minute"
    rate_upload_per_ip: str = "20/minute"
    rate_upload_per_org: str = "300/minute"
    rate_form_per_ip: str = "10/minute"
    rate_form_per_org: str = "300/hour"
    rate_login_per_ip: str = "30/minute"
    # Messages integrators post to API channel inboxes (POST /api/v1/channels/{inbox}/messages): one backend speaks
    # for many users from one address, so the per-address rule is wider than a visitor's.
    rate_api_message_per_ip: str = "1200/minute"
    rate_api_message_per_org: str = "3000/minute"
    # Page-view beacons of the visitor trail (POST /api/v1/widget/beacon): one per page view, so many per visitor;
    # an office or school NAT puts many visitors behind one address.
    rate_beacon_per_ip: str = "600/minute"
    rate_beacon_per_org: str = "120000/minute"
    # Failed logins are counted in the database (table login_attempts), so they survive restarts on every backend.
    # Unset: EDUDESK_LOGIN_ATTEMPTS_PER_15MIN (the older setting) per 15 minutes, and five times that per address.
    rate_login_failures_per_account: str = ""
    rate_login_failures_per_ip: str = ""
    # HTTP request bodies: checked on Content-Length and while streaming; uploads get the larger limit.
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_import_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    # Spreadsheets (XLSX) are checked before parsing: total decompressed size, per-member compression ratio, cells.
    xlsx_max_unzipped_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    xlsx_max_ratio: int = Field(default=200, ge=10)
    xlsx_max_cells: int = Field(default=500_000, ge=1)
    # Addresses whose X-Forwarded-For / X-Forwarded-Proto are believed (uvicorn's forwarded_allow_ips): the
    # reverse proxy in front of edudesk. Comma-separated IPs or CIDRs; "*" trusts everyone (never on the internet).
    trusted_proxies: str = "127.0.0.1"
    # Strict-Transport-Security max-age sent on HTTPS responses (0 = no HSTS header).
    hsts_seconds: int = Field(default=365 * 86400, ge=0)

    @field_validator(
        "rate_widget_session_per_ip", "rate_widget_session_per_org", "rate_widget_identity_per_ip",
        "rate_widget_identity_per_org", "rate_message_per_ip", "rate_message_per_org", "rate_upload_per_ip",
        "rate_upload_per_org", "rate_form_per_ip", "rate_form_per_org", "rate_login_per_ip",
        "rate_login_failures_per_account", "rate_login_failures_per_ip", "rate_api_message_per_ip",
        "rate_api_message_per_org", "rate_beacon_per_ip", "rate_beacon_per_org",
    )
    @classmethod
    def _check_rate(cls, value: str) -> str:
        if value:
            parse_rate(value)  # raises ValueError with a message naming the expected form
        return value

    @property
    def max_upload_body_bytes(self) -> int:
        """The body limit of the upload routes: the largest file they take plus room for the multipart framing."""
        return max(self.max_upload_bytes, self.max_import_bytes, self.llm_max_document_bytes) + 256 * 1024

    @field_validator("database_url")
    @classmethod
    def _normalise_pg_driver(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        if not value.startswith(("sqlite:///", "postgresql+psycopg://")):
            raise ValueError("EDUDESK_DATABASE_URL must be sqlite:///PATH or postgresql://USER@HOST/DB")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def jobs_in_process(self) -> bool:
        if self.run_jobs_in_process is not None:
            return self.run_jobs_in_process
        return self.is_sqlite

    @property
    def delivers_on_commit(self) -> bool:
        return self.jobs_in_process if self.deliver_on_commit is None else self.deliver_on_commit

    @property
    def pool_size(self) -> int:
        return self.database_pool_size or self.worker_threads + POOL_EXTRA_CONNECTIONS

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "uploads"

    def with_secret(self) -> Settings:
        """Fills ``secret_key`` from the data directory, creating it on first run, so restarts keep sessions."""
        if self.secret_key:
            return self
        path = self.data_dir / "secret_key"
        if path.exists():
            key = path.read_text().strip()
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            key = secrets.token_urlsafe(48)
            path.write_text(key)
            path.chmod(0o600)
        return self.model_copy(update={"secret_key": key})
