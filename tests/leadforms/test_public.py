"""The public side of a form: CORS limited to its allowed origins, the per-address rate limit, the embeddable
script and the hosted page, view counting, and what a switched-off or unknown form answers."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from edudesk.app import create_app
from edudesk.db import Database
from edudesk.leadforms.models import LeadForm, LeadFormSubmission, LeadFormView
from edudesk.localtime import local_today
from edudesk.settings import Settings
from tests.conftest import TwoOrgs
from tests.leadforms.conftest import SITE, make_form, post

PARENT = {"name": "李爸爸", "phone": "13900139000"}


def stored(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(LeadFormSubmission)) or 0)


def test_an_allowed_origin_may_read_the_answer_and_others_are_refused(client: TestClient, database: Database,
                                                                      orgs: TwoOrgs) -> None:
    form = make_form(database, orgs.a.id, origins="https://*.school-a.example")
    url = f"/api/v1/forms/{form.public_id}/submissions"
    preflight = client.options(url, headers={"origin": SITE, "access-control-request-method": "POST",
                                             "access-control-request-headers": "content-type"})
    assert preflight.status_code == 204 and "content-type" in preflight.headers["access-control-allow-headers"]
    ok = post(client, form.public_id, PARENT, origin=SITE)
    assert ok.status_code == 201 and ok.headers["access-control-allow-origin"] == SITE
    assert "Origin" in ok.headers["vary"]
    for origin in ("https://evil.example", "https://school-a.example.evil.example", "null", None):
        refused = post(client, form.public_id, {**PARENT, "phone": "13700137000"}, origin=origin)
        assert refused.status_code == 403, origin
        assert refused.json()["error"] == {"code": "origin_not_allowed", "message": "此网站未获准使用该表单",
                                           "field": "origin"}
        assert "access-control-allow-origin" not in refused.headers
    # edudesk's own pages (the hosted form) are always allowed.
    own = post(client, form.public_id, {**PARENT, "phone": "13600136000"}, origin="http://testserver")
    assert own.status_code == 201
    assert stored(database) == 2


def test_an_empty_allow_list_lets_any_site_embed_the_form(client: TestClient, database: Database,
                                                          orgs: TwoOrgs) -> None:
    form = make_form(database, orgs.a.id, origins="")
    anywhere = post(client, form.public_id, PARENT, origin="https://any-landing.example")
    assert anywhere.status_code == 201
    assert anywhere.headers["access-control-allow-origin"] == "https://any-landing.example"
    assert post(client, form.public_id, {**PARENT, "phone": "13700137000"}, origin=None).status_code == 201


def test_the_per_address_limit_answers_429_with_retry_after(settings: Settings, database: Database,
                                                            orgs: TwoOrgs) -> None:
    form = make_form(database, orgs.a.id)
    app = create_app(settings.model_copy(update={"rate_form_per_ip": "2/7day"}))
    with TestClient(app) as client:
        answers = [post(client, form.public_id, {**PARENT, "phone": f"1390013900{i}"}) for i in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].json()["error"]["code"] == "rate_limited" and int(answers[2].headers["retry-after"]) >= 1
    assert stored(database) == 2


def test_the_script_carries_the_form_and_counts_a_view(client: TestClient, database: Database,
                                                       orgs: TwoOrgs) -> None:
    form = make_form(database, orgs.a.id, title="</script><b>免费试听</b>\u2028课")
    other = make_form(database, orgs.b.id, name="乙的表单")
    first = client.get(f"/f/{form.public_id}.js")
    assert first.status_code == 200 and first.headers["content-type"].startswith("application/javascript")
    assert first.headers["cache-control"] == "no-store"
    written = re.search(r"var CONFIG = (\{.*?\});\n", first.text).group(1)  # type: ignore[union-attr]
    config = json.loads(written)
    assert config["title"] == "</script><b>免费试听</b> 课" and written.isascii()  # no text can end a JS string
    assert [(f["key"], f["label"], f["required"]) for f in config["fields"]] == [
        ("name", "家长称呼", True), ("phone", "手机号", True), ("grade", "年级", False), ("subject", "意向科目", False)]
    assert "/*EDUDESK_FORM_CONFIG*/null" not in first.text
    assert not any(bad in first.text for bad in (".innerHTML", "eval(", "new Function", "document.write"))
    client.get(f"/f/{form.public_id}.js")
    client.head(f"/f/{form.public_id}.js")  # a HEAD is no render
    client.get(f"/f/{other.public_id}.js")
    with database.session() as session:
        rows = session.execute(select(LeadFormView.org_id, LeadFormView.form_id, LeadFormView.day,
                                      LeadFormView.views).order_by(LeadFormView.org_id)).all()
    assert [tuple(r) for r in rows] == [(orgs.a.id, form.id, local_today(), 2), (orgs.b.id, other.id, local_today(), 1)]


def test_the_hosted_page_is_a_plain_mobile_page_under_the_staff_csp(client: TestClient, database: Database,
                                                                    orgs: TwoOrgs) -> None:
    form = make_form(database, orgs.a.id, title="<img src=x onerror=alert(1)>暑期班")
    page = client.get(f"/f/{form.public_id}")
    assert page.status_code == 200
    assert f'<script src="/f/{form.public_id}.js" async></script>' in page.text
    assert f'data-edudesk-form="{form.public_id}"' in page.text and 'name="viewport"' in page.text
    assert "<title>&lt;img src=x onerror=alert(1)&gt;暑期班</title>" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and "style=" not in page.text
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(LeadFormView)) == 0  # the script counts, not the page


def test_a_switched_off_or_unknown_form_is_not_found(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    form = make_form(database, orgs.a.id)
    with database.session() as session:
        session.execute(update(LeadForm).values(enabled=False))
        session.commit()
    for public_id in (form.public_id, "no-such-form"):
        assert client.get(f"/f/{public_id}.js").status_code == 404
        assert client.get(f"/f/{public_id}", headers={"accept": "text/html"}).status_code == 404
        resp = post(client, public_id, PARENT)
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    assert client.get("/f/bad.id.js").status_code in (404, 422)
    assert stored(database) == 0
