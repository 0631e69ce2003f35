"""What the app factory installs for the assist, in one call (keeps app.py short): the resolve hook that enqueues
the 服务小结, the jobs, the template global that shows the assist buttons, and the routes."""

from __future__ import annotations

from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from edudesk import jobs
from edudesk.llm.assist import gate, summary, views
from edudesk.llm.client import LlmClient

ROUTERS = (views.router, gate.router)


def install(
    factory: sessionmaker[Session], registry: jobs.JobRegistry, templates: Jinja2Templates, llm: LlmClient | None
) -> None:
    summary.attach(factory)
    summary.register_jobs(registry, llm)
    gate.register_jobs(registry, llm)
    templates.env.globals["llm_assist"] = views.enabled_for
