"""The admin pages through the real app: endpoint settings (bad URL, SSRF-refused host, the write-only key), the
connection test, the grounded switch and its gate, documents (upload, errors, versions, web pages, delete),
admins only, audited, org isolation. Both databases."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.app import create_app
from edudesk.audit.models import AuditEntry
from edudesk.db import Database
from edudesk.llm import client as llm_client
from edudesk.llm.documents.extract import DocumentError
from edudesk.llm.documents.fetch import fetch_page
from edudesk.llm.models import LlmDocument, LlmEvaluation, LlmPassage, LlmSettings
from edudesk.settings import Settings
from edudesk.webhooks.urls import Target, UrlPolicy, UrlRefused
from tests.conftest import TwoOrgs, login
from tests.llm.conftest import ConfigureLlm, upload
from tests.llm.fake_openai import FakeOpenAI
from tests.llm.samples import BROCHURE, docx_bytes, pdf_bytes
from tests.ports import free_port


def form(fake: FakeOpenAI, **overrides: str) -> dict[str, str]:
    return {
        "base_url": fake.base_url,
        "model": "fake-model",
        "api_key": "sk-very-secret-key",
        "enabled": "1",
        "timeout_seconds": "5",
        "retries": "0",
        "monthly_token_budget": "200000",
        "streaming": "1",
        "forbidden_phrases": "稳拿证书\n签约必过",
        **overrides,
    }


def settings_row(database: Database, org_id: int) -> LlmSettings | None:
    with database.session() as session:
        row = session.scalars(select(LlmSettings).where(LlmSettings.org_id == org_id)).first()
        if row is not None:
            session.expunge(row)
        return row


def actions(database: Database, org_id: int) -> list[str]:
    with database.session() as session:
        return list(
            session.scalars(select(AuditEntry.action).where(AuditEntry.org_id == org_id).order_by(AuditEntry.id))
        )


def test_settings_save_encrypt_the_key_and_never_show_it(
    client: TestClient, orgs: TwoOrgs, database: Database, fake_openai: FakeOpenAI, settings: Settings
) -> None:
    csrf = login(client, "alpha", "admin")
    page = client.post("/admin/llm", data={**form(fake_openai), "csrf_token": csrf})
    assert page.status_code == 200 and "已保存" in page.text
    assert "sk-very-secret-key" not in page.text and "已保存，留空表示不修改" in page.text
    row = settings_row(database, orgs.a.id)
    assert row is not None and row.enabled and row.forbidden_phrases == ["稳拿证书", "签约必过"]
    assert "sk-very" not in row.api_key_encrypted
    assert llm_client.secret_box(settings.secret_key).decrypt(row.api_key_encrypted) == "sk-very-secret-key"
    # Saving again without a key keeps it; clearing removes it.
    client.post("/admin/llm", data={**form(fake_openai, api_key=""), "csrf_token": csrf})
    assert settings_row(database, orgs.a.id).api_key_encrypted == row.api_key_encrypted  # type: ignore[union-attr]
    client.post("/admin/llm", data={**form(fake_openai, api_key=""), "clear_key": "1", "csrf_token": csrf})
    assert settings_row(database, orgs.a.id).api_key_encrypted == ""  # type: ignore[union-attr]
    assert actions(database, orgs.a.id).count("llm.settings") == 3
    assert settings_row(database, orgs.b.id) is None


BAD_SETTINGS = [
    ({"base_url": "ftp://example.com/v1"}, "base_url", "只支持 http:// 或 https://"),
    ({"base_url": "http://user:pw@example.com/v1"}, "base_url", "用户名或密码"),
    ({"base_url": "http://"}, "base_url", "主机名"),
    ({"base_url": ""}, "base_url", "请填写接口地址"),
    ({"model": "two words"}, "model", "模型名称"),
    ({"timeout_seconds": "0"}, "timeout_seconds", "超时"),
    ({"timeout_seconds": "abc"}, "timeout_seconds", "数字"),
    ({"retries": "3"}, "retries", "0 或 1"),
    ({"monthly_token_budget": "-5"}, "monthly_token_budget", "预算"),
    ({"api_key": "sk with spaces"}, "api_key", "格式"),
    ({"forbidden_phrases": "很长" * 20}, "forbidden_phrases", "禁用承诺"),
]


def test_bad_settings_get_a_message_beside_the_field(
    client: TestClient, orgs: TwoOrgs, database: Database, fake_openai: FakeOpenAI
) -> None:
    csrf = login(client, "alpha", "admin")
    for overrides, field, message in BAD_SETTINGS:
        page = client.post("/admin/llm", data={**form(fake_openai, **overrides), "csrf_token": csrf})
        assert page.status_code == 422, overrides
        assert f'id="error-{field}"' in page.text and message in page.text, overrides
    assert client.post("/admin/llm", data=form(fake_openai)).status_code == 400  # no CSRF token
    assert settings_row(database, orgs.a.id) is None


@pytest.fixture
def strict_client(settings: Settings, database: Database) -> Iterator[TestClient]:
    """An app whose SSRF policy refuses private hosts (the default outside tests)."""
    app: FastAPI = create_app(settings.model_copy(update={"llm_allow_private": False}))
    with TestClient(app) as made:
        yield made


def test_private_hosts_are_refused(
    strict_client: TestClient, orgs: TwoOrgs, database: Database, fake_openai: FakeOpenAI
) -> None:
    csrf = login(strict_client, "alpha", "admin")
    for url in (
        "http://127.0.0.1:8000/v1",
        "http://localhost/v1",
        "http://169.254.169.254/v1",
        "http://10.0.0.5/v1",
        "http://[::1]/v1",
    ):
        page = strict_client.post("/admin/llm", data={**form(fake_openai, base_url=url), "csrf_token": csrf})
        assert page.status_code == 422 and "内网" in page.text and 'id="error-base_url"' in page.text, url
    assert settings_row(database, orgs.a.id) is None


def test_connection_test_shows_the_result(
    client: TestClient, orgs: TwoOrgs, database: Database, configure_llm: ConfigureLlm, fake_openai: FakeOpenAI
) -> None:
    csrf = login(client, "alpha", "admin")
    page = client.post("/admin/llm/test", data={"csrf_token": csrf})
    assert "请先填写接口地址" in page.text
    configure_llm(orgs.a.id)
    page = client.post("/admin/llm/test", data={"csrf_token": csrf})
    assert 'id="llm-test-result"' in page.text and "连接成功" in page.text
    assert fake_openai.requests[-1].headers["authorization"] == "Bearer sk-test"
    configure_llm(orgs.a.id, base_url=f"http://127.0.0.1:{free_port()}/v1")  # nobody listens there
    page = client.post("/admin/llm/test", data={"csrf_token": csrf})
    assert "无法连接" in page.text
    assert actions(database, orgs.a.id).count("llm.test") == 3


def test_grounded_switch_needs_an_evaluation(
    client: TestClient, orgs: TwoOrgs, database: Database, configure_llm: ConfigureLlm
) -> None:
    configure_llm(orgs.a.id)
    csrf = login(client, "alpha", "admin")
    page = client.post("/admin/llm/grounded", data={"on": "1", "csrf_token": csrf})
    assert page.status_code == 422 and "请先运行问答评估" in page.text
    assert not settings_row(database, orgs.a.id).grounded_enabled  # type: ignore[union-attr]
    with database.session() as session:
        session.add(LlmEvaluation(org_id=orgs.a.id, queries=100, answered=0.6, wrong_rate=0.05, refused=0.9))
        session.commit()
    page = client.post("/admin/llm/grounded", data={"on": "1", "csrf_token": csrf})
    assert page.status_code == 422 and "5.0％" in page.text
    with database.session() as session:
        session.add(LlmEvaluation(org_id=orgs.a.id, queries=100, answered=0.6, wrong_rate=0.01, refused=0.9))
        session.commit()
    page = client.post("/admin/llm/grounded", data={"on": "1", "csrf_token": csrf})
    assert page.status_code == 200 and "已开启资料问答" in page.text
    assert settings_row(database, orgs.a.id).grounded_enabled  # type: ignore[union-attr]
    assert "llm.grounded" in actions(database, orgs.a.id)
    # Org B's evaluation is not org A's, and the other way round.
    csrf_b = login(client, "beta", "admin")
    configure_llm(orgs.b.id)
    page = client.post("/admin/llm/grounded", data={"on": "1", "csrf_token": csrf_b})
    assert page.status_code == 422 and "请先运行问答评估" in page.text


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_admins_only(client: TestClient, orgs: TwoOrgs, role: str) -> None:
    login(client, "alpha", role)
    assert client.get("/admin/llm").status_code == 403
    assert client.get("/admin/llm/documents").status_code == 403


GOOD_FILES = [
    ("简章.md", BROCHURE.encode()),
    ("暑期.docx", docx_bytes()),
    ("fees.pdf", pdf_bytes(["Spring term fee 3600 yuan"])),
    ("../../../etc/passwd.txt", "学费 3600 元。".encode()),
]
BAD_FILES = [
    ("virus.exe", b"MZ", "只支持 PDF"),
    ("empty.md", b"", "文件是空的"),
    ("broken.pdf", b"%PDF-1.7\n\x00\x01garbage", "PDF 文件已损坏"),
    ("fake.docx", b"PK\x03\x04garbage", "Word 文档已损坏"),
    ("x.md", b"<script>alert(1)</script>", None),  # stored as text, shown escaped
]


def test_upload(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    csrf = login(client, "alpha", "admin")
    for name, data in GOOD_FILES:
        resp = client.post(
            "/admin/llm/documents",
            data={"csrf_token": csrf, "valid_from": "2026-01-01"},
            files={"file": (name, data, "application/octet-stream")},
        )
        assert resp.status_code == 200 and "已生成第 1 版" in resp.text, (name, resp.text[:300])
        assert 'id="llm-passages"' in resp.text
    for name, data, message in BAD_FILES:
        resp = client.post(
            "/admin/llm/documents", data={"csrf_token": csrf}, files={"file": (name, data, "application/octet-stream")}
        )
        if message is None:
            assert "<script>alert(1)</script>" not in resp.text and "&lt;script&gt;" in resp.text
            continue
        assert resp.status_code == 422 and message in resp.text and 'id="error-file"' in resp.text, name
    missing = client.post("/admin/llm/documents", data={"csrf_token": csrf})
    assert missing.status_code == 422 and "请选择要上传的文件" in missing.text
    with database.session() as session:
        titles = list(session.scalars(select(LlmDocument.title).where(LlmDocument.org_id == orgs.a.id)))
    assert len(titles) == len(GOOD_FILES) + 1 and "passwd" in titles
    assert not any("/" in t or ".." in t for t in titles)
    assert actions(database, orgs.a.id).count("llm.document.create") == len(GOOD_FILES) + 1


def test_huge_upload_is_refused(client: TestClient, orgs: TwoOrgs, settings: Settings) -> None:
    csrf = login(client, "alpha", "admin")
    big = b"a" * (settings.llm_max_document_bytes + 1)
    resp = client.post(
        "/admin/llm/documents", data={"csrf_token": csrf}, files={"file": ("big.txt", big, "text/plain")}
    )
    assert resp.status_code == 413 and "文件不能超过 10 MB" in resp.text


def test_versions_keep_old_passages_and_delete_is_audited(
    client: TestClient, orgs: TwoOrgs, database: Database
) -> None:
    csrf = login(client, "alpha", "admin")
    document_id = upload(database, orgs.a.id, BROCHURE)
    data = {"csrf_token": csrf, "document_id": str(document_id)}
    same = client.post("/admin/llm/documents", data=data, files={"file": ("简章.md", BROCHURE.encode())})
    assert same.status_code == 422 and "内容与当前版本相同" in same.text
    newer = BROCHURE.replace("3600", "3800")
    page = client.post("/admin/llm/documents", data=data, files={"file": ("简章.md", newer.encode())})
    assert "已生成第 2 版" in page.text and "3800" in page.text
    old = client.get(f"/admin/llm/documents/{document_id}?version=1")
    assert "3600" in old.text
    bad = client.post(
        f"/admin/llm/documents/{document_id}/validity",
        data={"csrf_token": csrf, "valid_from": "2027-01-02", "valid_until": "2027-01-01"},
    )
    assert bad.status_code == 422 and "失效日期不能早于生效日期" in bad.text
    client.post(f"/admin/llm/documents/{document_id}/delete", data={"csrf_token": csrf})
    assert client.get(f"/admin/llm/documents/{document_id}").status_code == 404
    with database.session() as session:
        kept = session.scalars(select(LlmPassage).where(LlmPassage.document_id == document_id)).all()
        assert len({p.version_id for p in kept}) == 2  # both versions' passages stay for old citations
    assert "llm.document.delete" in actions(database, orgs.a.id)


class Pages:
    """Web pages on 127.0.0.1 for the fetcher: HTML, a PDF (wrong type), a redirect to a private address."""

    def __init__(self) -> None:
        pages: dict[str, tuple[int, str, bytes, dict[str, str]]] = {
            "/course": (
                200,
                "text/html; charset=utf-8",
                "<html><head><title>编程课</title></head><body><main><h2>少儿编程</h2>"
                "<p>每学期 4200 元。</p></main></body></html>".encode(),
                {},
            ),
            "/file.pdf": (200, "application/pdf", b"%PDF-1.4", {}),
            "/missing": (404, "text/html", b"", {}),
            "/jump": (302, "text/html", b"", {"Location": "http://169.254.169.254/latest/meta-data"}),
        }

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                status, kind, body, headers = pages.get(self.path, (404, "text/html", b"", {}))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def pages() -> Iterator[Pages]:
    made = Pages()
    yield made
    made.server.shutdown()
    made.server.server_close()


def test_web_pages(client: TestClient, orgs: TwoOrgs, database: Database, pages: Pages) -> None:
    csrf = login(client, "alpha", "admin")
    page = client.post("/admin/llm/documents/url", data={"csrf_token": csrf, "url": f"{pages.base}/course"})
    assert "已生成第 1 版" in page.text and "4200 元" in page.text and "编程课" in page.text
    for path, message in (
        ("/file.pdf", "不是网页"),
        ("/missing", "HTTP 404"),
        ("", "请填写网页地址"),
        ("file:///etc/passwd", "只支持"),
    ):
        url = f"{pages.base}{path}" if path.startswith("/") else path
        bad = client.post("/admin/llm/documents/url", data={"csrf_token": csrf, "url": url})
        assert bad.status_code == 422 and message in bad.text and 'id="error-url"' in bad.text, (path, bad.text[:300])


class LoopbackOnly(UrlPolicy):
    """Lets the tests' servers on 127.0.0.1 through and refuses every other private address, as the real policy
    refuses them all: shows that every hop of a redirect is checked again."""

    def target(self, url: str) -> Target:
        found = super().target(url)
        if not found.url.startswith("http://127.0.0.1:"):
            raise UrlRefused("不能推送到本机或内网地址")
        return found


def test_a_redirect_is_checked_again(pages: Pages) -> None:
    http = httpx.Client(trust_env=False)
    policy = LoopbackOnly(allow_private=True)
    assert "4200" in fetch_page(http, policy, f"{pages.base}/course")[1].text
    with pytest.raises(DocumentError) as refused:
        fetch_page(http, policy, f"{pages.base}/jump")
    assert refused.value.code == "url_refused" and "内网" in refused.value.message
    http.close()


def test_web_pages_refused_on_private_hosts(strict_client: TestClient, orgs: TwoOrgs, pages: Pages) -> None:
    csrf = login(strict_client, "alpha", "admin")
    bad = strict_client.post("/admin/llm/documents/url", data={"csrf_token": csrf, "url": f"{pages.base}/course"})
    assert bad.status_code == 422 and "内网" in bad.text


def test_org_b_cannot_touch_org_a_documents(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    document_id = upload(database, orgs.a.id, "# 甲的秘密\n甲的学费 9999 元。")
    csrf = login(client, "beta", "admin")
    assert client.get(f"/admin/llm/documents/{document_id}").status_code == 404
    assert client.post(f"/admin/llm/documents/{document_id}/delete", data={"csrf_token": csrf}).status_code == 404
    resp = client.post(
        "/admin/llm/documents",
        data={"csrf_token": csrf, "document_id": str(document_id)},
        files={"file": ("x.md", "# 乙\n乙的内容".encode())},
    )
    assert resp.status_code == 404
    listing = client.get("/admin/llm/documents")
    assert "甲的秘密" not in listing.text and "9999" not in listing.text
    with database.session() as session:
        document = session.get(LlmDocument, document_id)
        assert document is not None and document.deleted_at is None and document.current_version == 1
