"""The 访客 panel beside the chat and the contact page, through the real app on SQLite and PostgreSQL: what they
show, hostile URLs and titles escaped and never linked, phone numbers masked by role, other orgs' contacts 404, and
the PIPL actions reused from the privacy area (audited there)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.bot.models import BotConversationState
from edudesk.contacts import service as contacts_service
from edudesk.contacts.models import Contact
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation, SenderKind
from edudesk.db import Database
from edudesk.visitors import panel as panel_reads
from edudesk.visitors import service as visitors_service
from tests.conftest import TwoOrgs, login
from tests.statements import recorded_sql
from tests.visitors.contact_story import PHONE, Story, at, write_story
from tests.visitors.factories import add_visit

MASKED = "139****5678"
HOSTILE_TITLE = '<script>alert("t")</script>'
HOSTILE_URLS = ['javascript:alert(1)//https://x', 'data:text/html,<script>alert(2)</script>',
                'https://evil.example/"><img src=x onerror=alert(3)>', ' JavaScript:alert(4)']


def panel(client: TestClient, conv_id: int) -> str:
    resp = client.get(f"/console/c/{conv_id}/visitor", headers={"hx-request": "true"})
    assert resp.status_code == 200, resp.text
    return resp.text


def hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


def test_panel_shows_source_trail_visits_and_tags(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    story = write_story(database, orgs.a.id)
    with database.session() as session:
        contact = session.get(Contact, story.contact_id)
        assert contact is not None
        contact.tags = ["价格敏感", "高意向"]
        session.commit()
    login(client, "alpha", "agent")
    chat = client.get(f"/console?c={story.web_conv}").text
    assert f'hx-get="/console/c/{story.web_conv}/visitor"' in chat and 'data-testid="visitor-panel"' in chat
    html = panel(client, story.web_conv)
    # The conversation's first touch is the Baidu visit under way when it opened.
    source = html[html.index('data-testid="conversation-source"'):]
    assert 'data-source-kind="search"' in source[:200]
    for text in ("搜索引擎", "百度", "小学数学辅导", "mobile · iOS · WeChat", "广东 深圳", "school.example/math?wd=x"):
        assert text in source, text
    # Its last touch: the exam-prep ad began after the chat's last message, so there is none to show.
    assert 'data-testid="conversation-last-source"' not in html
    # The trail: both visits, newest first, pages with titles and time on page.
    visits = re.findall(r'data-testid="trail-visit" data-visit-id="(\d+)"', html)
    assert visits == [str(story.last_visit), str(story.first_visit)]
    trail = html[html.index('data-testid="visitor-trail"'):]
    assert trail.index("考研冲刺</a>") < trail.index("价格</a>") < trail.index("三年级数学</a>")
    assert "30 秒" in html
    assert 'data-testid="visitor-returning">老访客' in html and "第 2 次访问" in html
    assert '<span class="tag">价格敏感</span>' in html and '<span class="tag">高意向</span>' in html
    assert f'href="/console/contacts/{story.contact_id}"' in html
    # Every outside link opens safely.
    for link in re.findall(r'<a href="https?://[^>]*>', html):
        assert 'rel="noopener noreferrer nofollow"' in link and 'target="_blank"' in link


def test_panel_of_a_wechat_conversation_without_trail(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    story = write_story(database, orgs.a.id)
    with database.session() as session:
        bare = contacts_service.find_or_create(session, orgs.a.id, "wechat:1", "openid-x")
        session.commit()
        from edudesk.conversations import service as conversations_service

        conv = conversations_service.open_conversation(session, bare, "wechat")
        session.commit()
        conv_id = conv.id
    login(client, "alpha", "agent")
    html = panel(client, conv_id)
    assert "没有浏览记录" in html and "新访客" in html and "暂无标签" in html
    # The WeChat conversation of the story's parent still shows the web trail they left before.
    assert 'data-testid="trail-visit"' in panel(client, story.wechat_conv)


def test_hostile_urls_and_titles_are_escaped_and_never_linked(client: TestClient, database: Database,
                                                             orgs: TwoOrgs) -> None:
    story = write_story(database, orgs.a.id)
    with database.session() as session:
        add_visit(session, orgs.a.id, contact_id=story.contact_id, started_at=at(120),
                  pages=[(u, HOSTILE_TITLE) for u in HOSTILE_URLS],
                  source={"search_keyword": HOSTILE_TITLE, "utm_campaign": "<b>camp</b>",
                          "referrer_host": "<i>r</i>"}, source_kind="<svg/onload=x>")
        session.commit()
    login(client, "alpha", "admin")
    pages = [panel(client, story.web_conv), client.get(f"/console/contacts/{story.contact_id}").text,
             client.get(f"/console/contacts/{story.contact_id}/timeline").text]
    for html in pages:
        assert HOSTILE_TITLE not in html and "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt;" in html
        assert "<b>camp</b>" not in html and "<svg" not in html and "<img src=x" not in html
        for href in hrefs(html):
            assert not href.strip().lower().startswith(("javascript:", "data:")), href
        assert 'href="https://evil.example/&#34;&gt;&lt;img' in html  # an http(s) URL stays a link, escaped


def test_phone_masked_for_an_agent_not_serving_the_contact(client: TestClient, database: Database,
                                                          orgs: TwoOrgs) -> None:
    story = write_story(database, orgs.a.id)
    login(client, "alpha", "agent")
    html = panel(client, story.web_conv)
    assert MASKED in html and PHONE not in html
    page = client.get(f"/console/contacts/{story.contact_id}").text
    facts = page[page.index('data-testid="contact-facts"'):page.index('data-testid="contact-history"')]
    assert MASKED in facts and PHONE not in facts
    assert 'data-testid="contact-privacy"' not in page  # PIPL actions are the admin's

    # Once the agent serves the conversation, the number shows (and the showing is audited).
    csrf = login(client, "alpha", "agent")
    assert client.post(f"/console/c/{story.web_conv}/accept", data={"csrf_token": csrf}).status_code == 200
    assert f'data-testid="visitor-phone">{PHONE}' in panel(client, story.web_conv)
    page = client.get(f"/console/contacts/{story.contact_id}").text
    assert f'data-testid="contact-phone">{PHONE}' in page
    with database.session() as session:
        where = [e.detail.get("where") for e in session.scalars(select(AuditEntry).where(
            AuditEntry.org_id == orgs.a.id, AuditEntry.action == "phone.view"))]
    assert "console.visitor" in where and "console.contact_page" in where

    login(client, "alpha", "supervisor")
    assert f'data-testid="contact-phone">{PHONE}' in client.get(f"/console/contacts/{story.contact_id}").text


def test_contact_page_facts_identities_sources_and_timeline(client: TestClient, database: Database,
                                                           orgs: TwoOrgs) -> None:
    story = write_story(database, orgs.a.id)
    with database.session() as session:
        contact = contacts_service.get(session, orgs.a.id, story.contact_id)
        contacts_service.attach_identities(session, contact, (("wechat:7", "o_openid_of_the_parent_123"),
                                                              ("wxunion", "u_union")))
        session.commit()
    login(client, "alpha", "supervisor")
    html = client.get(f"/console/contacts/{story.contact_id}").text
    identities = html[html.index('data-testid="contact-identities"'):]
    identities = identities[:identities.index("</ul>")]
    assert re.findall(r'data-channel="([^"]+)"', identities) == ["web", "wechat", "wxunion"]
    assert "channel-badge channel-wechat" in identities and "微信 UnionID" in identities
    assert 'data-testid="contact-first-source"' in html and 'data-testid="contact-last-source"' in html
    assert "小学数学辅导" in html and "kaoyan" in html
    kinds = re.findall(r'data-testid="timeline-entry" data-kind="([a-z_]+)"', html)
    assert kinds == ["visit", "trial", "lead_change", "ticket", "conversation", "lead", "conversation", "visit"]
    assert "三年级数学思维" in html and "新线索 → 已联系" in html and "回电：试听时间" in html
    assert "微信上再问一下试听时间" in html and f'href="/tickets/{story.ticket}"' in html
    assert f'href="/console/c/{story.wechat_conv}/transcript"' in html


def test_timeline_more(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    story = write_story(database, orgs.a.id)
    login(client, "alpha", "agent")
    html = client.get(f"/console/contacts/{story.contact_id}?limit=3").text
    assert len(re.findall(r'data-testid="timeline-entry"', html)) == 3
    assert f'hx-get="/console/contacts/{story.contact_id}/timeline?limit=33"' in html
    more = client.get(f"/console/contacts/{story.contact_id}/timeline?limit=33").text
    assert len(re.findall(r'data-testid="timeline-entry"', more)) == 8 and 'data-testid="timeline-more"' not in more
    for bad in ("0", "-1", "abc", "100000"):
        assert client.get(f"/console/contacts/{story.contact_id}/timeline?limit={bad}").status_code == 422


def test_links_to_the_contact_page(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    story = write_story(database, orgs.a.id)
    login(client, "alpha", "admin")
    link = f'href="/console/contacts/{story.contact_id}"'
    assert link in client.get(f"/console/c/{story.web_conv}/lead", headers={"hx-request": "true"}).text
    assert link in client.get("/leads").text


def test_other_orgs_contact_is_404(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    story = write_story(database, orgs.a.id)
    login(client, "beta", "admin")
    for url in (f"/console/contacts/{story.contact_id}", f"/console/contacts/{story.contact_id}/timeline",
                f"/console/c/{story.web_conv}/visitor"):
        resp = client.get(url, headers={"hx-request": "true"})
        assert resp.status_code == 404 and "小学数学辅导" not in resp.text, url
    for url in ("/console/contacts/99999999", "/console/contacts/abc", "/console/contacts/0"):
        assert client.get(url).status_code in (404, 422), url


def test_admin_pipl_export_and_erase_from_the_contact_page(client: TestClient, database: Database,
                                                           orgs: TwoOrgs) -> None:
    """The contact page's PIPL forms post to the privacy area's own routes: the export is a zip and is audited,
    the erasure needs the typed number, is audited, and empties the contact (its trail goes with it)."""
    story: Story = write_story(database, orgs.a.id)
    csrf = login(client, "alpha", "admin")
    html = client.get(f"/console/contacts/{story.contact_id}").text
    assert f'action="/admin/privacy/contacts/{story.contact_id}/export"' in html
    assert f'action="/admin/privacy/contacts/{story.contact_id}/erase"' in html
    export = client.post(f"/admin/privacy/contacts/{story.contact_id}/export", data={"csrf_token": csrf})
    assert export.status_code == 200 and export.headers["content-type"] == "application/zip"
    refused = client.post(f"/admin/privacy/contacts/{story.contact_id}/erase", data={"csrf_token": csrf,
                                                                                    "confirm": "999999"})
    assert refused.status_code == 422
    erased = client.post(f"/admin/privacy/contacts/{story.contact_id}/erase",
                         data={"csrf_token": csrf, "confirm": str(story.contact_id)})
    assert erased.status_code == 200
    with database.session() as session:
        actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.org_id == orgs.a.id)))
    assert {"privacy.export", "privacy.erase"} <= actions, actions
    after = client.get(f"/console/contacts/{story.contact_id}").text
    assert "个人信息已于" in after and PHONE not in after


def _profiled_story(database: Database, org_id: int) -> Story:
    """The story's contact with a course page mapping, an FAQ category answered and a classification rule's tag."""
    story = write_story(database, org_id)
    with database.session() as session:
        actor = Actor(org_id, label="admin")
        visitors_service.add_pattern(session, actor, pattern="/math", course_id=None, course_name="三年级数学")
        visitors_service.add_pattern(session, actor, pattern="/exam", course_id=None, course_name="考研冲刺班")
        state = session.scalars(select(BotConversationState).where(
            BotConversationState.conversation_id == story.web_conv)).first()
        if state is None:
            state = BotConversationState(org_id=org_id, conversation_id=story.web_conv)
            session.add(state)
        state.categories = ["收费标准/小学"]
        visitors_service.save_rule(session, actor, None, tag="看过考研", conditions="course 考研", points="5",
                                   label="", enabled=True)
        contact = session.get(Contact, story.contact_id)
        assert contact is not None
        contact.tags = ["老客户转介绍"]  # staff's
        session.flush()
        visitors_service.classify_contact(session, org_id, story.contact_id)
        session.commit()
    return story


def test_panel_and_contact_page_show_the_profile(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    story = _profiled_story(database, orgs.a.id)
    login(client, "alpha", "agent")
    html = panel(client, story.web_conv)
    tags = html[html.index('data-testid="visitor-tags"'):]
    assert '<span class="tag">老客户转介绍</span>' in tags  # staff's tag: no rule, no reason
    rule_tag = re.search(r'<span class="tag" data-rule-id="\d+" title="([^"]*)">看过考研</span>', tags)
    assert rule_tag is not None and "考研冲刺班" in rule_tag.group(1)
    reasons = html[html.index('data-testid="visitor-tags-reasons"'):]
    assert "看过考研：" in reasons[:300] and "老客户转介绍" not in reasons[:300]
    courses = html[html.index('data-testid="visitor-courses"'):]
    assert courses.index("三年级数学（1 次）") < courses.index("</p>")
    assert "考研冲刺班（1 次）" in courses[:courses.index("</p>")]
    assert "收费标准/小学" in html[html.index('data-testid="visitor-faq"'):][:300]
    questions = html[html.index('data-testid="visitor-questions"'):]
    assert "微信上再问一下试听时间" in questions and MASKED in questions and PHONE not in html  # an agent's view
    page = client.get(f"/console/contacts/{story.contact_id}").text
    for testid in ("contact-tags", "contact-tags-reasons", "contact-courses", "contact-faq", "contact-questions"):
        assert f'data-testid="{testid}"' in page, testid
    assert "考研冲刺班（1 次）" in page


def test_panel_statements_do_not_grow_with_the_history(client: TestClient, database: Database,
                                                       orgs: TwoOrgs) -> None:
    story = _profiled_story(database, orgs.a.id)
    with database.session() as session:
        conv = session.get(Conversation, story.web_conv)
        assert conv is not None
        opened, last = conv.created_at, conv.last_message_at
        panel_reads.panel_of(session, orgs.a.id, story.contact_id, opened, last)  # the org's lead fields made
        session.commit()
    with database.session() as session, recorded_sql(database) as small:
        panel_reads.panel_of(session, orgs.a.id, story.contact_id, opened, last)
    with database.session() as session:
        contact = contacts_service.get(session, orgs.a.id, story.contact_id)
        for i in range(30):
            add_visit(session, orgs.a.id, contact_id=contact.id, started_at=at(100 + i),
                      pages=[f"https://school.example/exam/{i}/{j}" for j in range(4)])
            other = conversations_service.open_conversation(session, contact, "web")
            conversations_service.post_message(session, other, SenderKind.visitor, f"第 {i} 次咨询")
        session.commit()
    with database.session() as session, recorded_sql(database) as big:
        got = panel_reads.panel_of(session, orgs.a.id, story.contact_id, opened, last)
    assert got.visit_count == 32 and got.profile.courses[0].views == 121
    assert len(small) == len(big), "\n".join(big)
    assert len(big) <= 20, "\n".join(s.split("\n")[0][:150] for s in big)
