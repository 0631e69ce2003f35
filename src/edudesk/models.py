"""Imports every area's models so that ``Base.metadata`` is complete for Alembic and the test schema."""

from edudesk.analytics import digest_models as analytics_digest_models
from edudesk.analytics import models as analytics_models
from edudesk.apitokens import models as apitokens_models
from edudesk.audit import models as audit_models
from edudesk.auth import models as auth_models
from edudesk.bot import models as bot_models
from edudesk.campaigns import models as campaigns_models
from edudesk.canned import models as canned_models
from edudesk.catalog import models as catalog_models
from edudesk.contacts import models as contacts_models
from edudesk.conversations import models as conversations_models
from edudesk.db import Base
from edudesk.hours import models as hours_models
from edudesk.inboxes import models as inboxes_models
from edudesk.jobs import Job
from edudesk.kb import models as kb_models
from edudesk.leadforms import models as leadforms_models
from edudesk.leads import models as leads_models
from edudesk.orgs import models as orgs_models
from edudesk.privacy import models as privacy_models
from edudesk.qc import models as qc_models
from edudesk.routing import models as routing_models
from edudesk.tickets import models as tickets_models
from edudesk.trials import models as trials_models
from edudesk.visitors import invitation_models as visitors_invitation_models
from edudesk.visitors import models as visitors_models
from edudesk.visitors import profile_models as visitors_profile_models
from edudesk.voice import models as voice_models
from edudesk.voice.assist import models as voice_assist_models
from edudesk.voice.campaigns import models as voice_campaigns_models
from edudesk.webhooks import models as webhooks_models

__all__ = [
    "Base",
    "Job",
    "analytics_digest_models",
    "analytics_models",
    "apitokens_models",
    "audit_models",
    "auth_models",
    "bot_models",
    "campaigns_models",
    "canned_models",
    "catalog_models",
    "contacts_models",
    "conversations_models",
    "hours_models",
    "inboxes_models",
    "kb_models",
    "leadforms_models",
    "leads_models",
    "orgs_models",
    "privacy_models",
    "qc_models",
    "routing_models",
    "tickets_models",
    "trials_models",
    "visitors_invitation_models",
    "visitors_models",
    "visitors_profile_models",
    "voice_assist_models",
    "voice_campaigns_models",
    "voice_models",
    "webhooks_models",
]
