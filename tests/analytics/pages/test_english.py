"""The dashboards in English with the real numbers (the worked example of tests/analytics/seed.py, rolled up): every
panel title, definition, column header, figure label and chart name comes from the catalogue, and so do the text
cells that name a channel, a source, a hand-over reason, a weekday, a funnel step or an agent's status. Values a
person typed (visitors' questions, campaign and agent names) stay as they were written."""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from edudesk.analytics.labels import extract
from edudesk.auth.models import User
from edudesk.contacts.models import Contact
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState as S
from edudesk.db import Database, utcnow
from edudesk.i18n import LOCALE_DIR, Catalogues, set_locale
from edudesk.routing import presence
from tests.analytics.seed import DAY, NEXT, Seeded
from tests.conftest import login

CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")
SECTION = re.compile(r'<section class="dash-panel" id="(?:panel|live)-([a-z_]+)">(.*?)</section>', re.S)
# Panels whose first column names a thing from the catalogue (not a person's words nor a campaign's name).
LABELLED_ROWS = {"by_channel", "by_source", "capture_channel", "capture_source", "handover_reasons", "heatmap",
                 "funnel", "levels", "conversion_times", "agents_now", "queue_now"}


def texts(pattern: str, page: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", t)).strip() for t in re.findall(pattern, page, re.S)]


def chinese(found: list[str]) -> list[str]:
    return [t for t in found if CJK.search(t)]


def labels_of(page: str) -> dict[str, list[str]]:
    """What the page says in its own words: figure labels, panel titles, definitions, headers, chart names."""
    bodies = re.findall(r'<script type="application/json" id="chart-data-\d+">(.*?)</script>', page, re.S)
    charts = [json.loads(b) for b in bodies]
    return {
        "figures": texts(r'<li id="figure-[a-z_]+">.*?<span>(.*?)</span>', page),
        "titles": texts(r"<h2>(.*?)</h2>", page),
        "definitions": texts(r'<p class="muted dash-definition">(.*?)</p>', page),
        "headers": texts(r'<th scope="col"[^>]*>(.*?)</th>', page),
        "charts": [c["title"] for c in charts] + [s["name"] for c in charts for s in c["series"]],
    }


def row_labels(page: str) -> dict[str, list[str]]:
    """Per labelled panel: the text cells that name a thing from the catalogue. On a dashboard that is the first
    column; on the live wall the agent's status and the waiting visitor's channel (agents' and groups' names are the
    org's own)."""
    out = {}
    for key, body in SECTION.findall(page):
        if key not in LABELLED_ROWS:
            continue
        if key in {"agents_now", "queue_now"}:
            rows = [texts(r'<td class="">(.*?)</td>', r) for r in re.findall(r"<tr>(.*?)</tr>", body, re.S)]
            out[key] = [cells[0] for cells in rows if cells]
        else:
            out[key] = texts(r'<th scope="row"[^>]*>(.*?)</th>', body)
    return out


@pytest.fixture
def english(client: TestClient, seeded: Seeded) -> TestClient:
    login(client, "alpha", "supervisor")
    client.cookies.set("edudesk_lang", "en")
    return client


@pytest.mark.parametrize("key", ["people", "data", "process", "outcome"])
def test_each_dashboard_speaks_english(english: TestClient, key: str) -> None:
    page = english.get(f"/admin/dashboards/{key}", params={"start": DAY.isoformat(), "end": NEXT.isoformat()})
    assert page.status_code == 200
    found = labels_of(page.text)
    assert all(found[part] for part in ("figures", "titles", "headers")), found
    assert {part: chinese(items) for part, items in found.items() if chinese(items)} == {}
    rows = row_labels(page.text)
    assert {k: chinese(v) for k, v in rows.items() if chinese(v)} == {}
    if key == "data":
        assert "Top 20 unanswered questions" in found["titles"] and "Visitor question" in found["headers"]
        assert "学费多少" in page.text  # the visitors' own words are values, never translated
        assert "Visitor asked for an agent" in rows["handover_reasons"] and rows["by_channel"]
    if key == "outcome":
        assert rows["funnel"][:2] == ["Visitor visits", "Valid conversations"]
        assert "春季推广" in page.text  # a campaign's name is the org's own


def test_the_same_dashboard_stays_chinese_by_default(client: TestClient, seeded: Seeded) -> None:
    login(client, "alpha", "supervisor")
    page = client.get("/admin/dashboards/data", params={"start": DAY.isoformat(), "end": NEXT.isoformat()}).text
    assert "未解答问题 Top 20" in page and "访客要求转人工" in page and "Top 20 unanswered questions" not in page


def test_the_live_wall_speaks_english(english: TestClient, database: Database, seeded: Seeded) -> None:
    now = utcnow()
    with database.session() as session:
        agent = session.get(User, seeded.agent_id)
        assert agent is not None
        presence.connected(session, agent)
        contact = Contact(org_id=seeded.org_id)
        session.add(contact)
        session.flush()
        session.add(Conversation(org_id=seeded.org_id, contact_id=contact.id, channel="wechat", state=S.queued,
                                 queued_at=now - dt.timedelta(minutes=4), group_id=seeded.group_id))
        session.commit()
    for path in ("/admin/dashboards/live", "/admin/dashboards/live/board"):
        page = english.get(path)
        assert page.status_code == 200
        found = labels_of(page.text)
        assert found["figures"] and len(found["titles"]) >= 2 and found["headers"], found
        assert {part: chinese(items) for part, items in found.items() if chinese(items)} == {}
        rows = row_labels(page.text)
        assert rows["agents_now"] and rows["queue_now"]
        assert {k: chinese(v) for k, v in rows.items() if chinese(v)} == {}
        assert "Agents online" in found["figures"] and "Agent status now" in found["titles"]
        assert "Online" in rows["agents_now"] and rows["queue_now"] == ["WeChat Official Account"], rows


def test_the_index_names_the_dashboards_in_english(english: TestClient) -> None:
    page = english.get("/admin/dashboards").text
    tabs = texts(r'<nav class="dash-tabs"[^>]*>(.*?)</nav>', page)
    index = texts(r'<ul class="dash-index">(.*?)</ul>', page)
    assert tabs and index and not chinese(tabs + index), (tabs, index)


def test_every_extracted_dashboard_label_has_english() -> None:
    """The catalogue check of tests/test_i18n.py, for the labels built in Python (babel.cfg → analytics.labels)."""
    root = Path(__file__).resolve().parents[3] / "src/edudesk/analytics"
    found: set[str] = set()
    for path in root.rglob("*.py"):
        with path.open("rb") as fh:
            found |= {msg for _, _, msg, _ in extract(fh, {}, [], {})}
    assert len(found) > 150
    catalogues = Catalogues(LOCALE_DIR)
    set_locale("en")
    try:
        missing = sorted(s for s in found if catalogues.gettext(s) == s)
    finally:
        set_locale("zh")
    assert not missing, f"add English for: {missing} (scripts/update_catalogue.py)"


def test_the_extractor_sees_nested_columns_and_marked_labels() -> None:
    source = ('P = Panel("k", "标题", (Column("a", "列一"), Column("b", label="列二")), rows, None, "定义")\n'
              'D = {"x": N_("名称")}\nF = Figure("f", "数字", 1)\nC = Column("c", name)\n')
    got = [msg for _, _, msg, _ in extract(io.BytesIO(source.encode()), {}, [], {})]
    assert sorted(got) == sorted(["标题", "定义", "列一", "列二", "名称", "数字"])
