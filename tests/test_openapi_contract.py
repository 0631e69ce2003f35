"""The OpenAPI document is the API's exact contract: schemathesis drives every operation of a real server with an
API token holding every scope and runs all its checks — 0 failures.

``schemathesis run --checks all`` covers: no 5xx; every status, content type, header and body as documented;
schema-valid requests accepted and schema-invalid ones rejected; unsupported methods answered 405; missing auth
refused (``ignored_auth``); and the stateful checks (``use_after_free``, ``ensure_resource_availability``). The
CLI is used as an integrator would run it, against uvicorn on 127.0.0.1 serving the real app on SQLite and
PostgreSQL; the number of examples is sized to keep the run near a minute on two cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from edudesk.db import Database
from tests.conftest import LiveServer, TwoOrgs
from tests.test_route_ids import every_scope

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """SQLite only: the run takes about a minute and a half per database, and the contract does not depend on it
    (both databases are covered route by route by the rest of the suite)."""
    return sqlite_url
MAX_EXAMPLES = int(os.environ.get("EDUDESK_CONTRACT_EXAMPLES", "25"))
# Creates keyed by the caller's idempotency key, which document both answers with the same body.
IDEMPOTENT_CREATES = {("post", "/api/v1/channels/{inbox_public_id}/messages")}


def test_the_document_states_the_error_contract(app: FastAPI) -> None:
    schema = app.openapi()
    assert "HTTPValidationError" not in json.dumps(schema) and '"detail"' not in json.dumps(schema)
    error = schema["components"]["schemas"]["ErrorBody"]
    assert set(error["properties"]) == {"code", "message", "field"} and error["additionalProperties"] is False
    for path, operations in schema["paths"].items():
        assert path.startswith("/api/v1/"), path  # staff pages stay out of the API's contract
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "422" in responses or (not operation.get("parameters") and "requestBody" not in operation)
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorResponse"), (method, path, status)
            success = [s for s in responses if s.startswith("2")]
            if (method, path) in IDEMPOTENT_CREATES:  # 201 stored, 200 a resend of the same idempotency key
                assert sorted(success) == ["200", "201"], (method, path)
                success = ["201"]
            assert len(success) == 1, (method, path)
            if method == "post" and path in ("/api/v1/leads", "/api/v1/tickets", "/api/v1/widget/attachments",
                                             "/api/v1/tickets/{ticket_id}/comments",
                                             "/api/v1/channels/{inbox_public_id}/messages"):
                assert success == ["201"], (method, path)
            body = responses[success[0]].get("content", {}).get("application/json", {}).get("schema")
            if body is not None:  # a closed model, never ``{"type": "object"}`` or ``dict[str, Any]``
                assert "$ref" in body, (method, path, body)
    for name, model in schema["components"]["schemas"].items():
        if model.get("type") == "object" and not name.startswith("Body_"):
            assert model.get("additionalProperties") is False, name


def test_token_operations_answer_all_codes_they_document(app: FastAPI, database: Database, orgs: TwoOrgs) -> None:
    """The spot checks behind the document: an unknown body field is a 422 (as ``additionalProperties: false``
    says), the upload answers 201 with the documented body, a missing token is 401."""
    auth = every_scope(database, orgs.a.id)
    with TestClient(app) as client:
        extra = client.post("/api/v1/leads", headers=auth, json={"external_id": "x", "fields": {"name": "李"},
                                                                  "nickname": "z"})
        assert extra.status_code == 422 and extra.json()["error"]["field"] == "nickname"
        assert client.get("/api/v1/leads").status_code == 401
        session = client.post("/api/v1/widget/session", json={"org_key": orgs.a.public_key}).json()
        png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
        upload = client.post("/api/v1/widget/attachments", headers={"x-visitor-token": session["token"]},
                             files={"file": ("a.png", png, "image/png")})
        assert upload.status_code == 201 and set(upload.json()) == {"id", "url", "content_type", "size", "name"}


# 422 answers "the request does not match the schema", 400 "it does, but a rule the schema cannot state refuses it"
# (the dates are in the wrong order, a lead field the org has not defined, an assignee who is not staff): for a
# schema-valid request a 400 is a correct answer, so it joins schemathesis' default list. Every 400 is still
# checked against the documented ErrorResponse like any other answer.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2XX", "3XX", "400", "401", "403", "404", "409", "429", "5XX"]
"""


def test_schemathesis_finds_no_failure(app: FastAPI, database: Database, orgs: TwoOrgs, tmp_path: Path) -> None:
    auth = every_scope(database, orgs.a.id)
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    server = LiveServer(app).start()
    try:
        assert httpx.get(f"{server.url}/api/openapi.json", timeout=10).status_code == 200
        run = subprocess.run(
            [str(SCHEMATHESIS), "run", f"{server.url}/api/openapi.json", "--checks", "all",
             "--header", f"Authorization:{auth['Authorization']}", "--max-examples", str(MAX_EXAMPLES),
             "--workers", "1", "--request-timeout", "20", "--seed", "19"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
            env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        )
    finally:
        server.stop()
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
