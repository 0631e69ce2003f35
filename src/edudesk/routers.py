"""Every area's routes, in the order the app mounts them after the channels' own (app.create_app).

A list of its own so the application factory stays about building the app (settings, database, hub, middleware,
lifespan) rather than about naming forty routers; an area with routes adds them here.
"""

from __future__ import annotations

from fastapi import APIRouter

from edudesk.analytics import digest_views as analytics_digest_views
from edudesk.analytics import views as analytics_views
from edudesk.apitokens import api as apitokens_api
from edudesk.apitokens import views as apitokens_views
from edudesk.auth import admin_views as auth_admin_views
from edudesk.auth import views as auth_views
from edudesk.bot import flow_views as bot_flow_views
from edudesk.bot import views as bot_views
from edudesk.campaigns import views as campaigns_views
from edudesk.canned import views as canned_views
from edudesk.conversations import views as conversation_views
from edudesk.csat import api as csat_api
from edudesk.csat import views as csat_views
from edudesk.hours import views as hours_views
from edudesk.inboxes import views as inboxes_views
from edudesk.kb import flag_views as kb_flag_views
from edudesk.kb import views as kb_views
from edudesk.leadforms import public as leadforms_public
from edudesk.leadforms import views as leadforms_views
from edudesk.leads import api as leads_api
from edudesk.leads import views as leads_views
from edudesk.llm import setup as llm_setup
from edudesk.llm.assist import wiring as llm_assist
from edudesk.privacy import views as privacy_views
from edudesk.qc import console_views as qc_console_views
from edudesk.qc import review_views as qc_review_views
from edudesk.qc import rule_views as qc_rule_views
from edudesk.qc import views as qc_views
from edudesk.routing import admin_views as routing_admin_views
from edudesk.routing import console_views as routing_console_views
from edudesk.tickets import admin_views as tickets_admin_views
from edudesk.tickets import api as tickets_api
from edudesk.tickets import views as tickets_views
from edudesk.trials import views as trials_views
from edudesk.visitors import console_views as visitors_console_views
from edudesk.visitors import live_views as visitors_live_views
from edudesk.visitors import settings_views as visitors_settings_views
from edudesk.visitors import views as visitors_views
from edudesk.voice import admin_wiring as voice_admin_wiring
from edudesk.voice.assist import sockets as voice_assist_sockets
from edudesk.voice.assist import views as voice_assist_views
from edudesk.voice.campaigns import views as voice_campaign_views
from edudesk.voice.telephony import websocket as voice_media_ws
from edudesk.webhooks import views as webhooks_views


def area_routers() -> tuple[APIRouter, ...]:
    return (
        auth_views.router, auth_admin_views.router, bot_flow_views.router, bot_views.router,
        conversation_views.router, conversation_views.ws_router, kb_views.router, leads_views.router,
        webhooks_views.router, apitokens_views.router, apitokens_api.router, leads_api.router,
        tickets_views.router, tickets_admin_views.router, tickets_api.router,
        trials_views.router, leads_views.fields_router,
        canned_views.router,
        hours_views.router, csat_views.router, csat_api.router,
        routing_console_views.router,
        routing_admin_views.router,
        privacy_views.router,
        inboxes_views.router,
        campaigns_views.router,
        leadforms_views.router, leadforms_public.router,
        visitors_console_views.router,
        visitors_views.router, visitors_live_views.router, visitors_settings_views.router,
        kb_flag_views.router,
        analytics_digest_views.router,
        qc_rule_views.router, qc_review_views.router, qc_views.router, qc_console_views.router,
        voice_media_ws.router,
        voice_campaign_views.router,
        voice_assist_views.router, voice_assist_sockets.router,
        *analytics_views.ROUTERS, *voice_admin_wiring.ROUTERS, *llm_setup.ROUTERS, *llm_assist.ROUTERS,
    )
