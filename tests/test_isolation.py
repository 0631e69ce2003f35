"""Org isolation, route by route: a signed-in admin of org B aims every route at org A's records.

Every route of the app must appear in ROUTES (with a request aimed at org A) or in PUBLIC (with the reason it
holds no org data), so a new route cannot be added without deciding how it is isolated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.apitokens import service as apitokens_service
from edudesk.apitokens.models import ApiToken
from edudesk.app import create_app
from edudesk.audit.service import Actor
from edudesk.auth.models import User
from edudesk.bot import scripts
from edudesk.bot import service as bot_service
from edudesk.bot.flows.templates import K12_FLOW
from edudesk.bot.models import BotFlow, KeywordRule
from edudesk.campaigns import service as campaigns_service
from edudesk.campaigns.models import Campaign, CampaignDay
from edudesk.canned import service as canned_service
from edudesk.canned.models import CannedReply
from edudesk.canned.text import CannedInput
from edudesk.catalog import service as catalog_service
from edudesk.channels.base import InboundMessage
from edudesk.channels.fake.adapter import FakeChannel
from edudesk.contacts.models import Contact
from edudesk.conversations.models import Conversation, Message
from edudesk.csat import service as csat_service
from edudesk.db import Database, utcnow
from edudesk.hours import service as hours_service
from edudesk.hours.models import BusinessHoursRecord
from edudesk.inbound import service as inbound_service
from edudesk.inboxes import service as inboxes_service
from edudesk.inboxes.models import Inbox
from edudesk.kb import categories as kb_categories
from edudesk.kb import service as kb_service
from edudesk.kb.models import KbCategory, KbEntry, KbMiss, KbSimilarQuestion
from edudesk.kb.schemas import EntryInput
from edudesk.leadforms import service as leadforms_service
from edudesk.leadforms.models import LeadForm, LeadFormSubmission, LeadFormView
from edudesk.leads import fields as lead_fields
from edudesk.leads.models import Lead, LeadFieldDef, LeadGrading, LeadNote, LeadValue
from edudesk.llm.documents import service as llm_documents_service
from edudesk.orgs.models import Org
from edudesk.privacy.models import RetentionPolicy
from edudesk.routing import service as routing_service
from edudesk.routing.models import AgentState, RoutingRule, SkillGroup, SkillGroupMember
from edudesk.settings import Settings
from edudesk.tickets import config as tickets_config
from edudesk.tickets import search as tickets_search
from edudesk.tickets import service as tickets_service
from edudesk.tickets.models import SlaPolicy, Ticket, TicketComment, TicketFieldDef, TicketSource, TicketView
from edudesk.trials import service as trials_service
from edudesk.trials.models import TrialBooking, TrialSession
from edudesk.visitors import service as visitors_service
from edudesk.visitors.profile_models import ClassifyRule, CoursePattern, PersonalRule
from edudesk.voice import dnc as voice_dnc
from edudesk.voice import lines as voice_lines
from edudesk.voice import recordings as voice_recordings
from edudesk.voice import service as voice_service
from edudesk.voice.assist import alerts as voice_alerts
from edudesk.voice.assist.models import CallAlertRule
from edudesk.voice.campaigns.models import CallCampaign, CallTarget, CampaignState
from edudesk.voice.models import (
    Call,
    CallMode,
    CallOutcome,
    CallState,
    CallTurn,
    DoNotCall,
    LineKind,
    Speaker,
    VoiceLine,
    VoiceSettings,
)
from edudesk.webhooks import service as webhooks_service
from edudesk.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from edudesk.webhooks.urls import UrlPolicy
from tests.conftest import TwoOrgs, clean, login, make_org

SECRET_TEXT = "甲机构的秘密消息 13912345678"


@dataclass
class Targets:
    conv: int
    contact: int
    rule: int
    user: int
    entry: int = 0
    category: int = 0
    miss: int = 0
    endpoint: int = 0
    delivery: int = 0
    token: int = 0
    lead: int = 0
    flow: int = 0
    trial: int = 0
    booking: int = 0
    course: int = 0
    campus: int = 0
    field: int = 0


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    form: dict[str, str] | None = None
    htmx: bool = False


ROUTES: dict[str, list[Case]] = {
    "/console": [Case("GET", "/console?c={conv}")],
    "/console/lists": [Case("GET", "/console/lists")],
    "/console/c/{conversation_id}": [Case("GET", "/console/c/{conv}", htmx=True)],
    "/console/c/{conversation_id}/lead": [Case("GET", "/console/c/{conv}/lead", htmx=True),
                                          Case("POST", "/console/c/{conv}/lead", {"status": "lost", "note": "越权"})],
    "/console/c/{conversation_id}/accept": [Case("POST", "/console/c/{conv}/accept", {})],
    "/console/c/{conversation_id}/resolve": [Case("POST", "/console/c/{conv}/resolve", {})],
    "/console/c/{conversation_id}/release": [Case("POST", "/console/c/{conv}/release", {})],
    "/console/c/{conversation_id}/send": [Case("POST", "/console/c/{conv}/send", {"text": "越权", "client_id": "x"})],
    "/console/contacts/{contact_id}": [
        Case("POST", "/console/contacts/{contact}", {"conversation_id": "{conv}", "name": "改名"}),
    ],
    "/admin": [Case("GET", "/admin")],
    "/admin/users": [Case("GET", "/admin/users")],
    "/admin/users/{user_id}": [
        Case("POST", "/admin/users/{user}", {"action": "disable"}),
        Case("POST", "/admin/users/{user}", {"action": "password", "password": "new-password-1"}),
        Case("POST", "/admin/users/{user}", {"action": "role", "role": "agent"}),
    ],
    "/admin/audit": [Case("GET", "/admin/audit")],
    "/admin/bot": [Case("GET", "/admin/bot")],
    "/admin/bot/settings": [Case("POST", "/admin/bot/settings", {"welcome_text": "乙", "fallback_text": "乙",
                                                                 "handoff_keywords": "转人工", "max_misses": "3"})],
    "/admin/bot/rules": [Case("POST", "/admin/bot/rules", {"rule_id": "{rule}", "keywords": "劫持",
                                                           "reply": "被改了", "enabled": "1"})],
    "/admin/bot/rules/{rule_id}/delete": [Case("POST", "/admin/bot/rules/{rule}/delete", {})],
    "/admin/bot/widget-origins": [Case("POST", "/admin/bot/widget-origins",
                                       {"widget_origins": "https://evil.example"})],
    "/admin/bot/flows": [Case("GET", "/admin/bot/flows")],
    "/admin/bot/flows/{flow_id}": [Case("GET", "/admin/bot/flows/{flow}")],
    "/admin/bot/flows/{flow_id}/export": [Case("GET", "/admin/bot/flows/{flow}/export")],
    "/admin/bot/flows/{flow_id}/{action}": [Case("POST", "/admin/bot/flows/{flow}/disable", {}),
                                            Case("POST", "/admin/bot/flows/{flow}/delete", {})],
    "/leads": [Case("GET", "/leads"), Case("GET", "/leads?phone=13912345678&grade=三年级")],
    "/leads/assign": [Case("POST", "/leads/assign", {"lead_ids": "{lead}", "owner_id": "{user}"})],
    "/leads/grading": [Case("GET", "/leads/grading"),
                       Case("POST", "/leads/grading", {"rules": "has_phone|1|乙", "a_threshold": "9",
                                                       "b_threshold": "5"})],
    "/leads/export": [Case("GET", "/leads/export?format=csv"), Case("GET", "/leads/export?format=xlsx&phone=139")],
    "/admin/kb": [Case("GET", "/admin/kb"), Case("GET", "/admin/kb?q=甲&category={category}")],
    "/admin/kb/bulk": [Case("POST", "/admin/kb/bulk", {"action": "delete", "ids": "{entry}"}),
                       Case("POST", "/admin/kb/bulk", {"action": "disable", "ids": "{entry}"})],
    "/admin/kb/new": [Case("GET", "/admin/kb/new"),
                      Case("POST", "/admin/kb/new", {"question": "越权", "answer": "乙", "category_id": "{category}"}),
                      Case("POST", "/admin/kb/new", {"question": "越权", "answer": "乙", "related_ids": "{entry}"})],
    "/admin/kb/{entry_id}": [Case("GET", "/admin/kb/{entry}"),
                             Case("POST", "/admin/kb/{entry}", {"question": "劫持", "answer": "被改了"})],
    "/admin/kb/{entry_id}/delete": [Case("POST", "/admin/kb/{entry}/delete", {})],
    "/admin/kb/{entry_id}/restore": [Case("POST", "/admin/kb/{entry}/restore", {})],
    "/admin/kb/categories": [Case("GET", "/admin/kb/categories"),
                             Case("POST", "/admin/kb/categories", {"name": "越权", "parent_id": "{category}"})],
    "/admin/kb/categories/{category_id}": [Case("POST", "/admin/kb/categories/{category}", {"name": "劫持"})],
    "/admin/kb/categories/{category_id}/delete": [Case("POST", "/admin/kb/categories/{category}/delete", {})],
    "/admin/kb/import": [Case("GET", "/admin/kb/import"), Case("POST", "/admin/kb/import", {})],
    "/admin/kb/export": [Case("GET", "/admin/kb/export?format=csv"),
                         Case("GET", "/admin/kb/export?format=xlsx&category={category}")],
    "/admin/kb/misses": [Case("GET", "/admin/kb/misses")],
    "/admin/kb/misses/similar": [Case("POST", "/admin/kb/misses/similar", {"miss_ids": "{miss}",
                                                                           "entry_id": "{entry}"})],
    "/admin/kb/misses/new-entry": [Case("POST", "/admin/kb/misses/new-entry", {"miss_ids": "{miss}",
                                                                               "answer": "越权"})],
    "/admin/kb/misses/dismiss": [Case("POST", "/admin/kb/misses/dismiss", {"miss_ids": "{miss}"})],
    "/login": [Case("GET", "/login")],
    "/admin/webhooks": [Case("GET", "/admin/webhooks")],
    "/admin/webhooks/new": [Case("GET", "/admin/webhooks/new"),
                            Case("POST", "/admin/webhooks/new", {"url": "http://127.0.0.1:9/x",
                                                                 "event_types": "lead.created"})],
    "/admin/webhooks/{endpoint_id}": [Case("GET", "/admin/webhooks/{endpoint}"),
                                      Case("POST", "/admin/webhooks/{endpoint}", {"url": "http://127.0.0.1:9/evil",
                                                                                  "event_types": "lead.created"})],
    "/admin/webhooks/{endpoint_id}/rotate": [Case("POST", "/admin/webhooks/{endpoint}/rotate", {})],
    "/admin/webhooks/{endpoint_id}/test": [Case("POST", "/admin/webhooks/{endpoint}/test", {})],
    "/admin/webhooks/{endpoint_id}/delete": [Case("POST", "/admin/webhooks/{endpoint}/delete", {})],
    "/admin/webhooks/{endpoint_id}/deliveries": [Case("GET", "/admin/webhooks/{endpoint}/deliveries")],
    "/admin/webhooks/{endpoint_id}/deliveries/{delivery_id}": [
        Case("GET", "/admin/webhooks/{endpoint}/deliveries/{delivery}")],
    "/admin/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay": [
        Case("POST", "/admin/webhooks/{endpoint}/deliveries/{delivery}/replay", {})],
    "/admin/api-tokens": [Case("GET", "/admin/api-tokens"),
                          Case("POST", "/admin/api-tokens", {"name": "越权", "scopes": "leads:read"})],
    "/admin/api-tokens/{token_id}/revoke": [Case("POST", "/admin/api-tokens/{token}/revoke", {})],
    "/admin/trials": [Case("GET", "/admin/trials")],
    "/admin/trials/new": [Case("POST", "/admin/trials/new", {"course_id": "{course}", "starts_at": "2099-01-01T10:00",
                                                             "capacity": "5", "duration_minutes": "60"})],
    "/admin/trials/{session_id}": [Case("GET", "/admin/trials/{trial}")],
    "/admin/trials/{session_id}/cancel": [Case("POST", "/admin/trials/{trial}/cancel", {})],
    "/admin/trials/{session_id}/book": [Case("POST", "/admin/trials/{trial}/book", {"lead_id": "{lead}"})],
    "/admin/trials/bookings/{booking_id}/cancel": [Case("POST", "/admin/trials/bookings/{booking}/cancel", {})],
    "/admin/trials/bookings/{booking_id}/attendance": [
        Case("POST", "/admin/trials/bookings/{booking}/attendance", {"status": "attended"}),
        Case("POST", "/admin/trials/bookings/{booking}/attendance", {"status": "booked"})],
    "/admin/lead-fields": [Case("GET", "/admin/lead-fields"),
                           Case("POST", "/admin/lead-fields", {"label": "越权", "key": "hijack", "type": "text"})],
    "/admin/lead-fields/{field_id}": [Case("GET", "/admin/lead-fields/{field}"),
                                      Case("POST", "/admin/lead-fields/{field}", {"label": "劫持", "options": "乙"})],
    "/admin/lead-fields/{field_id}/enabled": [Case("POST", "/admin/lead-fields/{field}/enabled", {"enabled": "0"})],
    "/leads/dashboard": [Case("GET", "/leads/dashboard"), Case("GET", "/leads/dashboard?days=30")],
}

# Tickets (tests/tickets): {ticket}, {ticket_view}, {sla_policy} and {ticket_field} are seeded by seed_tickets.
ROUTES |= {
    "/tickets": [Case("GET", "/tickets"), Case("GET", "/tickets?q=甲&status=unresolved&mentioned=me"),
                 Case("GET", "/tickets?view={ticket_view}")],
    "/tickets/views": [Case("POST", "/tickets/views", {"name": "越权", "query": "q=甲"})],
    "/tickets/views/{view_id}/delete": [Case("POST", "/tickets/views/{ticket_view}/delete", {})],
    "/tickets/{ticket_id}": [Case("GET", "/tickets/{ticket}"),
                             Case("POST", "/tickets/{ticket}", {"status": "solved", "subject": "劫持"})],
    "/tickets/{ticket_id}/comments": [Case("POST", "/tickets/{ticket}/comments", {"kind": "reply", "text": "越权"}),
                                      Case("POST", "/tickets/{ticket}/comments", {"kind": "note", "text": "越权"})],
    "/tickets/{ticket_id}/take": [Case("POST", "/tickets/{ticket}/take", {})],
    "/tickets/{ticket_id}/delete": [Case("POST", "/tickets/{ticket}/delete", {})],
    "/console/c/{conversation_id}/ticket": [Case("GET", "/console/c/{conv}/ticket", htmx=True),
                                            Case("POST", "/console/c/{conv}/ticket", {"subject": "越权"}, htmx=True)],
    "/admin/tickets": [Case("GET", "/admin/tickets")],
    "/admin/tickets/fields": [Case("POST", "/admin/tickets/fields", {"key": "hijack", "label": "越权"})],
    "/admin/tickets/fields/{field_id}": [Case("POST", "/admin/tickets/fields/{ticket_field}", {"label": "劫持"})],
    "/admin/tickets/fields/{field_id}/delete": [Case("POST", "/admin/tickets/fields/{ticket_field}/delete", {})],
    "/admin/tickets/sla": [Case("POST", "/admin/tickets/sla", {"name": "越权", "first_response_minutes": "1",
                                                               "resolution_minutes": "2"})],
    "/admin/tickets/sla/{policy_id}": [Case("POST", "/admin/tickets/sla/{sla_policy}", {
        "name": "劫持", "first_response_minutes": "1", "resolution_minutes": "2"})],
    "/admin/tickets/sla/{policy_id}/delete": [Case("POST", "/admin/tickets/sla/{sla_policy}/delete", {})],
}

# Routing admin (tests/routing/test_admin_views.py): {skill_group} and {routing_rule} are seeded by seed_routing.
ROUTES |= {
    "/admin/routing": [Case("GET", "/admin/routing")],
    "/admin/routing/groups": [Case("POST", "/admin/routing/groups", {"name": "越权", "strategy": "least_busy",
                                                                     "queue_timeout_minutes": "5"})],
    "/admin/routing/groups/{group_id}": [
        Case("GET", "/admin/routing/groups/{skill_group}"),
        Case("POST", "/admin/routing/groups/{skill_group}", {"name": "劫持", "strategy": "manual",
                                                             "queue_timeout_minutes": "0"})],
    "/admin/routing/groups/{group_id}/delete": [Case("POST", "/admin/routing/groups/{skill_group}/delete", {})],
    "/admin/routing/groups/{group_id}/members": [
        Case("POST", "/admin/routing/groups/{skill_group}/members", {"user_id": "{user}", "level": "5"})],
    "/admin/routing/groups/{group_id}/members/{user_id}": [
        Case("POST", "/admin/routing/groups/{skill_group}/members/{user}", {"level": "1"})],
    "/admin/routing/groups/{group_id}/members/{user_id}/remove": [
        Case("POST", "/admin/routing/groups/{skill_group}/members/{user}/remove", {})],
    "/admin/routing/rules/new": [Case("GET", "/admin/routing/rules/new"),
                                 Case("POST", "/admin/routing/rules/new", {"name": "越权", "group_id": "{skill_group}",
                                                                           "priority": "0"})],
    "/admin/routing/rules/{rule_id}": [
        Case("GET", "/admin/routing/rules/{routing_rule}"),
        Case("POST", "/admin/routing/rules/{routing_rule}", {"name": "劫持", "priority": "0", "enabled": "1"})],
    "/admin/routing/rules/{rule_id}/move": [Case("POST", "/admin/routing/rules/{routing_rule}/move",
                                                 {"direction": "down"})],
    "/admin/routing/rules/{rule_id}/delete": [Case("POST", "/admin/routing/rules/{routing_rule}/delete", {})],
    "/admin/routing/agents/{user_id}": [Case("POST", "/admin/routing/agents/{user}", {"max_concurrent": "1"})],
}

# Agent workspace (tests/canned, tests/conversations/test_workspace_views.py): {canned} is seeded by seed_canned.
ROUTES |= {
    "/console/c/{conversation_id}/note": [Case("POST", "/console/c/{conv}/note", {"text": "越权"})],
    "/console/c/{conversation_id}/tags": [Case("POST", "/console/c/{conv}/tags", {"tags": "越权"})],
    "/console/c/{conversation_id}/transcript": [Case("GET", "/console/c/{conv}/transcript", htmx=True),
                                                Case("GET", "/console/c/{conv}/transcript")],
    "/console/canned": [Case("GET", "/console/canned")],
    "/console/canned/new": [Case("POST", "/console/canned/new", {"shortcut": "xf", "text": "越权", "shared": "1"})],
    "/console/canned/search": [Case("GET", "/console/canned/search?q=xf"), Case("GET", "/console/canned/search?q=甲"),
                               Case("GET", "/console/canned/search?q=xf&c={conv}")],
    "/console/canned/{canned_id}": [Case("GET", "/console/canned/{canned}"),
                                    Case("POST", "/console/canned/{canned}", {"shortcut": "xf", "text": "劫持",
                                                                              "shared": "1"})],
    "/console/canned/{canned_id}/delete": [Case("POST", "/console/canned/{canned}/delete", {})],
    "/console/canned/{canned_id}/use": [Case("POST", "/console/canned/{canned}/use", {})],
}

# Business hours and CSAT (tests/hours, tests/csat): org A's hours, the {skill_group}'s own hours and a rated
# conversation are seeded by seed_hours_csat.
ROUTES |= {
    "/admin/hours": [Case("GET", "/admin/hours"), Case("GET", "/admin/hours?group={skill_group}"),
                     Case("POST", "/admin/hours", {"group_id": "{skill_group}", "mon": "00:00-01:00",
                                                   "closed_message": "越权"}),
                     Case("POST", "/admin/hours", {"mon": "00:00-01:00", "closed_message": "乙"}),
                     Case("POST", "/admin/hours", {"group_id": "{skill_group}", "import_year": "2026"})],
    "/admin/csat": [Case("GET", "/admin/csat"), Case("GET", "/admin/csat?since=2000-01-01&until=2000-12-31")],
    "/admin/csat/settings": [Case("GET", "/admin/csat/settings"),
                             Case("POST", "/admin/csat/settings", {"question": "乙的问题", "scale": "2"})],
}

# Console routing (tests/routing/test_console_views.py): transfer, take-over, presence, supervisor board.
ROUTES |= {
    "/console/status": [Case("GET", "/console/status"), Case("POST", "/console/status", {"status": "away"})],
    "/console/transfer-targets": [Case("GET", "/console/transfer-targets")],
    "/console/c/{conversation_id}/transfer": [
        Case("POST", "/console/c/{conv}/transfer", {"to_user_id": "{user}", "note": "越权"})],
    "/console/c/{conversation_id}/take-over": [Case("POST", "/console/c/{conv}/take-over", {})],
    "/console/contacts/{contact_id}/routing": [
        Case("POST", "/console/contacts/{contact}/routing", {"tags": "越权", "vip": "1"})],
    "/console/supervisor": [Case("GET", "/console/supervisor")],
    "/console/supervisor/live": [Case("GET", "/console/supervisor/live", htmx=True)],
    "/admin/privacy": [Case("GET", "/admin/privacy")],
    "/admin/privacy/retention": [Case("POST", "/admin/privacy/retention", {
        "conversations_days": "30", "attachments_days": "30", "recordings_days": "30", "leads_days": "30"})],
    "/admin/privacy/contacts": [Case("GET", "/admin/privacy/contacts?contact={contact}")],
    "/admin/privacy/contacts/{contact_id}": [Case("GET", "/admin/privacy/contacts/{contact}")],
    "/admin/privacy/contacts/{contact_id}/export": [Case("POST", "/admin/privacy/contacts/{contact}/export", {})],
    "/admin/privacy/contacts/{contact_id}/erase": [
        Case("POST", "/admin/privacy/contacts/{contact}/erase", {"confirm": "{contact}"})],
}

# Connected channels (issue 12).
ROUTES |= {
    "/admin/channels": [Case("GET", "/admin/channels")],
    "/admin/channels/{inbox_id}": [Case("GET", "/admin/channels/{inbox}"),
                                   Case("POST", "/admin/channels/{inbox}", {"name": "劫持", "account": "evil"})],
    "/admin/channels/{inbox_id}/delete": [Case("POST", "/admin/channels/{inbox}/delete", {})],
}

# Campaigns and the WeChat admin pages (issue 12: QR codes, custom menu). The WeChat pages are mounted by the
# WeChat adapter's router; tests/channels/wechat_admin/test_admin_isolation.py covers them before it is merged.
ROUTES |= {
    "/admin/campaigns": [Case("GET", "/admin/campaigns"), Case("GET", "/admin/campaigns?archived=1"),
                         Case("POST", "/admin/campaigns", {"name": "越权", "scene": "evil", "inbox_id": "{wx_inbox}"})],
    "/admin/campaigns/{campaign_id}": [Case("GET", "/admin/campaigns/{campaign}"),
                                       Case("POST", "/admin/campaigns/{campaign}", {"name": "劫持"})],
    "/admin/campaigns/{campaign_id}/archive": [Case("POST", "/admin/campaigns/{campaign}/archive", {})],
    "/admin/channels/{inbox_id}/wechat/qrcodes": [
        Case("GET", "/admin/channels/{wx_inbox}/wechat/qrcodes"),
        Case("POST", "/admin/channels/{wx_inbox}/wechat/qrcodes", {"name": "越权", "scene": "evil"})],
    "/admin/channels/{inbox_id}/wechat/qrcodes/{campaign_id}/image": [
        Case("GET", "/admin/channels/{wx_inbox}/wechat/qrcodes/{campaign}/image")],
    "/admin/channels/{inbox_id}/wechat/menu": [
        Case("GET", "/admin/channels/{wx_inbox}/wechat/menu"),
        Case("POST", "/admin/channels/{wx_inbox}/wechat/menu", {"op": "save", "m1_name": "劫持", "m1_kind": "human"})],
    "/admin/channels/{inbox_id}/wechat/menu/live": [Case("GET", "/admin/channels/{wx_inbox}/wechat/menu/live")],
    "/admin/channels/{inbox_id}/wechat/menu/delete": [
        Case("POST", "/admin/channels/{wx_inbox}/wechat/menu/delete", {})],
}

# Landing-page lead forms (issue 12): org A's form with a submission, seeded by seed_lead_form.
ROUTES |= {
    "/admin/forms": [Case("GET", "/admin/forms")],
    "/admin/forms/new": [Case("GET", "/admin/forms/new"),
                         Case("POST", "/admin/forms/new", {"name": "乙的表单", "title": "乙", "field_keys": "phone"})],
    "/admin/forms/{form_id}": [Case("GET", "/admin/forms/{lead_form}"),
                               Case("POST", "/admin/forms/{lead_form}", {"name": "劫持", "title": "劫持",
                                                                        "field_keys": "phone"})],
    "/admin/forms/{form_id}/delete": [Case("POST", "/admin/forms/{lead_form}/delete", {})],
    "/admin/forms/{form_id}/submissions": [Case("GET", "/admin/forms/{lead_form}/submissions")],
}

# The 访客 panel beside the chat and the contact page with its timeline (issue 13, the console part).
ROUTES |= {
    "/console/c/{conversation_id}/visitor": [Case("GET", "/console/c/{conv}/visitor", htmx=True)],
    "/console/contacts/{contact_id}": [*ROUTES["/console/contacts/{contact_id}"],
                                       Case("GET", "/console/contacts/{contact}"),
                                       Case("GET", "/console/contacts/{contact}?limit=500")],
    "/console/contacts/{contact_id}/timeline": [Case("GET", "/console/contacts/{contact}/timeline", htmx=True)],
}

# Visitor profiles, classification and 千人千面 (issue 13): org A's rules and course page, by seed_visitor_profiles.
ROUTES |= {
    "/admin/visitors/rules": [Case("GET", "/admin/visitors/rules"),
                              Case("POST", "/admin/visitors/rules", {"tag": "越权", "conditions": "visits >= 1"})],
    "/admin/visitors/rules/{rule_id}": [
        Case("GET", "/admin/visitors/rules/{vrule}"),
        Case("POST", "/admin/visitors/rules/{vrule}", {"tag": "劫持", "conditions": "visits >= 1"})],
    "/admin/visitors/rules/{rule_id}/delete": [Case("POST", "/admin/visitors/rules/{vrule}/delete", {})],
    "/admin/visitors/courses": [Case("GET", "/admin/visitors/courses"),
                                Case("POST", "/admin/visitors/courses", {"pattern": "/evil", "course_id": "{course}"})],
    "/admin/visitors/courses/{pattern_id}/delete": [Case("POST", "/admin/visitors/courses/{vpattern}/delete", {})],
    "/admin/visitors/personal": [Case("GET", "/admin/visitors/personal"),
                                 Case("POST", "/admin/visitors/personal", {"name": "越权", "welcome": "乙"})],
    "/admin/visitors/personal/report": [Case("GET", "/admin/visitors/personal/report")],
    "/admin/visitors/personal/{rule_id}": [
        Case("GET", "/admin/visitors/personal/{vpersonal}"),
        Case("POST", "/admin/visitors/personal/{vpersonal}", {"name": "劫持", "welcome": "被改了"})],
    "/admin/visitors/personal/{rule_id}/delete": [Case("POST", "/admin/visitors/personal/{vpersonal}/delete", {})],
}

# Live visitors and invitations (issue 13). The live list and the invite act on the caller's org's registry only;
# tests/visitors/test_live_isolation.py seeds org A's live visitor and invite rule and attacks them with real ids.
ROUTES |= {
    "/console/visitors": [Case("GET", "/console/visitors")],
    "/console/visitors/list": [Case("GET", "/console/visitors/list"), Case("GET", "/console/visitors/list?v=0",
                                                                           htmx=True)],
    "/console/visitors/invite": [Case("POST", "/console/visitors/invite", {"visitor_key": "secret-visitor",
                                                                            "text": "越权邀请"})],
    "/admin/invitations": [
        Case("GET", "/admin/invitations"),
        Case("POST", "/admin/invitations", {"name": "越权", "message": "hi", "speaker": "agent:{user}"})],
    "/admin/invitations/{rule_id}": [Case("GET", "/admin/invitations/{rule}"),
                                     Case("POST", "/admin/invitations/{rule}", {"name": "劫持", "message": "x"})],
    "/admin/invitations/{rule_id}/delete": [Case("POST", "/admin/invitations/{rule}/delete", {})],
}

# The visitor trail's settings (issue 13): an org-wide page with no ids; org B's admin changes org B's only
# (tests/visitors/test_settings_views.py checks org A's row stays as it was).
ROUTES |= {
    "/admin/visitors": [Case("GET", "/admin/visitors"),
                        Case("POST", "/admin/visitors", {"trail_enabled": "", "retention_days": "7"})],
}

PUBLIC = {
    "/": "redirect only",
    "/logout": "ends the caller's own session",
    "/lang/{lang}": "sets a language cookie",
    "/healthz": "no org data",
    "/metrics": "process-wide counters, no org data",
    "/demo": "public demo page of a chosen org, like the org's own website",
    "/api/v1/widget/session": "visitor token is signed per org; tested in tests/channels (token of another org: 401)",
    "/api/v1/widget/attachments": "visitor token scoped; tested in tests/channels",
    "/api/v1/attachments/{attachment_id}/{key}": "capability URL: the random key is the secret (tests/channels)",
    "/ws/visitor": "visitor token scoped; tested in tests/channels",
    "/ws/agent": "topics scoped to the agent's org; tested in tests/channels",
    "/api/openapi.json": "schema", "/api/docs": "docs", "/docs/oauth2-redirect": "docs",
    "/static": "files",
    "/api/v1/whoami": "API token scoped: answers only about the token's own org (tests/apitokens: other org, revoked)",
    "/api/v1/leads": "API token scoped: lists only the token's org (tests/leads/test_api.py)",
    "/api/v1/leads/{lead_id}": "API token scoped: another org's lead is 404 (tests/leads/test_api.py)",
    "/api/v1/leads/{lead_id}/status": "API token scoped: another org's lead is 404 (tests/leads/test_api.py)",
    "/api/v1/reports/capture-rate": "API token scoped: the token's org only (tests/leads/test_api.py)",
}

PUBLIC |= {
    "/api/v1/reports/csat": "API token scoped: the token's org only (tests/csat/test_api.py)",
    "/api/v1/tickets": "API token scoped: lists and creates in the token's org only (tests/tickets/test_api.py)",
    "/api/v1/tickets/{ticket_id}": "API token scoped: another org's ticket is 404 (tests/tickets/test_api.py)",
    "/api/v1/tickets/{ticket_id}/comments": "API token scoped: another org's ticket is 404 (tests/tickets/test_api.py)",
    "/admin/channels/new/{kind}": "creates an account in the signed-in admin's own org; the path names an adapter "
                                  "kind, not a record (tests/inboxes/test_views.py)",
}

# 微信客服 (issue 12): WeCom's callback URL.
PUBLIC |= {
    "/channels/wecom/{public_id}": "WeCom's callback URL: the random public_id names one account, and a request must "
                                   "be signed with that account's token and encrypted with its AES key for its "
                                   "CorpID; org A's credentials at org B's URL get 403 and a notice reaches only the "
                                   "org's own accounts (tests/channels/wecom/test_callback.py)",
}

# The API channel (tests/channels/api): an org API token with channels:write; another org's inbox is 404.
PUBLIC |= {
    "/api/v1/channels/{inbox_public_id}/messages": "API token scoped: another org's inbox is the same 404 as an "
                                                   "unknown one, nothing stored (tests/channels/api/test_inbound.py)",
    "/api/v1/channels/{inbox_public_id}/conversations/{user_id:path}/messages":
        "API token scoped: another org's inbox is 404 (tests/channels/api/test_inbound.py)",
}

# Landing-page lead forms (issue 12): public pages and the submission API.
PUBLIC |= {
    "/f/{public_id}": "a form's public page: the random public id is the form's address, shows only the form's own "
                      "texts (tests/leadforms/test_public.py)",
    "/f/{public_id}.js": "a form's public script: the form's own texts and fields only (tests/leadforms)",
    "/api/v1/forms/{public_id}/submissions": "public submission into the form's own org, limited to its allowed "
                                             "origins (tests/leadforms/test_submissions.py, test_public.py)",
}


# The WeChat Official Account callback (issue 12).
PUBLIC |= {
    "/channels/wechat/{public_id}": "WeChat's callback: the random public id picks one inbox and the request must "
                                    "carry that inbox's signature; it writes only into that inbox's org "
                                    "(tests/channels/wechat/test_isolation.py)",
}

# The visitor trail's beacon (issue 13).
PUBLIC |= {
    "/api/v1/widget/beacon": "page views of the visitor the signed token names, into the org of the token only "
                             "when it is the org key's; another org's token 401, another org's origin 403 "
                             "(tests/channels/test_web_beacon.py)",
}

# The knowledge base's answer-quality report (issue 14): org-wide, no ids; org B's click enqueues org B's job and
# its page shows org B's latest report only (tests/kb/test_quality.py checks org A's report never shows there).
# The console's "答错了" takes a message id: org B owns no message, so every id is another org's or none (404).
ROUTES |= {
    "/admin/kb/quality": [Case("GET", "/admin/kb/quality"), Case("POST", "/admin/kb/quality", {})],
    "/console/messages/{message_id}/wrong-answer": [Case("POST", "/console/messages/{conv}/wrong-answer", {})],
}

# The e-mailed summary's settings (issue 15): no ids in the paths; every request reads and writes the caller's org.
ROUTES |= {
    "/admin/reports/mail": [Case("GET", "/admin/reports/mail")],
    "/admin/reports/mail/smtp": [Case("POST", "/admin/reports/mail/smtp", {
        "host": "127.0.0.1", "port": "9", "security": "none", "username": "", "password": "",
        "from_address": "b@beta.example", "from_name": "乙"})],
    "/admin/reports/mail/schedule": [Case("POST", "/admin/reports/mail/schedule", {
        "daily_recipients": "b@beta.example", "weekly_recipients": "", "send_hour": "8"})],
    "/admin/reports/mail/test": [Case("POST", "/admin/reports/mail/test", {"test_to": "b@beta.example"})],
    # The fixture here seeds no send log: org B aiming at a real row of org A (a 404) is in
    # tests/analytics/test_digest_views.py; here an id org B does not own must be a 404 and change nothing.
    "/admin/reports/mail/log/{log_id}/retry": [Case("POST", "/admin/reports/mail/log/{user}/retry", {})],
}

def app_paths(app: FastAPI) -> set[str]:
    paths = set()
    for route in app.routes:
        if isinstance(route, APIRoute | APIWebSocketRoute) or hasattr(route, "path"):
            paths.add(route.path)  # type: ignore[attr-defined]
        elif hasattr(route, "effective_route_contexts"):
            # FastAPI ≥ 0.160 keeps an included router as one lazy entry; without this the check saw no route.
            paths.update(ctx.path or ctx.original_route.path for ctx in route.effective_route_contexts())
    return paths


def test_every_route_is_classified(app: FastAPI) -> None:
    unclassified = app_paths(app) - set(ROUTES) - set(PUBLIC)
    assert not unclassified, f"decide how these routes are isolated: {sorted(unclassified)}"


def seed_org_a(database: Database, orgs: TwoOrgs) -> Targets:
    with database.session() as session:
        result = inbound_service.receive(session, InboundMessage(orgs.a.id, "web", "secret-visitor", "s1",
                                                                 text=SECRET_TEXT), agents_online=True)
        inbound_service.receive(session, InboundMessage(orgs.a.id, "web", "secret-visitor", "s2", text="转人工"),
                                agents_online=True)
        rule = bot_service.save_rule(session, Actor(orgs.a.id, label="t"), keywords="学费", reply="甲的学费答复")
        category = kb_categories.create_category(session, Actor(orgs.a.id, label="t"), name="甲的分类")
        entry = kb_service.create_entry(session, Actor(orgs.a.id, label="t"), EntryInput(
            question="甲机构的学费多少", answer="甲的学费答复", similar=["甲的相似问"], category_id=category.id))
        miss = kb_service.record_miss(session, orgs.a.id, SECRET_TEXT, "unanswered")
        endpoint, _ = webhooks_service.create_endpoint(
            session, Actor(orgs.a.id, label="t"), webhooks_service.secret_box("test-secret-" + "x" * 20),
            UrlPolicy(allow_private=True), webhooks_service.EndpointInput("http://127.0.0.1:9/甲", ["lead.created"],
                                                                          "甲的推送"))
        webhooks_service.emit(session, orgs.a.id, "lead.created", "lead:1", {"note": SECRET_TEXT})
        delivery = session.scalars(select(WebhookDelivery).where(WebhookDelivery.org_id == orgs.a.id)).one()
        token, _ = apitokens_service.create_token(session, Actor(orgs.a.id, label="t"), name="甲的令牌",
                                                  scopes=["leads:read"])
        flow = scripts.save_flow(session, Actor(orgs.a.id, label="t"),
                                 json.dumps({**K12_FLOW, "name": "甲的学费答复流程"}, ensure_ascii=False))
        lead = session.scalars(select(Lead).where(Lead.org_id == orgs.a.id)).one()
        course = catalog_service.add_course(session, Actor(orgs.a.id, label="t"), name="甲的学费答复课", subject="数学")
        campus = catalog_service.add_campus(session, Actor(orgs.a.id, label="t"), name="甲的校区")
        trial = trials_service.create_session(session, Actor(orgs.a.id, label="t"), trials_service.SessionInput(
            course_id=course.id, campus_id=campus.id, starts_at=utcnow() + dt.timedelta(days=3), capacity=5,
            note=SECRET_TEXT))
        booking = trials_service.book(session, orgs.a.id, trial.id, lead.id)
        field = lead_fields.create_field(session, Actor(orgs.a.id, label="t"), lead_fields.FieldInput(
            label="甲的学费答复字段", key="secret_field", type="single", options="甲的学费答复选项"))
        session.commit()
        assert miss is not None
        return Targets(result.conversation.id, result.conversation.contact_id, rule.id, orgs.a.users["agent"].id,
                       entry.id, category.id, miss.id, endpoint.id, delivery.id, token.id, lead.id, flow.id,
                       trial.id, booking.id, course.id, campus.id, field.id)


def seed_tickets(database: Database, orgs: TwoOrgs, targets: Targets) -> dict[str, int]:
    """Org A's ticket (with a note), a shared saved view, an SLA policy and a ticket field."""
    actor = Actor(orgs.a.id, label="t")
    with database.session() as session:
        ticket = tickets_service.create_ticket(
            session, org_id=orgs.a.id, source=TicketSource.off_hours, subject="甲的学费答复工单", contact_id=None,
            conversation_id=targets.conv, description=SECRET_TEXT)
        tickets_service.add_note(session, tickets_service.Editor.system(actor), ticket.id, "@admin 甲的学费答复备注")
        view = tickets_search.save_view(session, tickets_service.Editor.system(actor), "甲的学费答复视图",
                                        {"q": "甲"}, shared=True)
        policy = tickets_config.save_policy(session, actor, tickets_config.PolicyInput(
            name="甲的学费答复策略", first_response_minutes=30, resolution_minutes=60))
        field = tickets_config.save_field(session, actor, tickets_config.FieldInput(key="secret",
                                                                                    label="甲的学费答复字段"))
        session.commit()
        return {"ticket": ticket.id, "ticket_view": view.id, "sla_policy": policy.id, "ticket_field": field.id}


def seed_routing(database: Database, orgs: TwoOrgs, targets: Targets) -> dict[str, int]:
    """Org A's skill group (with the agent as a member), a routing rule after another, and the agent's capacity."""
    actor = Actor(orgs.a.id, label="t")
    with database.session() as session:
        group = routing_service.create_group(session, actor, "甲的学费答复组", description=SECRET_TEXT)
        routing_service.add_member(session, actor, group.id, targets.user, 3)
        routing_service.save_rule(session, actor, name="甲的学费答复首条规则", conditions={"vip": True},
                                  group_id=group.id, priority=10, senior_first=True)
        rule = routing_service.save_rule(session, actor, name="甲的学费答复规则", conditions={"channel": "web"},
                                         group_id=group.id, priority=0, senior_first=False)
        session.add(AgentState(org_id=orgs.a.id, user_id=targets.user, max_concurrent=4))
        session.commit()
        return {"skill_group": group.id, "routing_rule": rule.id}


def seed_hours_csat(database: Database, orgs: TwoOrgs, targets: Targets, group_id: int) -> None:
    """Org A's hours, its skill group's own hours, its survey question and a low rating with a secret comment."""
    actor = Actor(orgs.a.id, label="t")
    spec = {"weekly": {"mon": [["08:30", "21:00"]]}}
    with database.session() as session:
        hours_service.save(session, actor, group_id=None, spec=spec, enabled=True, closed_message=SECRET_TEXT)
        hours_service.save(session, actor, group_id=group_id, spec=spec, enabled=True,
                           closed_message="甲的学费答复下班提示")
        csat_service.save_settings(session, actor, question="甲的学费答复满意吗？", scale=3)
        session.add(Conversation(org_id=orgs.a.id, contact_id=targets.contact, channel="web", state="closed",
                                 assignee_id=targets.user, group_id=group_id, resolved_at=utcnow(),
                                 closed_at=utcnow(), csat_score=1, csat_scale=3, csat_comment=SECRET_TEXT))
        session.commit()


def seed_inbox(database: Database, orgs: TwoOrgs) -> dict[str, int]:
    """Org A's connected channel account, with a secret."""
    with database.session() as session:
        inbox = inboxes_service.create(session, Actor(orgs.a.id, label="t"), FakeChannel,
                                       inboxes_service.secret_box("test-secret-" + "x" * 20),
                                       name="甲的学费答复渠道", data={"account": "甲的学费答复账号", "api_key": "k"})
        session.commit()
        return {"inbox": inbox.id}


def seed_campaigns(database: Database, orgs: TwoOrgs) -> dict[str, int]:
    """Org A's WeChat account (a bare row: no adapter needed to own one) with a published menu, its QR code with a
    scan counted, and the secret scene."""
    with database.session() as session:
        inbox = Inbox(org_id=orgs.a.id, kind="wechat", name="甲的学费答复公众号", public_id="wx-isolation-a",
                      settings={}, secrets_encrypted="", enabled=True,
                      state={"wechat_menu": {"published": [{"key": "m1", "name": "甲的学费答复", "kind": "human"}]}})
        session.add(inbox)
        session.flush()
        campaign = campaigns_service.create(session, Actor(orgs.a.id, label="t"), name="甲的学费答复海报",
                                            scene="secret_scene", kind="qr", inbox_id=inbox.id, channel="wechat",
                                            provider={"ticket": "甲的学费答复ticket", "url": "http://weixin.qq.com/q/x"})
        campaigns_service.record_touch(session, orgs.a.id, inbox.id, "secret_scene", new_contact=True)
        session.commit()
        return {"campaign": campaign.id, "wx_inbox": inbox.id}


def seed_canned(database: Database, orgs: TwoOrgs) -> dict[str, int]:
    """Org A's shared canned reply /xf."""
    with database.session() as session:
        canned = canned_service.create(session, orgs.a.users["supervisor"], CannedInput(
            shortcut="xf", title="甲的学费答复", text=f"甲的学费答复 {SECRET_TEXT}", shared=True))
        session.commit()
        return {"canned": canned.id}


def seed_lead_form(database: Database, orgs: TwoOrgs) -> dict[str, int]:
    """Org A's lead form with a submission whose values hold the secret."""
    with database.session() as session:
        form = leadforms_service.create_form(session, Actor(orgs.a.id, label="t"), leadforms_service.FormInput(
            name="甲的学费答复表单", title="甲的学费答复", fields=[leadforms_service.FieldChoice("name", True)]))
        session.flush()
        session.add(LeadFormSubmission(org_id=orgs.a.id, form_id=form.id, idempotency_key="k" * 16,
                                       phone_e164="+8613912345678", values={"name": SECRET_TEXT}))
        session.add(LeadFormView(org_id=orgs.a.id, form_id=form.id, day=dt.date(2026, 1, 1), views=3))
        session.commit()
        return {"lead_form": form.id}


def seed_visitor_profiles(database: Database, orgs: TwoOrgs, course_id: int) -> dict[str, int]:
    """Org A's classification rule, course page and 千人千面 rule, named with the secret."""
    actor = Actor(orgs.a.id, label="t")
    with database.session() as session:
        rule = visitors_service.save_rule(session, actor, None, tag="甲的学费答复标签", conditions="visits >= 2",
                                          points=5, label="甲的学费答复", enabled=True)
        pattern = visitors_service.add_pattern(session, actor, pattern="/secret-course", course_id=course_id,
                                               course_name="")
        personal = visitors_service.save_personal_rule(session, actor, None, visitors_service.PersonalInput(
            name="甲的学费答复千人千面", welcome=SECRET_TEXT))
        session.commit()
        return {"vrule": rule.id, "vpattern": pattern.id, "vpersonal": personal.id}


def seed_voice_campaigns(database: Database, orgs: TwoOrgs) -> dict[str, int]:
    """Org A's voice line and a running call campaign whose target is the secret number."""
    with database.session() as session:
        line = VoiceLine(org_id=orgs.a.id, name="甲的学费答复线路", kind=LineKind.websocket,
                         caller_numbers=["+861085550001"])
        session.add(line)
        session.flush()
        campaign = CallCampaign(org_id=orgs.a.id, name="甲的学费答复外呼", line_id=line.id,
                                state=CampaignState.running, windows={"mon": [["09:00", "12:00"]]})
        session.add(campaign)
        session.flush()
        session.add(CallTarget(org_id=orgs.a.id, campaign_id=campaign.id, phone_e164="+8613912345678"))
        session.commit()
        return {"voice_line": line.id, "voice_campaign": campaign.id}


def fingerprint(database: Database, org_id: int) -> str:
    """A digest of everything of org A that an attack could change."""
    h = hashlib.sha256()
    with database.session() as session:
        for model in (Conversation, Message, Contact, KeywordRule, KbEntry, KbSimilarQuestion, KbCategory, KbMiss,
                      WebhookEndpoint, WebhookEvent, WebhookDelivery, ApiToken, Lead, LeadValue, BotFlow, LeadGrading,
                      LeadNote, TrialSession, TrialBooking, LeadFieldDef, Ticket, TicketComment, TicketView,
                      SlaPolicy, TicketFieldDef,
                      SkillGroup, SkillGroupMember, RoutingRule, AgentState, CannedReply, BusinessHoursRecord,
                      RetentionPolicy, Inbox, Campaign, CampaignDay,
                      LeadForm, LeadFormSubmission, LeadFormView,
                      ClassifyRule, CoursePattern, PersonalRule, CallCampaign, CallTarget,
                      VoiceLine, VoiceSettings, DoNotCall, Call, CallTurn, CallAlertRule):
            for row in session.scalars(select(model).where(model.org_id == org_id).order_by(model.id)):
                h.update(repr(sorted((k, str(v)) for k, v in vars(row).items() if not k.startswith("_"))).encode())
        for user in session.scalars(select(User).where(User.org_id == org_id).order_by(User.id)):
            h.update(f"{user.id}{user.password_hash}{user.role}{user.is_active}{user.session_epoch}".encode())
        for settings in session.scalars(select(bot_service.BotSettings).where(
                bot_service.BotSettings.org_id == org_id)):
            h.update(f"{settings.welcome_text}{settings.handoff_keywords}".encode())
        org = session.get(Org, org_id)
        assert org is not None
        h.update(f"{org.csat_question}{org.csat_scale}{org.bot_version}{org.widget_origins}".encode())
    return h.hexdigest()


# Quality inspection (issue 15, qc/): pages keyed by conversation id answer 404 for another org's conversation;
# the lists, reports, rule editor and sampling act on the caller's org only (tests/qc/test_isolation.py).
ROUTES |= {
    "/admin/qc": [Case("GET", "/admin/qc"), Case("GET", "/admin/qc?agent_id={user}")],
    "/admin/qc/reinspect": [Case("POST", "/admin/qc/reinspect", {"since": "2026-01-01", "until": "2026-12-31"})],
    "/admin/qc/c/{conversation_id}": [Case("GET", "/admin/qc/c/{conv}")],
    "/admin/qc/c/{conversation_id}/reinspect": [Case("POST", "/admin/qc/c/{conv}/reinspect", {})],
    "/admin/qc/c/{conversation_id}/review": [Case("POST", "/admin/qc/c/{conv}/review",
                                                  {"score": "0", "comment": "越权复核"})],
    "/admin/qc/c/{conversation_id}/decide": [Case("POST", "/admin/qc/c/{conv}/decide",
                                                  {"outcome": "overturn", "decision_score": "0",
                                                   "decision_comment": "越权改判"})],
    "/admin/qc/rules": [Case("GET", "/admin/qc/rules"),
                        Case("POST", "/admin/qc/rules", {"action": "reset"})],
    "/admin/qc/sampling": [Case("POST", "/admin/qc/sampling", {"random_percent": "100", "below_score": "101"})],
    "/admin/qc/reviews": [Case("GET", "/admin/qc/reviews"), Case("GET", "/admin/qc/reviews?state=pending")],
    "/admin/qc/reviews/sample": [Case("POST", "/admin/qc/reviews/sample", {"day": "2026-12-01"})],
    "/admin/qc/reports": [Case("GET", "/admin/qc/reports"), Case("GET", "/admin/qc/reports?by=group")],
    "/admin/qc/reports.csv": [Case("GET", "/admin/qc/reports.csv")],
    "/console/qc": [Case("GET", "/console/qc")],
    "/console/qc/{conversation_id}": [Case("GET", "/console/qc/{conv}")],
    "/console/qc/{conversation_id}/appeal": [Case("POST", "/console/qc/{conv}/appeal", {"reason": "越权申诉"})],
}


# Management dashboards (issue 15): org A's campaign, skill group and agent as filters are "not in the list" (400)
# for org B; the numbers are asked for the caller's org only (tests/analytics/test_views.py, per org markers).
ROUTES |= {
    "/admin/dashboards": [Case("GET", "/admin/dashboards")],
    **{f"/admin/dashboards/{key}": [Case("GET", f"/admin/dashboards/{key}?campaign_id={{campaign}}"),
                                    Case("GET", f"/admin/dashboards/{key}?group_id={{skill_group}}&agent_id={{user}}")]
       for key in ("people", "data", "process", "outcome")},
    **{f"/admin/dashboards/{key}/export": [
        Case("GET", f"/admin/dashboards/{key}/export?panel=x&format=csv&campaign_id={{campaign}}")]
       for key in ("people", "data", "process", "outcome")},
    "/admin/dashboards/drill": [Case("GET", "/admin/dashboards/drill?kind=conversations&agent_id={user}"),
                                Case("GET", "/admin/dashboards/drill?kind=leads&campaign_id={campaign}")],
    "/admin/dashboards/drill/export": [
        Case("GET", "/admin/dashboards/drill/export?kind=conversations&format=csv&group_id={skill_group}")],
    "/admin/dashboards/live": [Case("GET", "/admin/dashboards/live")],
    "/admin/dashboards/live/board": [Case("GET", "/admin/dashboards/live/board", htmx=True)],
}


# Voice admin (issue 16, tests/voice/admin): org A's line, call (with its recording) and do-not-call number are
# 404 for org B; the lists, settings, metrics and imports act on the caller's org only (seed_voice_admin).
ROUTES |= {
    "/admin/voice": [Case("GET", "/admin/voice")],
    "/admin/voice/metrics": [Case("GET", "/admin/voice/metrics?campaign_id={voice_campaign}")],
    "/admin/voice/settings": [Case("GET", "/admin/voice/settings"),
                              Case("POST", "/admin/voice/settings", {"recording_retention_days": "0",
                                                                     "robot_notice": "越权"})],
    "/admin/voice/lines": [Case("GET", "/admin/voice/lines")],
    "/admin/voice/lines/new": [Case("GET", "/admin/voice/lines/new?kind=audiosocket"),
                               Case("POST", "/admin/voice/lines/new", {
                                   "kind": "audiosocket", "name": "甲的线路", "max_concurrent": "1",
                                   "ami_host": "10.0.0.1", "ami_username": "b", "allowed_hosts": "10.0.0.1"})],
    "/admin/voice/lines/{line_id}": [Case("GET", "/admin/voice/lines/{voice_admin_line}"),
                                     Case("POST", "/admin/voice/lines/{voice_admin_line}", {
                                         "name": "劫持", "max_concurrent": "1", "ami_host": "10.6.6.6",
                                         "ami_username": "b", "allowed_hosts": "10.6.6.6"})],
    "/admin/voice/lines/{line_id}/delete": [Case("POST", "/admin/voice/lines/{voice_admin_line}/delete", {})],
    "/admin/voice/dnc": [Case("GET", "/admin/voice/dnc?phone=139"),
                         Case("POST", "/admin/voice/dnc", {"phone": "13912345678", "reason": "越权"})],
    "/admin/voice/dnc/import": [Case("POST", "/admin/voice/dnc/import", {})],
    "/admin/voice/dnc/export": [Case("GET", "/admin/voice/dnc/export?format=csv")],
    "/admin/voice/dnc/remove": [Case("POST", "/admin/voice/dnc/remove", {"phone": "{voice_dnc_phone}"})],
    "/admin/voice/calls": [Case("GET", "/admin/voice/calls?campaign_id={voice_campaign}&phone=139")],
    "/admin/voice/calls/{call_id}": [Case("GET", "/admin/voice/calls/{voice_call}")],
    "/admin/voice/calls/{call_id}/recording": [Case("GET", "/admin/voice/calls/{voice_call}/recording")],
    "/admin/voice/calls/{call_id}/recording/delete": [
        Case("POST", "/admin/voice/calls/{voice_call}/recording/delete", {})],
}
PUBLIC |= {
    "/api/v1/voice/dnc": "API token scoped: lists and adds in the token's org only (tests/voice/admin/test_api.py)",
    "/api/v1/voice/dnc/{phone}": "API token scoped: another org's number is 404 (tests/voice/admin/test_api.py)",
    "/api/v1/voice/metrics": "API token scoped: the token's org only (tests/voice/admin/test_api.py)",
}


def seed_voice_admin(database: Database, orgs: TwoOrgs, settings: Settings) -> dict[str, Any]:
    with database.session() as session:
        actor = Actor(orgs.a.id, label="t")
        line = voice_lines.create_line(session, actor, voice_lines.secret_box(settings.secret_key),
                                       name="甲的学费答复外呼线路", kind="audiosocket", caller_numbers="13912345678",
                                       max_concurrent=2, enabled=True,
                                       data={"ami_host": "10.0.0.9", "ami_username": "a", "ami_secret": "甲的AMI密码",
                                             "allowed_hosts": ["10.0.0.9"]})
        voice_dnc.add(session, actor, "13912345670", reason="甲的学费答复")
        call = voice_service.place_call(session, voice_service.CallRequest(
            org_id=orgs.a.id, phone_e164="+8613912345678", line_id=line.id, campaign_id=4242))
        voice_service.set_state(session, call, CallState.in_progress)
        voice_service.add_turn(session, call, Speaker.customer, SECRET_TEXT, start_ms=0, end_ms=10)
        voice_service.end_call(session, call, CallState.completed, outcome=CallOutcome.interested)
        voice_recordings.save_recording(settings, call, b"RIFF\x24\x00\x00\x00WAVEfmt ")
        session.commit()
        return {"voice_admin_line": line.id, "voice_call": call.id, "voice_dnc_phone": "+8613912345670"}


# Voice call campaigns (issue 16, voice/campaigns): org A's campaign answers 404 to org B on every page and action;
# org A's line, skill group or user in org B's new-campaign form is 404; the list and the live count are org B's own.
ROUTES |= {
    "/admin/voice/campaigns": [Case("GET", "/admin/voice/campaigns"),
                               Case("POST", "/admin/voice/campaigns", {"name": "越权任务", "line_id": "{voice_line}",
                                                                       "windows": "mon 09:00-12:00"}),
                               Case("POST", "/admin/voice/campaigns", {"name": "越权任务", "line_id": "{voice_line}",
                                                                       "windows": "mon 09:00-12:00",
                                                                       "handoff_group_id": "{skill_group}"})],
    "/admin/voice/campaigns/new": [Case("GET", "/admin/voice/campaigns/new")],
    "/admin/voice/campaigns/count": [Case("GET", "/admin/voice/campaigns/count?grade=三年级"),
                                     Case("GET", "/admin/voice/campaigns/count", htmx=True)],
    "/admin/voice/campaigns/{campaign_id}": [Case("GET", "/admin/voice/campaigns/{voice_campaign}"),
                                             Case("GET", "/admin/voice/campaigns/{voice_campaign}?state=pending")],
    "/admin/voice/campaigns/{campaign_id}/{action}": [
        Case("POST", f"/admin/voice/campaigns/{{voice_campaign}}/{action}", {})
        for action in ("start", "pause", "resume", "cancel")],
}


# Telesales assist (issue 16, voice/assist): a call id or alert rule id of org A answers 404 for org B (the call
# pages, wrap-up, take-over, the rule editor); the lists and the new rule act on the caller's org only
# (tests/voice/assist/test_console.py checks the same per role; the call sockets are in PUBLIC above).
ROUTES |= {
    "/console/calls": [Case("GET", "/console/calls")],
    "/console/calls/panel": [Case("GET", "/console/calls/panel")],
    "/console/calls/{call_id}": [Case("GET", "/console/calls/{call}")],
    "/console/calls/{call_id}/wrap-up": [Case("POST", "/console/calls/{call}/wrap-up",
                                              {"outcome": "refused", "note": "越权小结"})],
    "/voice/calls/{call_id}/takeover": [Case("POST", "/voice/calls/{call}/takeover", {})],
    "/admin/voice/alerts": [Case("GET", "/admin/voice/alerts"),
                            Case("POST", "/admin/voice/alerts", {"name": "越权", "words": "退费", "side": "customer",
                                                                 "severity": "info"})],
    "/admin/voice/alerts/{rule_id}": [Case("POST", "/admin/voice/alerts/{alert_rule}",
                                           {"name": "劫持", "words": "x", "side": "agent", "severity": "info"})],
    "/admin/voice/alerts/{rule_id}/delete": [Case("POST", "/admin/voice/alerts/{alert_rule}/delete", {})],
}
PUBLIC |= {
    "/ws/call/{call_id}": "the call's topic only after the call is found in the user's org and role "
                          "(4404 otherwise; tests/voice/assist/test_console.py)",
    "/voice/calls/{call_id}/monitor": "supervisors of the call's org only, the call looked up in the user's org "
                                      "(4403 / 4404; tests/voice/assist/test_console.py)",
    "/voice/calls/{call_id}/agent": "the call's own agent only, looked up in the user's org "
                                    "(4403 / 4404; tests/voice/assist/test_console.py)",
}


def seed_voice_assist(database: Database, orgs: TwoOrgs) -> dict[str, int]:
    """Org A's ended agent call with the secret said in it, and one of its alert rules."""
    with database.session() as session:
        call = voice_service.place_call(session, voice_service.CallRequest(
            org_id=orgs.a.id, phone_e164="+8613912345678", line_id=None, mode=CallMode.agent,
            agent_id=orgs.a.users["agent"].id))
        voice_service.add_turn(session, call, Speaker.customer, SECRET_TEXT, start_ms=0, end_ms=1)
        voice_service.end_call(session, call, CallState.completed, outcome=None)
        rule = voice_alerts.create_rule(session, Actor(orgs.a.id, label="t"), voice_alerts.RuleInput(
            name="甲的提醒", words="甲的学费答复", side="customer", severity="info", suggestion="甲的学费答复"))
        session.commit()
        return {"call": call.id, "alert_rule": rule.id}


# Voice media plane and telephony (issue 16): the carrier's media stream names its call by the call's unguessable
# public id, and only a call this process is dialling is accepted (tests/voice/telephony/test_media_websocket.py).
PUBLIC["/voice/media"] = "capability token of a call this process is dialling; tests/voice/telephony"


# Large-model assist, core (issue 18: llm-core): org A's document ids answer 404 to org B; the settings page, the
# connection test and the grounded switch act on the caller's org only (tests/llm/test_views.py).
ROUTES |= {
    "/admin/llm": [Case("GET", "/admin/llm"), Case("POST", "/admin/llm", {"base_url": "", "model": ""})],
    "/admin/llm/test": [Case("POST", "/admin/llm/test", {})],
    "/admin/llm/grounded": [Case("POST", "/admin/llm/grounded", {"on": "1"})],
    "/admin/llm/documents": [Case("GET", "/admin/llm/documents"),
                             Case("POST", "/admin/llm/documents", {"document_id": "{llm_document}"})],
    "/admin/llm/documents/url": [Case("POST", "/admin/llm/documents/url", {"document_id": "{llm_document}"})],
    "/admin/llm/documents/{document_id}": [Case("GET", "/admin/llm/documents/{llm_document}"),
                                           Case("GET", "/admin/llm/documents/{llm_document}?version=1")],
    "/admin/llm/documents/{document_id}/validity": [
        Case("POST", "/admin/llm/documents/{llm_document}/validity", {"valid_from": "2026-01-01"})],
    "/admin/llm/documents/{document_id}/delete": [Case("POST", "/admin/llm/documents/{llm_document}/delete", {})],
}


def seed_llm(database: Database, orgs: TwoOrgs) -> dict[str, int]:
    """A document of org A (issue 18, llm-core)."""
    with database.session() as session:
        version = llm_documents_service.add_file(session, Actor(orgs.a.id, label="t"), filename="甲的资料.md",
                                                 data="# 甲的学费答复\n甲的学费答复正文。".encode())
        session.commit()
        return {"llm_document": version.document_id}


# Large-model assist (issue 18, items 4–6, llm/assist): the suggestion, the similar questions and the draft take
# org A's conversation, entry and miss ids (404); the evaluation page reads and runs the caller's org only.
ROUTES |= {
    "/console/c/{conversation_id}/suggest": [Case("POST", "/console/c/{conv}/suggest", {}, htmx=True)],
    "/admin/kb/misses/draft": [Case("POST", "/admin/kb/misses/draft", {"miss_ids": "{miss}"})],
    "/admin/kb/{entry_id}/similar/generate": [Case("POST", "/admin/kb/{entry}/similar/generate", {})],
    "/admin/kb/{entry_id}/similar/accept": [Case("POST", "/admin/kb/{entry}/similar/accept",
                                                 {"candidate": "越权问法", "accepted": "越权问法"})],
    "/admin/llm/evaluation": [Case("GET", "/admin/llm/evaluation"), Case("POST", "/admin/llm/evaluation", {})],
}


CASES = [(path, case) for path, cases in ROUTES.items() for case in cases]


@dataclass
class World:
    """Org A's records of every kind and org B's admin signed in, seeded once per backend for all the cases: the
    seeding was 1.2 s of each of 626 cases (7.5 minutes of the suite on two cores). Sharing it is sound because a
    case either changes nothing of org A (checked by each case's own fingerprint) or fails; what org B changes of
    its own does not reach org A's rows, and a case whose session was lost or rate-limited fails rather than pass
    on a login page."""

    client: TestClient
    database: Database
    orgs: TwoOrgs
    fill: dict[str, Any]
    csrf: str


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))
    database = Database(url)
    clean(database)
    orgs = TwoOrgs(make_org(database, "alpha", "阿尔法教育"), make_org(database, "beta", "贝塔培训"))
    settings = Settings(database_url=url, secret_key="test-secret-" + "x" * 20,
                        data_dir=tmp_path_factory.mktemp("isolation"), run_jobs_in_process=False,
                        redis_namespace=f"edudesk-test-{uuid.uuid4().hex[:8]}")
    with TestClient(create_app(settings)) as client:
        targets = seed_org_a(database, orgs)
        fill: dict[str, Any] = {"conv": targets.conv, "contact": targets.contact, "rule": targets.rule,
                                "user": targets.user, "entry": targets.entry, "category": targets.category,
                                "miss": targets.miss, "endpoint": targets.endpoint, "delivery": targets.delivery,
                                "token": targets.token, "lead": targets.lead, "flow": targets.flow,
                                "trial": targets.trial, "booking": targets.booking, "course": targets.course,
                                "campus": targets.campus, "field": targets.field}
        fill.update(seed_tickets(database, orgs, targets))
        routing_targets = seed_routing(database, orgs, targets)
        fill.update(routing_targets)
        fill.update(seed_canned(database, orgs))
        fill.update(seed_inbox(database, orgs))
        fill.update(seed_campaigns(database, orgs))
        fill.update(seed_lead_form(database, orgs))
        fill.update(seed_voice_assist(database, orgs))
        fill.update(seed_visitor_profiles(database, orgs, targets.course))
        fill.update(seed_voice_campaigns(database, orgs))
        fill.update(seed_llm(database, orgs))
        seed_hours_csat(database, orgs, targets, routing_targets["skill_group"])
        fill.update(seed_voice_admin(database, orgs, settings))
        csrf = login(client, "beta", "admin")
        yield World(client, database, orgs, fill, csrf)
    database.dispose()  # the next test's ``database`` fixture empties the tables, as after any test


@pytest.mark.parametrize(("route", "case"), CASES, ids=[f"{c.method} {c.path}" for _, c in CASES])
def test_org_b_cannot_reach_org_a(world: World, route: str, case: Case) -> None:
    client, database, orgs, fill = world.client, world.database, world.orgs, world.fill
    before = fingerprint(database, orgs.a.id)
    url = case.path.format(**fill)
    headers = {"hx-request": "true"} if case.htmx else {}
    if case.method == "GET":
        resp = client.get(url, headers=headers, follow_redirects=True)
    else:
        form = {k: v.format(**fill) for k, v in (case.form or {}).items()}
        resp = client.post(url, data={**form, "csrf_token": world.csrf}, headers=headers, follow_redirects=True)
    assert resp.url.path != "/login", f"{case.method} {url}: org B's admin was signed out"
    assert resp.status_code != 429, f"{case.method} {url}: rate-limited, nothing was tested"
    path_has_id = "{" in route
    if path_has_id or (case.form and any("{" in v for v in case.form.values())):
        assert resp.status_code == 404, f"{case.method} {url} answered {resp.status_code}"
    assert SECRET_TEXT not in resp.text and "甲的学费答复" not in resp.text and "secret-visitor" not in resp.text
    assert "secret_scene" not in resp.text
    assert fingerprint(database, orgs.a.id) == before
